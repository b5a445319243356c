"""Why tensorflow-datasets could not load a dataset, in one paragraph naming the cause."""

import pytest


def _raised(error, cause):
    """`error` raised from `cause`, as tfds chains them."""
    try:
        try:
            raise cause
        except Exception as e:
            raise error from e
    except Exception as e:
        return e


@pytest.mark.parametrize(
    "error, says",
    [
        (_raised(RuntimeError("x"), ModuleNotFoundError("No module", name="importlib_resources")), "the module "),
        (_raised(OSError("Max retries exceeded"), ConnectionRefusedError(111, "refused")), ": no network ("),
        (AssertionError("Dataset cifar10: could not find data in /d"), "has no prepared 'cifar10'"),
    ],
    ids=["missing module", "no network", "no data"],
)
def test_a_tfds_failure_names_its_cause(error, says):
    from keras_preact.data.tfds_failures import tfds_failure

    message = str(tfds_failure("cifar10", "/d", error, "Offline, do this."))
    assert says in message and message.endswith("." if "module" in says else "Offline, do this.")
    assert ("importlib_resources" in message) == (says == "the module ")
