"""Models: the depth table, layers, units, builders, registry, preprocessing and the
decoding of predictions into class names.

Imports only `keras_preact.utils` (and Keras, NumPy, h5py): the builders run on every
Keras backend without TensorFlow. The first use of one of the names below imports
them all (and Keras); a module of this package imported by itself (`specs`, `names`)
loads only what it imports, so the commands check a model name without Keras.
"""

import importlib

# Each public name's module: the first use of any of them imports them all.
_MODULES = {
    "decode_predictions": "keras_preact.models.decoding",
    "feature_extractor": "keras_preact.models.features",
    "pyramid_outputs": "keras_preact.models.features",
    "freeze_batch_norm": "keras_preact.models.fine_tuning",
    "sync_batch_norm": "keras_preact.models.fine_tuning",
    "prepare_fit": "keras_preact.models.fitting",
    "NORMS": "keras_preact.models.layers",
    "DropPath": "keras_preact.models.layers",
    "DropPathAdd": "keras_preact.models.layers",
    "GatedAdd": "keras_preact.models.layers",
    "ZeroPadShortcut": "keras_preact.models.layers",
    "DATASET_STATS": "keras_preact.models.preprocessing",
    "includes_preprocessing": "keras_preact.models.preprocessing",
    "preprocess_input": "keras_preact.models.preprocessing",
    "WeightsInfo": "keras_preact.models.pretrained",
    "get_weights_info": "keras_preact.models.pretrained",
    "list_weights": "keras_preact.models.pretrained",
    "register_weights": "keras_preact.models.pretrained",
    "unregister_weights": "keras_preact.models.pretrained",
    "BUILDERS": "keras_preact.models.registry",
    "MODELS": "keras_preact.models.registry",
    "get_model": "keras_preact.models.registry",
    "list_models": "keras_preact.models.registry",
    "model_arguments": "keras_preact.models.registry",
    "build_resnet": "keras_preact.models.resnet",
    "ResNetSpec": "keras_preact.models.specs",
    "get_spec": "keras_preact.models.specs",
    "load_weights_strict": "keras_preact.models.strict_loading",
    "eval_transform": "keras_preact.models.transforms",
}

__all__ = list(_MODULES)


def __getattr__(name):
    """Imports the models' names (and Keras) on the first use of one of them."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    _load()
    return globals()[name]


def _load():
    for name, module in _MODULES.items():
        globals()[name] = getattr(importlib.import_module(module), name)


def __dir__():
    return sorted({*globals(), *__all__})
