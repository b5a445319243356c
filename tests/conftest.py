import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import re  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402

# The converter tests run the peers (torch, torchvision, timm) in the test process.
# torchvision's extension crashes (SIGSEGV) when it loads after TensorFlow's, not
# before, so it is imported first wherever it is installed.
try:
    import torch  # noqa: E402
    import torchvision  # noqa: E402, F401

    torch.set_num_threads(1)  # the peers' forward passes are small; TensorFlow keeps the cores
except ImportError:
    pass

# Test ids that name a model of depth >= 1000 or an int8 conversion: marked `slow`
# (tests that start subprocesses carry the mark themselves).
SLOW_IDS = re.compile(r"1001|1202|int8")


def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_IDS.search(item.nodeid):
            item.add_marker(pytest.mark.slow)


def _fashion_mnist_installed():
    from keras_preact.data.readers import FASHION_MNIST_DIR, FASHION_MNIST_FILES

    files = [f for split in FASHION_MNIST_FILES.values() for f in split]
    return all(os.path.isfile(os.path.join(FASHION_MNIST_DIR, f)) for f in files)


# Tests that read the real Fashion-MNIST files (`.ci/run` installs them).
needs_fashion_mnist = pytest.mark.skipif(
    not _fashion_mnist_installed(),
    reason="dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)",
)

# Smallest inputs each family accepts quickly; structure does not depend on size.
SMALL_SHAPE = {"imagenet": (32, 32, 3), "cifar": (8, 8, 3)}


def inbound_layers(model, name):
    """Names of the layers whose outputs feed layer `name`."""
    node = model.get_layer(name)._inbound_nodes[0]
    return [t._keras_history.operation.name for t in node.input_tensors]


def consumer_layers(model, name):
    """Names of the layers of `model` that read the output of layer `name`."""
    names = {layer.name for layer in model.layers}
    return sorted(node.operation.name for node in model.get_layer(name)._outbound_nodes if node.operation.name in names)


def grouped(name, *values, id=None):
    """A parameter that pytest-xdist runs on the same worker as the others of `name`,
    so that a model cached per worker is built once."""
    return pytest.param(*(values or (name,)), id=id or name, marks=pytest.mark.xdist_group(name))


_MODELS = {}


def default_model(name):
    """The registered model `name` with default arguments, built once per session.

    Parameter counts and structure tests share it: the deepest models take ~20 s to build.
    """
    if name not in _MODELS:
        import keras_preact

        _MODELS[name] = keras_preact.get_model(name)
    return _MODELS[name]


def synthetic_run(total_steps, checkpoint_every, boundary, eval_every=None):
    """Command-line arguments of a small synthetic training run (PreActResNet8 on synthetic
    CIFAR, batch 16, evaluated every `eval_every` steps, default at the end only) for tests
    that run the trainer's commands."""
    fields = {
        "model": "PreActResNet8",
        "dataset": "synthetic_cifar",
        "batch_size": 16,
        "reference_batch_size": 16,
        "total_steps": total_steps,
        "boundaries": f"[{boundary}]",
        "checkpoint_every": checkpoint_every,
        "eval_every": eval_every or total_steps,
        "eval_batch_size": 64,
    }
    return ["--recipe", "smoke", "--quiet", *(a for k, v in fields.items() for a in ("--set", f"{k}={v}"))]


def wait_for(path, process, timeout=180):
    """Polls until `path` exists, failing if `process` ends first or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert process.poll() is None, f"the process ended before {path} appeared"
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.005)
