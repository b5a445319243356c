"""keras_preact: ResNets of He et al. (2016), v1 and full pre-activation v2, for Keras 3.

    model = keras_preact.PreActResNet164(weights=None, classes=100)
    model = keras_preact.build_resnet(110, family="cifar", version=1, shortcut="conv1x1")
    keras_preact.list_models("PreAct*")

The package is layered; a module imports only from its own layer and the layers
before it (docs/architecture.md, enforced by tests/test_architecture.py):

    utils  <-  models  <-  weights
                      \\<-  data  <-  training
                                \\<-  export        (commands: every layer)

* `utils`: argument checks, atomic writes and SHA-256 (imports nothing of the package);
* `models`: depth table, layers, units, builders, registry, preprocessing, decoding of
  predictions into class names, the weights registry and strict loading (Keras only:
  runs on JAX and PyTorch too);
* `weights`: the weights the package ships and those ported from torchvision, timm,
  pytorchcv and fb.resnet.torch (registered by name), the bounded checkpoint readers and
  the converter;
* `data`: readers, sources, augmentation, tf.data pipelines and labelled images to
  evaluate on;
* `training`: config and recipes, the one training step, the loop, strategies,
  schedules, optimizer, checkpoints, remat, diagnostics, tuning;
* `export`: SavedModel, TFLite and parity (never imports training);
* `commands`: the command-line tools (`keras-preact-train`, `-export`, `-convert`,
  `-evaluate`, `-predict`, `-diagnostics`, `-demo`), one module each.

This module and `commands` sit on top and may import any layer. `import keras_preact`
loads nothing but this module: the first use of a name loads the models (and Keras), and
the commands answer `--help` without starting TensorFlow.
"""

import importlib
import importlib.util
import os
import sys

from keras_preact.utils import lazy
from keras_preact.utils.version import __version__ as __version__  # re-exported

# Names this module takes from `keras_preact.models` (and `convert_checkpoint`).
_MODELS_NAMES = (
    "DropPath",
    "DropPathAdd",
    "GatedAdd",
    "ZeroPadShortcut",
    "build_resnet",
    "decode_predictions",
    "eval_transform",
    "feature_extractor",
    "freeze_batch_norm",
    "get_model",
    "get_weights_info",
    "list_models",
    "list_weights",
    "prepare_fit",
    "preprocess_input",
    "pyramid_outputs",
    "register_weights",
    "sync_batch_norm",
)
# The subpackages: `from keras_preact import training` imports only that.
_SUBPACKAGES = ("commands", "data", "datasets", "export", "models", "training", "utils", "weights")


def _register_weights():
    """Fills the weights registry of `keras_preact.models` (run on its first read)."""
    from keras_preact.weights.ported import register_ported_weights
    from keras_preact.weights.shipped import register_shipped_weights

    register_shipped_weights()
    register_ported_weights()


def _choose_backend():
    """Keras' default backend is TensorFlow: without it (the core install with the
    `[jax]` extra), JAX, unless KERAS_BACKEND or keras.json chose another backend."""
    if os.environ.get("KERAS_BACKEND"):
        return
    found = importlib.util.find_spec
    if found("tensorflow") is None and found("jax") is not None and _configured_backend() == "tensorflow":
        os.environ["KERAS_BACKEND"] = "jax"


def _configured_backend():
    """The backend of Keras' configuration file (`$KERAS_HOME/keras.json`), or its default."""
    import json

    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as f:
            return json.load(f).get("backend", "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def __getattr__(name):
    """Loads the models (Keras) on the first use of one of their names; the subpackages by name."""
    if name in _SUBPACKAGES:
        return importlib.import_module(f"keras_preact.{name}")
    if name.startswith("__") and name != "__all__":
        raise AttributeError(f"module 'keras_preact' has no attribute {name!r}")
    _load()
    try:
        return globals()[name]
    except KeyError:
        raise AttributeError(f"module 'keras_preact' has no attribute {name!r}") from None


def _load():
    """Imports the models and binds their names here (the weights register as the models load)."""
    try:
        from keras_preact import models
        from keras_preact.weights.convert import convert_checkpoint
    except ModuleNotFoundError as e:
        if e.name != "tensorflow":
            raise
        raise ImportError(
            "keras_preact needs a Keras backend, and Keras' default, TensorFlow, is not installed: "
            "pip install 'keras_preact[jax]' (JAX; or set KERAS_BACKEND to the backend you have), "
            "or 'keras_preact[train]' (TensorFlow)."
        ) from e

    names = {n: getattr(models, n) for n in _MODELS_NAMES}
    globals().update(names, convert_checkpoint=convert_checkpoint, **models.BUILDERS)
    globals()["__all__"] = ["__version__", "convert_checkpoint", *_MODELS_NAMES, *models.BUILDERS]


def __dir__():
    return sorted({*globals(), *_SUBPACKAGES})


if "keras" not in sys.modules:
    _choose_backend()
lazy.on_import("keras_preact.models.pretrained", _register_weights)  # on the registry's first read
