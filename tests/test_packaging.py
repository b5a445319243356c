"""The core install: `pip install '.[jax]'` (not editable) into a fresh virtualenv with only
the core requirements (keras, numpy, h5py) and JAX. Without TensorFlow: the models build on
the JAX backend (every family, version and block, the deepest ImageNet net, the stem
without activation); weights saved by TensorFlow load and give the same outputs for
the paper's unit variants; a pytorchcv checkpoint converts without PyTorch; and the
shipped weights, which are package data, load offline from the installed package and
reach their accuracy on the 10,000 real test images.

Needs the package registry (PyPI) for the virtualenv's packages, at the versions of
constraints.txt (pip's cache makes it quick after the first run).
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import keras_preact

from tests.helpers.marks import needs_fashion_mnist

# The models the JAX run builds: each (family, version, block) at its smallest named
# depth, and the deepest ImageNet net. The 1000-layer nets build through the same Keras
# functional code; the TensorFlow tests build all four.
JAX_MODELS = [
    "PreActResNet18",
    "ResNet18",
    "PreActResNet50",
    "ResNet50",
    "PreActResNet200",
    "PreActResNet20",
    "ResNet20",
    "PreActResNet164",
    "ResNet164",
]
# Unit variants whose TensorFlow-saved weights the JAX run loads (CIFAR depth 8, 8x8x3).
VARIANTS = {
    "v2": {},
    "v1_gated_option_a": {"version": 1, "shortcut": "exclusive_gating", "downsample_shortcut": "zero_pad"},
    "v2_bottleneck_scaled": {
        "depth": 11,
        "shortcut": "constant_scaling",
        "shortcut_options": {"scale": 0.5, "scale_residual": True},
    },
}

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE_FILES = ("keras_preact", "setup.cfg", "pyproject.toml", "README.md", "constraints.txt")
CHECK = r"""
import importlib.util, json, sys
import numpy as np
import keras, keras_preact
from keras_preact.data.readers import load_fashion_mnist

args = json.loads(sys.argv[1])
report = {"backend": keras.backend.backend(), "tensorflow": importlib.util.find_spec("tensorflow") is not None,
          "package": keras_preact.__file__, "models": {}, "variants": {}}
for name in args["models"]:
    report["models"][name] = keras_preact.get_model(name).count_params()
stemless = keras_preact.PreActResNet18(input_shape=(32, 32, 3), stem_activation="none")
report["stemless"] = list(stemless(np.zeros((1, 32, 32, 3), "float32")).shape)
x = np.load(args["dir"] + "/x.npy")
for name, kwargs in args["variants"].items():
    kwargs = {"depth": 8, "family": "cifar", "input_shape": (8, 8, 3), **kwargs}
    model = keras_preact.build_resnet(**kwargs, weights=args["dir"] + f"/{name}.weights.h5")
    report["variants"][name] = np.asarray(model(x, training=False)).tolist()
