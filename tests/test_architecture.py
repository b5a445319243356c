"""The layout: imports run one way between the subpackages, and modules stay short.

    utils  <-  models  <-  weights  <-  data  <-  training
                                            \\<-  export
                                            \\<-  datasets

A module may import its own layer and the layers before it (docs/architecture.md).
The entry modules at the top of the package (`keras_preact/__init__.py`, `demo.py`,
`train.py`, `diagnostics.py`) may import any layer.
"""

import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "keras_preact")

# layer -> the layers it may import (itself included)
ALLOWED = {
    "utils": {"utils"},
    "models": {"utils", "models"},
    "weights": {"utils", "models", "weights"},
    "data": {"utils", "models", "data"},
    "training": {"utils", "models", "data", "training"},
    "export": {"utils", "models", "data", "export"},
    "datasets": {"utils", "data", "datasets"},
    "commands": {"utils", "models", "weights", "data", "training", "export", "datasets", "commands"},
}
MAX_MODULE_LINES = 300


def _modules():
    """(layer or None for an entry module, path) of every module of the package."""
    for directory, _, files in os.walk(PACKAGE):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                parts = os.path.relpath(path, PACKAGE).split(os.sep)
                yield (parts[0] if len(parts) > 1 else None), path


def imported_layers(path):
    """The layers (first component after `keras_preact.`) that a module imports, with
    the line of each import, lazy imports inside functions included."""
    found = []
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "keras_preact":
                names = [f"keras_preact.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "keras_preact":
                found.append((parts[1] if len(parts) > 1 else "keras_preact", node.lineno))
    return found


def violations(modules):
    """Imports across the stated direction, as 'path:line imports layer' strings."""
    wrong = []
    for layer, path in modules:
        if layer is None:
            continue
        for imported, line in imported_layers(path):
            if imported not in ALLOWED[layer]:
                wrong.append(f"{os.path.relpath(path, ROOT)}:{line} ({layer}) imports {imported}")
    return wrong


def test_every_subpackage_is_a_known_layer():
    layers = {layer for layer, _ in _modules() if layer is not None}
    assert layers == set(ALLOWED)


def test_imports_run_one_way():
    assert violations(_modules()) == []


@pytest.mark.parametrize(
    "layer, source",
    [
        ("models", "from keras_preact.data import pipelines\n"),
        ("models", "import keras_preact.training.trainer\n"),
        ("models", "def f():\n    from keras_preact import weights\n"),
        ("data", "from keras_preact.export import export_saved_model\n"),
        ("export", "from keras_preact.training.step import make_train_step\n"),
        ("utils", "from keras_preact.models import specs\n"),
        ("weights", "import keras_preact\n"),
        ("data", "from keras_preact.weights import convert\n"),
        ("training", "from keras_preact.commands import train\n"),
    ],
)
def test_a_module_importing_across_the_direction_is_reported(tmp_path, layer, source):
    path = tmp_path / "module.py"
    path.write_text(source)
    assert len(violations([(layer, str(path))])) == 1


def test_a_models_module_alone_loads_no_keras():
    """The commands check model and dataset names with `models.names` and
    `data.catalog` before they load Keras or TensorFlow."""
    code = (
        "import sys\n"
        "from keras_preact.models.names import model_arguments\n"
        "from keras_preact.data.catalog import DATASETS\n"
        "model_arguments('PreActResNet110')\n"
        "print(sorted(m for m in ('keras', 'tensorflow', 'jax') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": ROOT}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_no_module_is_longer_than_the_limit():
    long = {os.path.relpath(p, ROOT): n for _, p in _modules() if (n := len(open(p).readlines())) > MAX_MODULE_LINES}
    assert long == {}


@pytest.mark.slow
def test_the_builders_import_without_tensorflow_data_training_or_export():
    """`import keras_preact` loads only `utils`; the first use of a model loads the builders
    and the shipped weights, and no module of the data, training or export layers, and no
    TensorFlow on the JAX backend."""
    code = (
        "import sys, keras_preact\n"
        "def layers():\n"
        "    return sorted({m.split('.')[1] for m in sys.modules if m.startswith('keras_preact.')})\n"
        "print(layers(), 'keras' in sys.modules)\n"
        "keras_preact.PreActResNet20(weights='fashion_mnist')\n"
        "print(layers(), 'tensorflow' in sys.modules)\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": ROOT}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[-3:-1] == ["['utils'] False", "['models', 'utils', 'weights'] False"]
