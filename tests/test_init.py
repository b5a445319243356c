"""`import keras_preact`: the package loads its names on first use, and chooses JAX only
without TensorFlow and another choice of backend."""

import os

import pytest

import keras_preact


def test_the_package_loads_its_names_on_first_use():
    assert "convert_checkpoint" in keras_preact.__all__ and "PreActResNet1001" in keras_preact.__all__
    assert keras_preact.PreActResNet20 is keras_preact.get_model.__globals__["BUILDERS"]["PreActResNet20"]
    assert "fashion_mnist" in keras_preact.list_weights("PreActResNet20")  # registered as the models loaded
    with pytest.raises(AttributeError, match="has no attribute 'PreActResNet21'"):
        keras_preact.PreActResNet21  # noqa: B018


@pytest.mark.parametrize(
    "installed, configured, environment, chosen",
    [
        ({"jax"}, "tensorflow", None, "jax"),  # the core with the [jax] extra
        ({"jax", "tensorflow"}, "tensorflow", None, None),  # Keras' default stays
        ({"jax"}, "torch", None, None),  # keras.json chose
        ({"jax"}, "tensorflow", "numpy", "numpy"),  # KERAS_BACKEND chose
        (set(), "tensorflow", None, None),  # nothing to choose: the import explains
    ],
)
def test_jax_is_chosen_only_without_tensorflow_and_another_choice(
    installed, configured, environment, chosen, monkeypatch
):
    monkeypatch.setattr(keras_preact.importlib.util, "find_spec", lambda name: name if name in installed else None)
    monkeypatch.setattr(keras_preact, "_configured_backend", lambda: configured)
    monkeypatch.setenv("KERAS_BACKEND", environment or "unset")  # recorded, so the choice below is undone
    if not environment:
        monkeypatch.delenv("KERAS_BACKEND")
    keras_preact._choose_backend()
    assert os.environ.get("KERAS_BACKEND") == chosen
