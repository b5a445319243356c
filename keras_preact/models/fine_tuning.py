"""Helpers for the two BatchNormalization traps of fine-tuning with Keras' `fit`.

* A "frozen" BN must stay frozen: calling a base model as `base(x, training=False)`
  does not hold its BN layers once the base is trainable again (Keras 3's `fit` calls
  the outer model with `training=True`, and that reaches the nested layers), so their
  statistics move. A BN layer with `trainable=False` always runs in inference mode:
  `freeze_batch_norm(model)` sets that on every BN layer, nested models included, and
  leaves the other layers as they are.
* Under `tf.distribute.MirroredStrategy` each replica updates its own BN moving
  statistics from its own part of the batch, and a saved model keeps replica 0's, so
  predictions after a reload differ from the training replicas'. `sync_batch_norm(model)`
  makes every BN layer compute the statistics of the global batch (Keras'
  `synchronized=True`), so all replicas hold the same.

Both return the model, and take a flag to undo them.
"""

import keras

from keras_preact.models.graph import all_layers, check_model
from keras_preact.utils.checks import check_bool


def batch_norm_layers(model):
    """Every BatchNormalization layer of `model`, nested models included.

    Raises:
        ValueError: if `model` is not a `keras.Model`.
    """
    layers = all_layers(check_model(model))
    return (layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization))


def freeze_batch_norm(model, frozen=True):
    """Holds (or, with `frozen=False`, releases) every BN layer of `model` in inference
    mode: `trainable=False`, so `fit` neither trains gamma and beta nor moves the
    statistics. Call it again after `model.trainable = True`, which releases them.

    Returns:
        The model.

    Raises:
        ValueError: if `model` is not a `keras.Model` or `frozen` not True or False.
    """
    check_bool("frozen", frozen)
    for layer in batch_norm_layers(model):
        layer.trainable = not frozen
    return model


def sync_batch_norm(model, synchronized=True):
    """Makes every BN layer of `model` use the statistics of the global batch under a
    `tf.distribute` strategy (Keras' `synchronized`), so all replicas keep the same
    moving statistics. Set it inside the strategy scope, before `compile`.

    Returns:
        The model.

    Raises:
        ValueError: if `model` is not a `keras.Model` or `synchronized` not True or
            False.
    """
    check_bool("synchronized", synchronized)
    for layer in batch_norm_layers(model):
        layer.synchronized = synchronized
    return model