converted, _ = keras_preact.convert_checkpoint(
    "pytorchcv", args["dir"] + "/preresnet20.pth", "PreActResNet20", classifier_activation=None
)
report["converted"] = np.asarray(converted(np.load(args["dir"] + "/cifar.npy"), training=False)).tolist()
images, labels = load_fashion_mnist("test", args["fashion_mnist"])
model = keras_preact.PreActResNet20(weights="fashion_mnist", input_shape=(28, 28, 1))
logits = model.predict(keras_preact.preprocess_input(images, "fashion_mnist"), batch_size=500, verbose=0)
report["accuracy"] = float(np.mean(logits.argmax(-1) == labels))
# Stochastic depth on this backend: a fresh mask per training call, none in inference.
dropping = keras_preact.build_resnet(8, family="cifar", input_shape=(8, 8, 3), drop_path_rate=0.5)
x = np.random.default_rng(0).normal(size=(16, 8, 8, 3)).astype("float32")
mask = keras_preact.DropPath(0.5)(np.ones((1000, 1, 1, 1), "float32"), training=True)
report["drop_path"] = [
    sorted(set(np.asarray(mask).ravel().tolist())),
    bool(np.allclose(dropping(x, training=True), dropping(x, training=True))),
    bool(np.array_equal(dropping(x, training=False), dropping(x, training=False))),
]
print(json.dumps(report))
"""


def _tensorflow_outputs(directory):
    """Weights files of the unit variants and a pytorchcv checkpoint, written here (on
    TensorFlow, with PyTorch), and the outputs they give."""
    from tests.helpers.peer_checkpoints import images, peer_model, randomize, save_peer_checkpoint

    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    np.save(directory / "x.npy", x)
    expected = {}
    for name, kwargs in VARIANTS.items():
        kwargs = {"depth": 8, "family": "cifar", "input_shape": (8, 8, 3), **kwargs}
        model = keras_preact.build_resnet(**kwargs)
        model.save_weights(directory / f"{name}.weights.h5")
        expected[name] = np.asarray(model(x, training=False))
    cifar = images("cifar").astype("float32")
    np.save(directory / "cifar.npy", cifar)
    torch_model = randomize(peer_model("pytorchcv", "preresnet20_cifar10"), 32)
    os.rename(save_peer_checkpoint("pytorchcv", torch_model, str(directory), "p"), directory / "preresnet20.pth")
    converted, _ = keras_preact.convert_checkpoint(
        "pytorchcv", directory / "preresnet20.pth", "PreActResNet20", classifier_activation=None
    )
    expected["converted"] = np.asarray(converted(cifar, training=False))
    return expected


@pytest.fixture(scope="module")
def core_install(tmp_path_factory):
    """A virtualenv with `pip install '<copy of the source>[jax]'` (the core and JAX), nothing else."""
    base = tmp_path_factory.mktemp("core_install")
    source = base / "source"
    source.mkdir()
    for name in SOURCE_FILES:
        path = os.path.join(ROOT, name)
        copy = shutil.copytree if os.path.isdir(path) else shutil.copy
        copy(path, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")} if os.path.isdir(path) else {}))
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-c", str(source / "constraints.txt")]
    done = subprocess.run([*pip, f"{source}[jax]"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return venv / "bin" / "python", base


@pytest.mark.slow
@needs_fashion_mnist
def test_core_install_builds_the_models_on_jax_and_loads_the_shipped_weights(core_install):
    from keras_preact.data.readers import FASHION_MNIST_DIR
    from keras_preact.weights.shipped import shipped_weights

    python, base = core_install
    expected = _tensorflow_outputs(base)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "KERAS", "VIRTUAL_ENV"))}
    env.update(KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", KERAS_HOME=str(base / "keras_home"), TF_CPP_MIN_LOG_LEVEL="2")
    args = {"models": JAX_MODELS, "variants": VARIANTS, "dir": str(base), "fashion_mnist": FASHION_MNIST_DIR}
    done = subprocess.run(
        [str(python), "-c", CHECK, json.dumps(args)], cwd=base, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["backend"] == "jax" and report["tensorflow"] is False
    assert report["package"].startswith(str(base / "venv")), report["package"]  # the installed copy, not the checkout
    assert sorted(report["models"]) == sorted(JAX_MODELS)
    assert all(count > 0 for count in report["models"].values())
    assert report["stemless"] == [1, 1000]
    for name in (*VARIANTS, "converted"):
        actual = report["variants"][name] if name in VARIANTS else report["converted"]
        np.testing.assert_allclose(actual, expected[name], rtol=1e-4, atol=1e-5)
    (shipped,) = [w for w in shipped_weights() if w["model"] == "PreActResNet20"]
    assert report["accuracy"] == pytest.approx(shipped["test_accuracy"], abs=0.001)
    assert report["drop_path"] == [[0.0, 2.0], False, True]


UNSET_BACKEND = """
import keras_preact, keras, numpy as np
model = keras_preact.PreActResNet20(weights="fashion_mnist")
print(keras.backend.backend(), model.predict(np.zeros((2, 28, 28, 1), "float32"), verbose=0).shape)
"""


@pytest.mark.slow
def test_core_install_with_jax_predicts_with_keras_backend_unset(core_install):
    """As the README says: the core with the [jax] extra, and no KERAS_BACKEND."""
    python, base = core_install
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "KERAS", "VIRTUAL_ENV"))}
    env.update(JAX_PLATFORMS="cpu", KERAS_HOME=str(base / "unset_home"))
    done = subprocess.run([str(python), "-c", UNSET_BACKEND], cwd=base, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["jax", "(2,", "10)"]
