"""Layer settings bound once (conv, BN, ReLU), the two custom layers the paper's
variants need, `PaddedMaxPooling2D` (the stem of `stem_activation="none"`), and
`DropPath` / `DropPathAdd` (stochastic depth, beyond the paper).

Settings follow the authors' Torch code (fb.resnet.torch, resnet-1k-layers), so that
weights trained there, or in ports of it (timm, pytorchcv), load and run identically:

* Convolutions have no bias (every one is next to a BN) and are initialised as in
  He et al., "Delving Deep into Rectifiers" (2015), which [2]'s appendix cites:
  normal with std sqrt(2 / n), n = k * k * filters (the Torch code's fan-out).
* BatchNorm: epsilon 1e-5 and momentum 0.9 (Torch's momentum 0.1 counted the other way).
  The builders' default `norm="fused"` builds
  `keras_preact.models.batch_norm.BatchNormalization`, Keras' layer with the same weights
  and results whose training step and inference run fused TensorFlow kernels;
  `norm="keras"` builds Keras' own layer. The fused one keeps Keras' class name because
  Keras 3 weight files key each layer by its class name (`batch_normalization_7`):
  files written with either class load into both.
* A strided k x k convolution pads k // 2 on every side and then runs "valid". Keras'
  "same" pads only bottom/right when the stride is 2, which shifts every sampled
  position by one pixel relative to Torch. Unstrided convolutions use "same", which
  for odd kernels is the same symmetric padding.
"""

import functools

import keras
import numpy as np
from keras import layers, ops

from keras_preact.models.batch_norm import BatchNormalization
from keras_preact.utils.checks import check_bool, check_choice, check_int, check_rate

