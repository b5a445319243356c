"""Process-wide settings of a training run, scoped to it.

A run sets Keras' mixed-precision policy, TensorFlow's op determinism and the random
seeds. `run_settings(config)` sets them on entry and puts back on exit what was there
before (the policy, op determinism, Keras' global seed and the Python and NumPy random
states), so that a program that trains and then does something else is not changed by
the training.
"""

import contextlib
import random

import keras
import numpy as np
import tensorflow as tf
from keras.src.backend.common import global_state
from tensorflow.python.eager import context
from tensorflow.python.framework import config as tf_config


@contextlib.contextmanager
def run_settings(config):
    """Applies `config.mixed_precision`, `config.deterministic` and `config.seed` inside
    the block and restores the previous settings after it."""
    saved = {
        "policy": keras.mixed_precision.global_policy(),
        "determinism": tf_config.is_op_determinism_enabled(),
        "keras_seed": global_state.get_global_attribute("global_random_seed"),
        "tf_seed": context.global_seed(),
        "python": random.getstate(),
        "numpy": np.random.get_state(),
    }
    keras.mixed_precision.set_global_policy(config.mixed_precision or "float32")
    if config.deterministic:
        keras.utils.set_random_seed(config.seed)
        tf_config.enable_op_determinism()
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(saved["policy"])
        if not saved["determinism"]:
            tf_config.disable_op_determinism()
        global_state.set_global_attribute("global_random_seed", saved["keras_seed"])
        tf.random.set_seed(saved["tf_seed"])
        random.setstate(saved["python"])
        np.random.set_state(saved["numpy"])
