"""The core install: `pip install .` (not editable) into a fresh virtualenv with only the
core requirements (keras, numpy, h5py) and JAX. Without TensorFlow, every registered model
builds on the JAX backend, and the shipped weights, which are package data, load offline
from the installed package and reach their accuracy on the 10,000 real test images.

Needs the package registry (PyPI) for the virtualenv's packages, at the versions of
constraints.txt (pip's cache makes it quick after the first run).
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import needs_fashion_mnist

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE_FILES = ("keras_preact", "setup.cfg", "pyproject.toml", "README.md", "constraints.txt")
CHECK = r"""
import importlib.util, json, sys
import numpy as np
import keras, keras_preact
from keras_preact.data.readers import load_fashion_mnist

report = {"backend": keras.backend.backend(), "tensorflow": importlib.util.find_spec("tensorflow") is not None,
          "package": keras_preact.__file__, "models": {}}
# Every model up to 200 layers, and the deepest (the other 1000-layer nets add build time, not code).
for name in keras_preact.list_models():
    if keras_preact.models.MODELS[name]["depth"] < 1000 or name == "PreActResNet1202":
        report["models"][name] = keras_preact.get_model(name).count_params()
images, labels = load_fashion_mnist("test", sys.argv[1])
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


@pytest.fixture(scope="module")
def core_install(tmp_path_factory):
    """A virtualenv with `pip install <copy of the source>` and jax, nothing else."""
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
    done = subprocess.run([*pip, str(source), "jax"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return venv / "bin" / "python", base


@pytest.mark.slow
@needs_fashion_mnist
def test_core_install_builds_the_models_on_jax_and_loads_the_shipped_weights(core_install):
    from keras_preact.data.readers import FASHION_MNIST_DIR
    from keras_preact.models import list_models
    from keras_preact.weights import shipped_weights

    python, base = core_install
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "KERAS", "VIRTUAL_ENV"))}
    env.update(KERAS_BACKEND="jax", KERAS_HOME=str(base / "keras_home"), TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(
        [str(python), "-c", CHECK, FASHION_MNIST_DIR], cwd=base, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["backend"] == "jax" and report["tensorflow"] is False
    assert report["package"].startswith(str(base / "venv")), report["package"]  # the installed copy, not the checkout
    deep = {"ResNet1001", "ResNet1202", "PreActResNet1001"}
    assert sorted(report["models"]) == sorted(set(list_models()) - deep)
    assert all(count > 0 for count in report["models"].values())
    (shipped,) = [w for w in shipped_weights() if w["model"] == "PreActResNet20"]
    assert report["accuracy"] == pytest.approx(shipped["test_accuracy"], abs=0.001)
    assert report["drop_path"] == [[0.0, 2.0], False, True]
