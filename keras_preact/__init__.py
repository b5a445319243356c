"""keras_preact: ResNets of He et al. (2016), v1 and full pre-activation v2, for Keras 3.

    model = keras_preact.PreActResNet164(weights=None, classes=100)
    model = keras_preact.build_resnet(110, family="cifar", version=1, shortcut="conv1x1")
    keras_preact.list_models("PreAct*")

The package is layered; a module imports only from its own layer and the layers
before it (docs/architecture.md, enforced by tests/test_architecture.py):

    utils  <-  models  <-  weights  <-  data  <-  training
                                            \\<-  export

* `utils`: argument checks, atomic writes and SHA-256 (imports nothing of the package);
* `models`: depth table, layers, units, builders, registry, preprocessing, decoding of
  predictions into class names, the weights registry and strict loading (Keras only:
  runs on JAX and PyTorch too);
* `weights`: the weights the package ships (package data), registered by name;
* `data`: readers, sources, augmentation and tf.data pipelines;
* `training`: config and recipes, the one training step, the loop, strategies,
  schedules, optimizer, checkpoints, remat, diagnostics, tuning, the `train` CLI;
* `export`: SavedModel, TFLite, parity and the `export` CLI (never imports training).

This module and the entry points beside it (`demo`, `train`, `diagnostics`) sit on top
and may import any layer.
"""

from keras_preact.models import (
    BUILDERS,
    DropPath,
    DropPathAdd,
    GatedAdd,
    ZeroPadShortcut,
    build_resnet,
    decode_predictions,
    feature_extractor,
    freeze_batch_norm,
    get_model,
    get_weights_info,
    list_models,
    list_weights,
    prepare_fit,
    preprocess_input,
    register_weights,
    sync_batch_norm,
)
from keras_preact.utils.version import __version__
from keras_preact.weights import register_shipped_weights
from keras_preact.weights.convert import convert_checkpoint
from keras_preact.weights.ported import register_ported_weights

globals().update(BUILDERS)
register_shipped_weights()
register_ported_weights()

__all__ = [
    "__version__",
    "DropPath",
    "DropPathAdd",
    "GatedAdd",
    "ZeroPadShortcut",
    "build_resnet",
    "convert_checkpoint",
    "decode_predictions",
    "feature_extractor",
    "freeze_batch_norm",
    "get_model",
    "get_weights_info",
    "list_models",
    "list_weights",
    "prepare_fit",
    "preprocess_input",
    "register_weights",
    "sync_batch_norm",
    *BUILDERS,
]
