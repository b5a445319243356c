"""Block-level rematerialisation: keep only each residual unit's input for the
backward pass and recompute the unit's activations from it.

`rematerialize(model)` returns a model that shares the layers (and so the weights) of
a flat `keras_preact` model: the stem, then each unit `stageS_unitU` as one
`RematUnit`, then the head. For a unit of L layers, the backward pass holds one
tensor instead of about 3L; the price is a second forward pass through the unit.

The recomputation runs the unit with `training=True` again; its BatchNormalization
layers must not update their moving statistics a second time, so the recomputation
is traced with their momentum set to 1 (the moving average keeps its value).
"""

import contextlib

import keras
import tensorflow as tf

from keras_preact.models.graph import unit_boundaries


@contextlib.contextmanager
def _frozen_moving_statistics(model):
    layers = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    saved = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 1.0
    try:
        yield
    finally:
        for layer, momentum in zip(layers, saved):
            layer.momentum = momentum


class RematUnit(keras.layers.Layer):
    """Runs a unit sub-model, keeping only its input for the backward pass.

    `training` is bound by closure into the recomputed function, so both passes
    run the same mode.
    """

    def __init__(self, unit, **kwargs):
        super().__init__(name=unit.name, **kwargs)
        self.unit = unit

    def call(self, x, training=None):
        if not training:
            return self.unit(x, training=False)

        @tf.custom_gradient
        def forward(x):
            y = self.unit(x, training=True)

            def backward(dy, variables=None):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    with _frozen_moving_statistics(self.unit):
                        recomputed = self.unit(x, training=True)
                dx, dvars = tape.gradient(recomputed, ([x], variables), output_gradients=dy)
                return dx, dvars

            return y, backward

        return forward(x)

    def compute_output_shape(self, input_shape):
        return self.unit.compute_output_shape(input_shape)


def rematerialize(model):
    """A model with the layers of `model`, each residual unit wrapped in `RematUnit`.

    Raises:
        ValueError: if `model` has no `stageS_unitU_*` layers (not a keras_preact model).
    """
    names, boundaries = unit_boundaries(model)
    inputs = keras.Input(model.input_shape[1:], name="input")
    x = keras.Model(model.input, boundaries[0], name="stem")(inputs)
    for name, start, end in zip(names, boundaries, boundaries[1:]):
        x = RematUnit(keras.Model(start, end, name=name))(x)
    x = keras.Model(boundaries[-1], model.outputs, name="head")(x)
    return keras.Model(inputs, x, name=model.name + "_remat")
