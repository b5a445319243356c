"""Layer settings bound once, the BatchNormalization the builders use, and the two
custom layers the paper's variants need.

Settings follow the authors' Torch code (fb.resnet.torch, resnet-1k-layers), so that
weights trained there, or in ports of it (timm, pytorchcv), load and run identically:

* Convolutions have no bias (every one is next to a BN) and are initialised as in
  He et al., "Delving Deep into Rectifiers" (2015), which [2]'s appendix cites:
  normal with std sqrt(2 / n), n = k * k * filters (the Torch code's fan-out).
* BatchNorm: epsilon 1e-5 and momentum 0.9 (Torch's momentum 0.1 counted the other way).
  `keras_preact.layers.BatchNormalization` is Keras' layer with the same weights and the
  same results; on the TensorFlow backend its training step, and its inference after a
  convolution, run TensorFlow's fused kernel. It keeps Keras' class name because Keras 3
  weight files key each layer by its class name (`batch_normalization_7`): files written
  with either class load into both.
* A strided k x k convolution pads k // 2 on every side and then runs "valid". Keras'
  "same" pads only bottom/right when the stride is 2, which shifts every sampled
  position by one pixel relative to Torch. Unstrided convolutions use "same", which
  for odd kernels is the same symmetric padding.
"""

import functools

import keras
from keras import layers, ops

BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9

# He et al. 2015 as in fb.resnet.torch: std = sqrt(2 / (k * k * filters)).
CONV_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "untruncated_normal"},
}


class LayerFactory:
    """Builds the conv, BN and ReLU layers of a network with its settings bound once.

    Args:
        data_format: "channels_last" or "channels_first"; None reads
            `keras.config.image_data_format()`.
    """

    def __init__(self, data_format=None):
        self.data_format = data_format or keras.config.image_data_format()
        self.channel_axis = -1 if self.data_format == "channels_last" else 1
        self._conv = functools.partial(
            layers.Conv2D,
            use_bias=False,
            kernel_initializer=CONV_INITIALIZER,
            data_format=self.data_format,
        )
        self.bn = functools.partial(
            BatchNormalization,
            axis=self.channel_axis,
            epsilon=BN_EPSILON,
            momentum=BN_MOMENTUM,
        )
        self.relu = layers.ReLU

    def conv(self, x, filters, kernel_size, strides=1, name=None):
        """A bias-free convolution padded as in Torch (see the module docstring)."""
        padding = "same" if strides == 1 else "valid"
        if strides > 1 and kernel_size > 1:
            x = layers.ZeroPadding2D(kernel_size // 2, data_format=self.data_format, name=f"{name}_pad")(x)
        return self._conv(filters, kernel_size, strides=strides, padding=padding, name=name)(x)

    def channels(self, x):
        """Number of channels of a symbolic tensor."""
        return x.shape[self.channel_axis]


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
      `offset = beta - moving_mean * scale`, written as a 1x1 depthwise convolution
      with the kernel `scale` and the bias `offset`. With oneDNN (TF's default on
      x86 Linux), Grappler fuses it with the ReLU after it into one
      `_FusedDepthwiseConv2dNative`: one pass over the activations instead of three
      (multiply, add, ReLU), with the same values (without oneDNN the ops stay
      separate and run about as fast as Keras' ops). PreActResNet50
      inference on a 2-core AVX-512 CPU was about 4.5% faster than with Keras' ops
      there and about 2% faster than with `FusedBatchNormV3` (README, Benchmarks).

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
        if producer is not None:
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


@keras.saving.register_keras_serializable(package="keras_preact")
class GatedAdd(layers.Layer):
    """Merges a unit's paths through a gate g(x) = sigmoid(W_g x + b_g) ([2], Sec. 3.1).

    Called on `[shortcut, residual, gate]`, where `gate` is already the sigmoid output:

    * exclusive gating (Fig. 2(c)): `(1 - g) * shortcut + g * residual`;
    * shortcut-only gating (Fig. 2(d)): `(1 - g) * shortcut + residual`.

    Args:
        exclusive: True for exclusive gating, False for shortcut-only gating.
    """

    def __init__(self, exclusive=True, **kwargs):
        super().__init__(**kwargs)
        self.exclusive = bool(exclusive)

    def call(self, inputs):
        shortcut, residual, gate = inputs
        if self.exclusive:
            residual = gate * residual
        return (1.0 - gate) * shortcut + residual

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "exclusive": self.exclusive}


@keras.saving.register_keras_serializable(package="keras_preact")
class ZeroPadShortcut(layers.Layer):
    """Parameter-free shortcut for a unit that changes shape: option A of [1], Sec. 3.3.

    Subsamples the input with the unit's stride (Torch: 1x1 average pooling with that
    stride) and appends zero channels up to `filters` (Torch: concatenation with the
    input multiplied by zero).

    Args:
        filters: output channels, at least the input's.
        strides: spatial stride.
        data_format: "channels_last" or "channels_first"; None reads the Keras config.
    """

    def __init__(self, filters, strides=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.strides = int(strides)
        self.data_format = data_format or keras.config.image_data_format()

    def _channel_axis(self):
        return 3 if self.data_format == "channels_last" else 1

    def call(self, inputs):
        s = self.strides
        if self.data_format == "channels_last":
            x = inputs[:, ::s, ::s, :]
        else:
            x = inputs[:, :, ::s, ::s]
        pad = [[0, 0]] * 4
        pad[self._channel_axis()] = [0, self.filters - inputs.shape[self._channel_axis()]]
        return ops.pad(x, pad)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        spatial = (1, 2) if self.data_format == "channels_last" else (2, 3)
        for axis in spatial:
            if shape[axis] is not None:
                shape[axis] = -(-shape[axis] // self.strides)
        shape[self._channel_axis()] = self.filters
        return tuple(shape)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "strides": self.strides,
            "data_format": self.data_format,
        }