# The `norm` choices of the builders: same variables and results, different kernels.
NORMS = {"fused": BatchNormalization, "keras": layers.BatchNormalization}
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
        norm: "fused" for `keras_preact.models.batch_norm.BatchNormalization`
            (fused TensorFlow kernels), "keras" for `keras.layers.BatchNormalization`.
    """

    def __init__(self, data_format=None, norm="fused"):
        check_choice("norm", norm, NORMS)
        self.data_format = data_format or keras.config.image_data_format()
        self.channel_axis = -1 if self.data_format == "channels_last" else 1
        self._conv = functools.partial(
            layers.Conv2D,
            use_bias=False,
            kernel_initializer=CONV_INITIALIZER,
            data_format=self.data_format,
        )
        self.bn = functools.partial(
            NORMS[norm],
            axis=self.channel_axis,
            epsilon=BN_EPSILON,
            momentum=BN_MOMENTUM,
        )
        self.relu = layers.ReLU

    def conv(self, x, filters, kernel_size, strides=1, name=None, kernel_initializer=None):
        """A bias-free convolution padded as in Torch (see the module docstring).

        `kernel_initializer` overrides the He initialisation, e.g. "zeros" for the last
        conv of a residual branch under `zero_init_residual`.
        """
        padding = "same" if strides == 1 else "valid"
        if strides > 1 and kernel_size > 1:
            x = layers.ZeroPadding2D(kernel_size // 2, data_format=self.data_format, name=f"{name}_pad")(x)
        init = {} if kernel_initializer is None else {"kernel_initializer": kernel_initializer}
        return self._conv(filters, kernel_size, strides=strides, padding=padding, name=name, **init)(x)

    def channels(self, x):
        """Number of channels of a symbolic tensor."""
        return x.shape[self.channel_axis]


@keras.saving.register_keras_serializable(package="keras_preact")
class GatedAdd(layers.Layer):
    """Merges a unit's paths through a gate g(x) = sigmoid(W_g x + b_g) ([2], Sec. 3.1).

    Called on `[shortcut, residual, gate]`, where `gate` is already the sigmoid output:

    * exclusive gating (Fig. 2(c)): `(1 - g) * shortcut + g * residual`;
    * shortcut-only gating (Fig. 2(d)): `(1 - g) * shortcut + residual`.

    Args:
        exclusive: True for exclusive gating, False for shortcut-only gating.

    Raises:
        ValueError: if `exclusive` is not True or False.
    """

    def __init__(self, exclusive=True, **kwargs):
        super().__init__(**kwargs)
        self.exclusive = check_bool("exclusive", exclusive)

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

    Raises:
        ValueError: unless `filters` and `strides` are positive ints and
            `data_format` one of the two.
    """

    def __init__(self, filters, strides=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = check_int("filters", filters, minimum=1)
        self.strides = check_int("strides", strides, minimum=1)
        self.data_format = data_format or keras.config.image_data_format()
        check_choice("data_format", self.data_format, ("channels_last", "channels_first"))

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


@keras.saving.register_keras_serializable(package="keras_preact")
class PaddedMaxPooling2D(layers.Layer):
    """Max-pooling with Torch's symmetric padding, where padded positions never win
    (PyTorch's `nn.MaxPool2d(3, 2, padding=1)`, Torch's `SpatialMaxPooling(3, 3, 2, 2, 1, 1)`).

    The default stem pools after its ReLU, where zero padding (`ZeroPadding2D`) gives the
    same result; `stem_activation="none"` pools conv1's raw output, which may be negative,
    so the padding is the dtype's lowest value.

    Args:
        pool_size: window size.
        strides: stride.
        padding: pixels padded on every side.
        data_format: "channels_last" or "channels_first"; None reads the Keras config.
    """

    def __init__(self, pool_size=3, strides=2, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size, self.strides, self.padding = int(pool_size), int(strides), int(padding)
        self.data_format = data_format or keras.config.image_data_format()

    def call(self, inputs):
        p = self.padding
        pad = (
            [[0, 0], [p, p], [p, p], [0, 0]]
            if self.data_format == "channels_last"
            else [[0, 0], [0, 0], [p, p], [p, p]]
        )
        lowest = float(np.finfo(keras.backend.standardize_dtype(inputs.dtype)).min)
        x = ops.pad(inputs, pad, constant_values=lowest)
        return ops.max_pool(x, self.pool_size, self.strides, "valid", self.data_format)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        spatial = (1, 2) if self.data_format == "channels_last" else (2, 3)
        for axis in spatial:
            if shape[axis] is not None:
                shape[axis] = (shape[axis] + 2 * self.padding - self.pool_size) // self.strides + 1
        return tuple(shape)

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
        }


@keras.saving.register_keras_serializable(package="keras_preact")
class DropPath(layers.Layer):
    """Stochastic depth on a residual branch: Huang et al., "Deep Networks with
    Stochastic Depth" (2016), per sample as timm's `DropPath`. Not part of [1] or [2].

    In training, each sample's input is zeroed with probability `rate` and otherwise
    scaled by 1 / (1 - rate), so its expected value is unchanged; at inference the
    layer is the identity. The draws come from `keras.random` with the layer's
    `SeedGenerator`, so it runs on every Keras backend.

    Args:
        rate: the probability of dropping a sample's branch, in [0, 1).
        seed: optional int seed of the layer's random draws.

    Raises:
        ValueError: for a rate outside [0, 1) or a seed that is not None or an int.
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_rate("rate", rate)
        self.seed = None if seed is None else check_int("seed", seed)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        keep = 1.0 - self.rate
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)  # one draw per sample
        kept = keras.random.uniform(shape, seed=self.seed_generator) < keep
        return inputs * (ops.cast(kept, inputs.dtype) / keep)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="keras_preact")
class DropPathAdd(DropPath):
    """A residual unit's addition with stochastic depth: `shortcut + DropPath(residual)`.

    Called on `[shortcut, residual]`; it stands where the unit has its `Add`. As one
    layer it leaves the graph's depths, and so the order of `model.layers`, those of
    the model without drop path. Keras keys the layers of a weights file by class name
    and that order: a separate `DropPath` before the `Add` would put the branch's last
    layers before the shortcut's, and weights files of the standard model would not load.

    Args:
        rate: the probability of dropping a sample's residual, in [0, 1).
        seed: optional int seed of the layer's random draws.
    """

    def call(self, inputs, training=False):
        shortcut, residual = inputs
        return shortcut + super().call(residual, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape[0]
