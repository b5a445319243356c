"""The BatchNormalization of the builders: Keras' layer, with fused TensorFlow kernels.

Chosen by the builders' `norm` argument: "fused" (the default) builds this layer,
"keras" builds `keras.layers.BatchNormalization`. Both have the same variables, names,
weight files and results; only the kernels on the TensorFlow backend differ.

Saved models name this layer `keras.layers.BatchNormalization` (same config, same
math), so a `.keras` file of a standard model loads with Keras alone, without this
package; loaded, it runs Keras' own layer. Files written by 0.1.0, which name
`keras_preact>BatchNormalization`, still load here.
"""

import functools

import keras
from keras import layers, ops

from keras_preact.utils.serialization import save_under_keras_name


@functools.cache
def preactivation_form():
    """How a BN that reads a sum runs in traced TF inference: "depthwise" where TensorFlow
    runs with oneDNN (whose Grappler remapper fuses a depthwise conv, bias add and ReLU),
    else "keras" (Keras' multiply and add)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:  # not TensorFlow's layout: no oneDNN fusion to rely on
        return "keras"
    return "depthwise" if _pywrap_util_port.IsMklEnabled() else "keras"


@keras.saving.register_keras_serializable(package="keras_preact")
class BatchNormalization(layers.BatchNormalization):
    """`keras.layers.BatchNormalization` that runs fused TF kernels where it pays.

    Keras 3 normalises with separate moment, rsqrt, multiply and add ops (about 25
    graph ops per layer and as many passes over the activations). On the TensorFlow
    backend, with NHWC float32 inputs, this layer instead runs:

    * in training, `FusedBatchNormV3` with its fused gradient. The arithmetic is Keras':
      batch statistics normalise, and the moving statistics are updated with the
      *biased* batch variance (the kernel returns the Bessel-corrected one, which is
      undone) as `moving = momentum * moving + (1 - momentum) * batch`;
    * in traced inference after a `Conv2D` op (the BN inside each unit, and v1's),
      `FusedBatchNormV3`: Grappler's remapper fuses conv, BN and the ReLU after it
      into one `_FusedConv2D`;
    * in traced inference on anything else (a pre-activation BN, which reads the sum
      x_l, so no conv can absorb it), Keras' own `x * scale + offset`, with
      `scale = gamma / sqrt(moving_variance + epsilon)` and
      `offset = beta - moving_mean * scale`. The form follows what the runtime fuses
      (`preactivation_form()`): where TensorFlow runs with oneDNN (its default on x86
      Linux CPUs with AVX-512 VNNI, BF16 or AMX), it is written as a 1x1 depthwise
      convolution with the kernel `scale` and the bias `offset`, which Grappler fuses
      with the ReLU after it into one `_FusedDepthwiseConv2dNative`: one pass over the
      activations instead of three. Without oneDNN (e.g. AVX2-only CPUs) nothing fuses
      it, and Keras' ops are as fast or faster, so those run. Both forms give the same
      values (docs/benchmarks.md has the figures of both machine kinds).

    Eager calls, other backends, channels-first or non-float32 inputs, masks,
    `synchronized` and `renorm` take Keras' path. Variables, names and weight files
    are those of `keras.layers.BatchNormalization`.
    """

    def _fusable(self, inputs, mask):
        return (
            mask is None
            and keras.backend.backend() == "tensorflow"
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and self.center
            and self.scale
            and not self.synchronized
            and not self.renorm
        )

    @staticmethod
    def _producer(inputs):
        """The type of the op that computed float32 `inputs` in a graph, else None.

        Eager tensors have no op, and other dtypes take Keras' path.
        """
        op = getattr(inputs, "op", None)
        return getattr(op, "type", None) if inputs.dtype == "float32" else None

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        if training and self.trainable:
            return self._fused_training(inputs)
        producer = None if training else self._producer(inputs)
        if producer == "Conv2D":
            return self._fused_inference(inputs)
        if producer is not None and preactivation_form() == "depthwise":
            return self._depthwise_inference(inputs)
        return super().call(inputs, training=training, mask=mask)

    def _float32_weights(self):
        """gamma, beta, moving mean and moving variance, cast to the kernels' float32."""
        return tuple(ops.cast(v, "float32") for v in (self.gamma, self.beta, self.moving_mean, self.moving_variance))

    def _fused_inference(self, inputs):
        import tensorflow as tf  # only reached on the TensorFlow backend

        gamma, beta, mean, variance = self._float32_weights()
        y, *_ = tf.raw_ops.FusedBatchNormV3(
            x=inputs,
            scale=gamma,
            offset=beta,
            mean=mean,
            variance=variance,
            epsilon=self.epsilon,
            data_format="NHWC",
            is_training=False,
        )
        return y

    def _depthwise_inference(self, inputs):
        """Keras' inference arithmetic as a 1x1 depthwise conv and a bias add."""
        import tensorflow as tf  # only reached on the TensorFlow backend

        gamma, beta, mean, variance = self._float32_weights()
        scale = tf.math.rsqrt(variance + self.epsilon) * gamma
        offset = beta - mean * scale
        kernel = tf.reshape(scale, (1, 1, -1, 1))
        y = tf.nn.depthwise_conv2d(inputs, kernel, strides=(1, 1, 1, 1), padding="VALID")
        return tf.nn.bias_add(y, offset)

    def _fused_training(self, inputs):
        """One FusedBatchNormV3 that also updates the moving statistics.

        With `exponential_avg_factor = 1 - momentum` the kernel returns
        `(1 - f) * mean_in + f * batch_mean` and `(1 - f) * variance_in + f * a * batch_var`,
        where `batch_var` is the biased variance and `a = n / max(n - 1, 1)` its Bessel
        correction (n values per channel). Passing `variance_in = a * moving_variance`
        and dividing the result by `a` gives Keras' update with the biased variance. This
        costs about 10 graph ops per layer instead of 40, which is most of the tracing
        time of a 1001-layer network's first training step.
        """
        import tensorflow as tf  # only reached on the TensorFlow backend

        x = ops.cast(inputs, "float32")
        if None in x.shape[:3]:
            n = tf.cast(tf.reduce_prod(tf.shape(x)[:3]), "float32")
            bessel = n / tf.maximum(n - 1.0, 1.0)
        else:
            n = x.shape[0] * x.shape[1] * x.shape[2]
            bessel = n / max(n - 1, 1)
        gamma, beta, mean, variance = self._float32_weights()
        y, moving_mean, moving_variance, *_ = tf.raw_ops.FusedBatchNormV3(
            x=x,
            scale=gamma,
            offset=beta,
            mean=mean,
            variance=variance * bessel,
            epsilon=self.epsilon,
            exponential_avg_factor=1.0 - self.momentum,
            data_format="NHWC",
            is_training=True,
        )
        self.moving_mean.assign(moving_mean)
        self.moving_variance.assign(moving_variance / bessel)
        return ops.cast(y, self.compute_dtype)


# Saved files name it "keras.layers.BatchNormalization", so they load without this package
# (`tests/utils/test_serialization.py` and `tests/training/test_optimizers.py` load them with Keras alone).
save_under_keras_name(BatchNormalization, "keras.layers.BatchNormalization")
