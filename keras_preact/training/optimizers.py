"""The paper's optimizer, SGD with momentum ([2], appendix: momentum 0.9), traced lean.

`keras_preact.training.optimizers.SGD` is `keras.optimizers.SGD` with the same arguments,
variables, checkpoints and arithmetic. On the TensorFlow backend its momentum update,

    accumulator = momentum * accumulator - learning_rate * gradient
    variable = variable + accumulator

runs as one `ResourceApplyKerasMomentum` op per variable instead of Keras' ten or so
traced ops and variable reads. ResNet-1001 has 3,005 trainable variables, so this is
about a third of the graph that its first training step traces and instantiates.
Nesterov momentum, sparse gradients, other backends and variables whose dtype differs
from the gradient's take Keras' path.

Saved configs (a compiled model's `.keras` file) name it `keras.optimizers.SGD`, as
`keras_preact.models.batch_norm` does for its BatchNormalization: the file loads with
Keras alone, and loaded it is Keras' SGD (the same arguments and variables).
"""

import keras

from keras_preact.utils.serialization import save_under_keras_name


@keras.saving.register_keras_serializable(package="keras_preact")
class SGD(keras.optimizers.SGD):
    """`keras.optimizers.SGD` with a one-op momentum update on TensorFlow (see module)."""

    def update_step(self, gradient, variable, learning_rate):
        if keras.backend.backend() != "tensorflow" or not self.momentum or self.nesterov:
            return super().update_step(gradient, variable, learning_rate)
        import tensorflow as tf  # only reached on the TensorFlow backend

        if isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        accumulator = self.momentums[self._get_variable_index(variable)]
        variable = variable.value if isinstance(variable, keras.Variable) else variable
        dtype = variable.dtype
        tf.raw_ops.ResourceApplyKerasMomentum(
            var=variable.handle,
            accum=accumulator.value.handle,
            lr=tf.cast(learning_rate, dtype),
            grad=tf.cast(gradient, dtype),
            momentum=tf.cast(self.momentum, dtype),
        )


# Saved files name it "keras.optimizers.SGD", so they load without this package
# (`tests/utils/test_serialization.py` and `tests/training/test_optimizers.py` load them with Keras alone).
save_under_keras_name(SGD, "keras.optimizers.SGD")
