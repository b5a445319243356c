"""Augmentation and decoding of single images ([1] Sec. 3.4 and 4.2, [2] Sec. 4 and 5).

* CIFAR-style: normalise, pad, random crop, random flip (`cifar_train_transform`).
* ImageNet: scale augmentation or an Inception-style crop for training; resize and
  centre crop for evaluation.

Every random choice takes an explicit stateless seed, so that the pipelines can make
the stream a pure function of (seed, example index).
"""

import tensorflow as tf

from keras_preact.models.preprocessing import preprocess_input
from keras_preact.utils.checks import check_choice, is_integer

CIFAR_PADDING = 4
IMAGENET_SCALE_RANGE = (256, 480)
IMAGENET_CROP = 224
IMAGENET_EVAL_RESIZE = {224: 256, 320: 320}
IMAGENET_AUGMENTS = ("scale", "inception")
_MAGIC = {  # file signature: trailer a complete file ends with
    b"\xff\xd8\xff": b"\xff\xd9",  # JPEG: SOI ... EOI
    b"\x89PNG": b"IEND\xaeB`\x82",  # PNG: ... IEND chunk
}


def decode_image_file(path, channels=3):
    """Reads and decodes a JPEG/PNG file; a file that is not a complete JPEG/PNG
    fails with an error that names it (never silently skipped)."""
    data = tf.io.read_file(path)
    # a complete file has its trailer in its last bytes (some writers pad after it)
    tail = tf.strings.substr(data, tf.maximum(tf.strings.length(data) - 64, 0), 64)
    complete = tf.constant(False)
    for magic, trailer in _MAGIC.items():
        starts = tf.strings.substr(data, 0, len(magic)) == magic
        ends = tf.size(tf.strings.split(tail, sep=trailer)) > 1
        complete = complete | (starts & ends)
    check = tf.debugging.Assert(complete, ["Undecodable image (not a complete JPEG/PNG file):", path])
    with tf.control_dependencies([check]):
        return tf.io.decode_image(data, channels=channels, expand_animations=False)


def _resize_shorter_side(image, size):
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.cast(size, tf.float32) / tf.reduce_min(shape)
    new = tf.cast(tf.round(shape * scale), tf.int32)
    return tf.image.resize(image, new, antialias=True)


def _center_crop(image, size):
    shape = tf.shape(image)
    top, left = (shape[0] - size) // 2, (shape[1] - size) // 2
    return image[top : top + size, left : left + size]


def check_crop_padding(crop_padding, image_size):
    """Raises ValueError unless 0 <= crop_padding < image_size (an integer)."""
    if not is_integer(crop_padding) or not 0 <= crop_padding < image_size:
        raise ValueError(
            f"Received: crop_padding={crop_padding!r}; expected an integer from 0 to {image_size - 1} "
            f"(pixels padded on each side of a {image_size}-pixel image before the random crop)."
        )


def cifar_train_transform(image, seed, stats, padding=CIFAR_PADDING):
    """Normalise, zero-pad, random crop to the input size, random flip ([1], Sec. 4.2)."""
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    image = preprocess_input(image, stats)
    padded = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]])
    image = tf.image.stateless_random_crop(padded, tf.shape(image), crop_seed)
    return tf.image.stateless_random_flip_left_right(image, flip_seed)


def imagenet_train_transform(image, seed, stats, augment="scale", size=IMAGENET_CROP):
    """Scale augmentation of [1], or the Inception-style area+aspect crop."""
    size_seed, crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    if augment == "scale":
        low, high = IMAGENET_SCALE_RANGE
        shorter = tf.random.stateless_uniform([], size_seed, low, high + 1, tf.int32)
        image = _resize_shorter_side(image, shorter)
        image = tf.image.stateless_random_crop(image, [size, size, tf.shape(image)[-1]], crop_seed)
    else:
        begin, crop_size, _ = tf.image.stateless_sample_distorted_bounding_box(
            tf.shape(image),
            tf.zeros([1, 0, 4]),
            crop_seed,
            area_range=(0.08, 1.0),
            aspect_ratio_range=(3 / 4, 4 / 3),
            max_attempts=10,
            use_image_if_no_bounding_boxes=True,
        )
        image = tf.slice(image, begin, crop_size)
        image = tf.image.resize(image, [size, size], antialias=True)
    image = tf.image.stateless_random_flip_left_right(image, flip_seed)
    return preprocess_input(image, stats)


def imagenet_eval_transform(image, stats, crop=IMAGENET_CROP):
    """Resize the shorter side (256 for 224 crops, 320 for the paper's 320 crop) and
    take the centre crop."""
    check_choice("eval_crop", crop, IMAGENET_EVAL_RESIZE)
    image = _center_crop(_resize_shorter_side(image, IMAGENET_EVAL_RESIZE[crop]), crop)
    return preprocess_input(image, stats)
