"""keras_preact: ResNets of He et al. (2016), v1 and full pre-activation v2, for Keras 3.

model = keras_preact.PreActResNet164(weights=None, classes=100)
model = keras_preact.build_resnet(110, family="cifar", version=1, shortcut="conv1x1")
keras_preact.list_models("PreAct*")
"""

from keras_preact.layers import GatedAdd, ZeroPadShortcut
from keras_preact.preprocessing import preprocess_input
from keras_preact.registry import BUILDERS, get_model, list_models
from keras_preact.resnet import build_resnet
from keras_preact.weights import get_weights_info, list_weights, register_shipped_weights, register_weights

__version__ = "0.1.0"

globals().update(BUILDERS)
register_shipped_weights()

__all__ = [
    "GatedAdd",
    "ZeroPadShortcut",
    "build_resnet",
    "get_model",
    "get_weights_info",
    "list_models",
    "list_weights",
    "preprocess_input",
    "register_weights",
    *BUILDERS,
]
