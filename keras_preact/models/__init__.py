"""Models: the depth table, layers, units, builders, registry, preprocessing and the
decoding of predictions into class names.

Imports only `keras_preact.utils` (and Keras, NumPy, h5py): the builders run on every
Keras backend without TensorFlow.
"""

from keras_preact.models.decoding import decode_predictions
from keras_preact.models.features import feature_extractor, pyramid_outputs
from keras_preact.models.fine_tuning import freeze_batch_norm, sync_batch_norm
from keras_preact.models.fitting import prepare_fit
from keras_preact.models.layers import NORMS, DropPath, DropPathAdd, GatedAdd, ZeroPadShortcut
from keras_preact.models.preprocessing import DATASET_STATS, includes_preprocessing, preprocess_input
from keras_preact.models.pretrained import (
    WeightsInfo,
    get_weights_info,
    list_weights,
    register_weights,
    unregister_weights,
)
from keras_preact.models.registry import BUILDERS, MODELS, get_model, list_models, model_arguments
from keras_preact.models.resnet import build_resnet
from keras_preact.models.specs import ResNetSpec, get_spec
from keras_preact.models.strict_loading import load_weights_strict
from keras_preact.models.transforms import eval_transform

__all__ = [
    "build_resnet",
    "BUILDERS",
    "DATASET_STATS",
    "decode_predictions",
    "feature_extractor",
    "freeze_batch_norm",
    "DropPath",
    "DropPathAdd",
    "eval_transform",
    "GatedAdd",
    "get_model",
    "get_spec",
    "get_weights_info",
    "includes_preprocessing",
    "list_models",
    "list_weights",
    "load_weights_strict",
    "model_arguments",
    "MODELS",
    "NORMS",
    "prepare_fit",
    "preprocess_input",
    "pyramid_outputs",
    "register_weights",
    "ResNetSpec",
    "sync_batch_norm",
    "unregister_weights",
    "WeightsInfo",
    "ZeroPadShortcut",
]
