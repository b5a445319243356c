"""The publishers' evaluation transforms, as TensorFlow ops: from a uint8 image of any
size to the input a registered weight was evaluated with.

Follows torchvision's `ResNet50_Weights.IMAGENET1K_V1.transforms()` (resize the
shorter side to 256, 232 for IMAGENET1K_V2; bilinear with antialiasing; center crop
224 with offsets `int(round((size - crop) / 2))`; /255; mean/std) and timm's
`create_transform(**resolve_data_config({}, model=...))` (resize the shorter side to
`floor(size / crop_pct)`, bicubic with antialiasing as PIL does; the same center
crop; mean/std). Both resize uint8 images to uint8 (PIL, or torch's uint8 kernels),
so the resized image is rounded and clipped to [0, 255] here too. Weights without a
stated resize (the shipped ones, pytorchcv's CIFAR weights) take images at their
input size: the resize is then the identity.

fb.resnet.torch's ResNet-200 evaluated with `image.scale(..., 'bicubic')` of Lua
Torch (no antialiasing, float images) and a center crop offset of
`ceil((size - crop) / 2)`: this transform uses antialiased bicubic and rounded
offsets for it, which is not the same resize (docs/using-the-models.md).

TensorFlow is imported on the first call only: the builders of this layer run on
every Keras backend without it.
"""

import math

from keras_preact.models.preprocessing import registered_weights
from keras_preact.utils.checks import is_integer, shown


def resize_and_crop_sizes(info, size=None):
    """The (shorter-side resize, crop) sizes of `info`'s evaluation at `size`.

    Follows timm's `transforms_imagenet_eval`: `floor(size / crop_pct)`, with the
    publisher's test-size `crop_pct` at its test size (timm's `test_crop_pct`).

    Raises:
        ValueError: for a `size` that is not None or a positive int.
    """
    crop = info.input_shape[0]
    if size is not None and not (is_integer(size) and not isinstance(size, bool) and size > 0):
        raise ValueError(f"Received: size={shown(size)}; expected None or a positive int, e.g. {crop}.")
    if size is None or size == crop:
        return (info.resize_size or crop), crop
    crop_pct = info.test_crop_pct if size == info.test_size else info.crop_pct
    return math.floor(size / (crop_pct or 1.0)), int(size)


def eval_transform(model, weights, size=None, normalize=True):
    """The publisher's evaluation transform of registered weights.

    Args:
        model: a registered model name, e.g. "PreActResNet50".
        weights: its registered weights name, e.g. "imagenet" (`list_weights(model)`).
        size: the side of the square model input; None for the publisher's
            evaluation size (`input_shape`). At the publisher's test size
            (`WeightsInfo.test_size`, 288 for timm's a1h weights) the crop share is
            its test one (timm's `test_crop_pct`, 1.0); at other sizes the resize is
            `floor(size / crop_pct)`, as timm's `resolve_data_config` does.
        normalize: True to apply the weights' statistics; False for the resize and
            crop alone (float32 in [0, 255]), the input of a model built with
            `include_preprocessing=True`, which normalises it itself (normalising
            here too would do it twice).

    Returns:
        A function of uint8 images, one `(H, W, C)` or a batch `(N, H, W, C)` of one
        size (a NumPy array or a tensor, in tf.data too), with the channels of the
        weights (RGB, or grey for one-channel weights), returning float32
        `(size, size, C)` (or `(N, size, size, C)`) normalised with the weights'
        statistics (`preprocess_input(x, info.preprocessing)`) unless
        `normalize=False`: a NumPy array for NumPy input, else a tensor.

    Raises:
        ValueError: for an unregistered (model, weights) pair, a bad `size` or
            `normalize`.
    """
    if not isinstance(normalize, bool):
        raise ValueError(f"Received: normalize={shown(normalize)}; expected True or False.")
    return transform_of(registered_weights(model, weights), size, normalize)


def transform_of(info, size=None, normalize=True):
    """`eval_transform` of a `WeightsInfo`, registered or not (a weights file's
    stated resize, crop and statistics); `normalize=False` leaves out the mean/std
    step (for a model that normalises its [0, 255] inputs itself)."""
    resize, crop = resize_and_crop_sizes(info, size)
    method = info.interpolation or "bilinear"  # tf.image.resize's names: "bilinear", "bicubic"
    mean, std = (info.mean, info.std) if normalize else (0.0, 1.0)
    channels = info.input_shape[2]

    def transform(images):
        import numpy as np
        import tensorflow as tf

        x = _checked(tf, images, channels)
        single = x.shape.rank == 3
        x = x[None] if single else x
        x = _center_crop(tf, _resize_shorter_side(tf, x, resize, method), crop)
        x = (x - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)
        x = x[0] if single else x
        return x.numpy() if isinstance(images, np.ndarray) else x

    return transform


def _checked(tf, images, channels):
    """`images` as a uint8 tensor of rank 3 or 4 with `channels` channels."""
    x = tf.convert_to_tensor(images)
    if x.dtype != tf.uint8 or x.shape.rank not in (3, 4) or x.shape[-1] not in (channels, None):
        raise ValueError(
            f"Received: images of shape {tuple(x.shape)} and dtype {x.dtype.name}; expected uint8 images "
            f"(H, W, {channels}) or a batch (N, H, W, {channels}) with values in [0, 255]."
        )
    return x


def _resize_shorter_side(tf, x, resize, method):
    """Resizes the shorter side of the batch `x` to `resize`, the longer to
    `int(resize * long / short)` (torchvision's `_compute_resized_output_size`),
    antialiased as PIL, then rounds and clips to [0, 255] as uint8 kernels do."""
    height, width = tf.shape(x)[1], tf.shape(x)[2]
    short = tf.minimum(height, width)
    new_height = tf.where(height <= width, resize, resize * height // short)
    new_width = tf.where(height <= width, resize * width // short, resize)

    def resized():
        y = tf.image.resize(x, tf.stack([new_height, new_width]), method=method, antialias=True)
        return tf.clip_by_value(tf.round(y), 0.0, 255.0)

    same = tf.logical_and(tf.equal(new_height, height), tf.equal(new_width, width))
    return tf.cond(same, lambda: tf.cast(x, tf.float32), resized)


def _center_crop(tf, x, crop):
    """The central `crop` x `crop` of the batch `x`, offsets `round((side - crop) / 2)`
    (half to even, as torchvision's `center_crop` rounds with Python's `round`)."""
    height, width = tf.shape(x)[1], tf.shape(x)[2]
    top = tf.cast(tf.round(tf.cast(height - crop, tf.float64) / 2), tf.int32)
    left = tf.cast(tf.round(tf.cast(width - crop, tf.float64) / 2), tf.int32)
    x = x[:, top : top + crop, left : left + crop, :]
    return tf.ensure_shape(x, [None, crop, crop, x.shape[-1]])
