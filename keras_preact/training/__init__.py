"""Training: configs and recipes, the one training step, the loop and its strategies.

Imports `keras_preact.models`, `keras_preact.data` and `keras_preact.utils`. Nothing
below this layer imports it.
"""

from keras_preact.training.config import TrainConfig, apply_overrides
from keras_preact.training.recipes import RECIPES, get_recipe
from keras_preact.training.step import make_train_step
from keras_preact.training.strategy import make_strategy, split_cpu
from keras_preact.training.trainer import Trainer, train

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
