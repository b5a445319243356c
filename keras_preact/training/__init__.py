"""Training: configs and recipes, the one training step, the loop and its strategies.

Imports `keras_preact.models`, `keras_preact.data` and `keras_preact.utils`. Nothing
below this layer imports it.
"""

from keras_preact.utils import lazy

# Each name's module, imported on first use: the command line answers --help and
# --list-recipes without TensorFlow.
_MODULES = {
    "TrainConfig": "keras_preact.training.config",
    "apply_overrides": "keras_preact.training.config",
    "RECIPES": "keras_preact.training.recipes",
    "get_recipe": "keras_preact.training.recipes",
    "make_train_step": "keras_preact.training.step",
    "make_strategy": "keras_preact.training.strategy",
    "split_cpu": "keras_preact.training.strategy",
    "Trainer": "keras_preact.training.trainer",
    "train": "keras_preact.training.trainer",
}
__getattr__ = lazy.lazy_getattr(__name__, _MODULES)

__all__ = [
    "apply_overrides",
    "get_recipe",
    "make_strategy",
    "make_train_step",
    "RECIPES",
    "split_cpu",
    "train",
    "TrainConfig",
    "Trainer",
]
