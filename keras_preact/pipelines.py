"""tf.data input pipelines with the augmentation of the paper ([2], Sec. 4 and 5).

* CIFAR-style (CIFAR-10/100, Fashion-MNIST): per-channel normalisation with
  `preprocess_input`, 4 zero pixels padded on each side, a random crop back to the
  image size and a random horizontal flip ([1], Sec. 4.2). The padding is applied
  after normalisation, as in fb.resnet.torch, so a padded pixel is the mean.
  `crop_padding` changes the 4 (0: flips only).
* ImageNet: scale augmentation ([1], Sec. 3.4): the shorter side resized to a random
  length in [256, 480], a random 224x224 crop and a flip. `imagenet_augment=
  "inception"` instead crops a random 8-100% of the area with aspect ratio in
  [3/4, 4/3] and resizes it to 224. Evaluation resizes the shorter side to 256 and
  takes the centre 224 crop; `eval_crop=320` gives the paper's 320x320 single crop
  (shorter side resized to 320, [2] Table 5).

Every random choice is a stateless function of (seed, the global index of the
example), and the order of an epoch is a stateless permutation of (seed, epoch). The
stream is therefore a pure function of the seed: a run restarted at step s rebuilds
it with `start_step=s` and continues with exactly the examples and crops the
uninterrupted run would have seen, on any number of workers. (TF 2.21 cannot
checkpoint a `tf.distribute` iterator, and a checkpointed buffer of decoded ImageNet
batches would be gigabytes; the step counter in the checkpoint is all it takes.)

Batches are per replica (`input_context.get_per_replica_batch_size`), index
streams are sharded by `input_context.input_pipeline_id`, so the functions plug into
`strategy.distribute_datasets_from_function`.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from keras_preact import datasets
from keras_preact.checks import check_choice
from keras_preact.preprocessing import preprocess_input

AUTOTUNE = tf.data.AUTOTUNE
CIFAR_PADDING = 4
IMAGENET_SCALE_RANGE = (256, 480)
IMAGENET_CROP = 224
IMAGENET_EVAL_RESIZE = {224: 256, 320: 320}
IMAGENET_AUGMENTS = ("scale", "inception")
_MAGIC = {  # file signature: trailer a complete file ends with
    b"\xff\xd8\xff": b"\xff\xd9",  # JPEG: SOI ... EOI
    b"\x89PNG": b"IEND\xaeB`\x82",  # PNG: ... IEND chunk
}


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a dataset name means: augmentation family, image shape, classes and the
    `preprocess_input` statistics."""

    style: str  # "cifar" or "imagenet"
    image_shape: tuple
    classes: int
    stats: str
    eval_split: str = "test"


DATASETS = {
    "cifar10": DatasetInfo("cifar", (32, 32, 3), 10, "cifar10"),
    "cifar100": DatasetInfo("cifar", (32, 32, 3), 100, "cifar100"),
    "fashion_mnist": DatasetInfo("cifar", (28, 28, 1), 10, "fashion_mnist"),
    "imagenet": DatasetInfo("imagenet", (224, 224, 3), 1000, "imagenet", eval_split="validation"),
    "synthetic_cifar": DatasetInfo("cifar", (32, 32, 3), 10, "cifar10"),
    "synthetic_imagenet": DatasetInfo("imagenet", (224, 224, 3), 1000, "imagenet"),
}


@dataclasses.dataclass
class Source:
    """Examples addressable by index: in-memory `images`, or image file `paths`; or a
    `stream` of (encoded bytes, label) that can only be read in order (tfds ImageNet)."""

    labels: np.ndarray = None
    images: np.ndarray = None
    paths: list = None
    stream: tf.data.Dataset = None
    size: int = 0

    def __post_init__(self):
        if not self.size:
            self.size = len(self.labels)


def get_dataset_info(name):
    check_choice("dataset", name, DATASETS)
    return DATASETS[name]


def load_source(name, split="train", data_dir=None, subset=None, seed=0, manual_dir=None, synthetic_size=1024):
    """Reads a dataset split into a `Source`.

    Args:
        name: one of `DATASETS`.
        split: "train" or "test" ("validation" is accepted for ImageNet's).
        data_dir: the dataset's directory (see `keras_preact.datasets`); for
            ImageNet a folder of class sub-directories, or tfds's data_dir when
            `manual_dir` is given. None: CIFAR through tfds, Fashion-MNIST from
            Debian's directory.
        subset: keep this many examples (a seeded random choice), for quick runs.
        manual_dir: tfds imagenet2012's manual download directory.
        synthetic_size: examples of the synthetic datasets.
    """
    info = get_dataset_info(name)
    if split not in ("train", "test", "validation"):
        raise ValueError(f"Received: split={split!r}; expected 'train' or 'test'.")
    if name.startswith("synthetic"):
        seed_offset = 0 if split == "train" else 1
        images, labels = datasets.synthetic_images(synthetic_size, info.image_shape, info.classes, seed + seed_offset)
        source = Source(labels, images=images)
    elif name == "fashion_mnist":
        source = Source(*reversed(datasets.load_fashion_mnist(_train_or_test(split), data_dir)))
    elif name in datasets.CIFAR_BINARY:
        images, labels = datasets.load_cifar(name, _train_or_test(split), data_dir)
        source = Source(labels, images=images)
    elif manual_dir is not None:
        tfds_split = "train" if split == "train" else "validation"
        stream, size = datasets.load_imagenet_tfds(tfds_split, data_dir, manual_dir)
        return Source(stream=stream, size=size)
    else:
        if data_dir is None:
            raise ValueError("dataset='imagenet' needs data_dir (an image folder) or manual_dir (tfds imagenet2012).")
        paths, labels, _ = datasets.list_image_folder(data_dir)
        source = Source(labels, paths=paths)
    if subset is not None and subset < source.size:
        keep = np.sort(np.random.default_rng(seed).permutation(source.size)[:subset])
        source = Source(
            source.labels[keep],
            images=None if source.images is None else source.images[keep],
            paths=None if source.paths is None else [source.paths[i] for i in keep],
        )
    return source


def _train_or_test(split):
    return "train" if split == "train" else "test"


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
    if isinstance(crop_padding, bool) or not isinstance(crop_padding, int) or not 0 <= crop_padding < image_size:
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


def _index_stream(size, seed, start, shuffle):
    """Example indices from global position `start` on: epoch e is a stateless
    permutation of (seed, e) (the identity order without `shuffle`)."""
    first_epoch, offset = divmod(start, size)

    def epoch(e):
        order = tf.range(size, dtype=tf.int64)
        if shuffle:
            order = tf.random.experimental.stateless_shuffle(order, seed=tf.stack([tf.constant(seed, tf.int64), e]))
        return tf.data.Dataset.from_tensor_slices(order)

    return tf.data.Dataset.range(first_epoch, np.iinfo(np.int64).max).flat_map(epoch).skip(offset)


def make_dataset(
    source,
    dataset,
    *,
    training,
    batch_size,
    seed=0,
    start_step=0,
    input_context=None,
    imagenet_augment="scale",
    eval_crop=IMAGENET_CROP,
    crop_padding=CIFAR_PADDING,
    deterministic=True,
):
    """Builds the (images, labels) batches of one input pipeline.

    Args:
        source: a `Source` from `load_source`.
        dataset: the dataset name (augmentation and statistics).
        training: True: an endless, shuffled, augmented stream with full batches;
            False: one ordered pass, centre crops, the last batch may be short.
        batch_size: the *global* batch size; each pipeline yields per-replica batches.
        seed: the data seed (order and augmentation).
        start_step: training step to start at (resuming); the stream skips
            `start_step * batch_size` examples without decoding them.
        input_context: a `tf.distribute.InputContext`, or None for one replica.
        imagenet_augment: "scale" or "inception".
        eval_crop: 224 or 320 (ImageNet evaluation).
        crop_padding: pixels padded on each side before the random crop (CIFAR-style
            datasets; the paper's 4 by default, 0 for flips only).
        deterministic: keep the element order of parallel maps (needed for exact resume).

    Raises:
        ValueError: for unknown options, or a batch size the replicas cannot split.
    """
    info = get_dataset_info(dataset)
    check_choice("imagenet_augment", imagenet_augment, IMAGENET_AUGMENTS)
    check_crop_padding(crop_padding, info.image_shape[0])
    context = input_context or tf.distribute.InputContext()
    if batch_size % context.num_replicas_in_sync:
        raise ValueError(
            f"Received: batch_size={batch_size}, which {context.num_replicas_in_sync} replicas cannot split "
            "evenly; use a multiple of the number of replicas."
        )
    per_replica = context.get_per_replica_batch_size(batch_size)
    start = start_step * batch_size if training else 0

    if source.stream is not None:
        records = _stream_records(source, seed, start, training)
    else:
        indices = (
            _index_stream(source.size, seed, start, shuffle=True) if training else tf.data.Dataset.range(source.size)
        )
        records = indices.enumerate(start).map(_record_reader(source))
    records = records.shard(context.num_input_pipelines, context.input_pipeline_id)

    if info.style == "cifar":
        train_fn = lambda image, s: cifar_train_transform(image, s, info.stats, crop_padding)  # noqa: E731
        eval_fn = lambda image: preprocess_input(image, info.stats)  # noqa: E731
    else:
        train_fn = lambda image, s: imagenet_train_transform(image, s, info.stats, imagenet_augment)  # noqa: E731
        eval_fn = lambda image: imagenet_eval_transform(image, info.stats, eval_crop)  # noqa: E731

    def transform(counter, image, label):
        if source.images is None:
            image = (
                decode_image_file(image, info.image_shape[-1])
                if source.paths
                else tf.io.decode_image(image, channels=info.image_shape[-1], expand_animations=False)
            )
        if training:
            image = train_fn(image, tf.stack([tf.constant(seed, tf.int64), counter]))
        else:
            image = eval_fn(image)
        return tf.ensure_shape(image, (None, None, info.image_shape[-1])), label

    ds = records.map(transform, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    ds = ds.batch(per_replica, drop_remainder=training).prefetch(AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = deterministic
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options)


def _record_reader(source):
    labels = tf.constant(source.labels, tf.int64)
    if source.images is not None:
        images = tf.constant(source.images)
        return lambda counter, i: (counter, tf.gather(images, i), tf.gather(labels, i))
    paths = tf.constant(source.paths)
    return lambda counter, i: (counter, tf.gather(paths, i), tf.gather(labels, i))


def _stream_records(source, seed, start, training):
    """A source read in order: each epoch shuffles through a 10,000-record buffer
    seeded by (seed, epoch). Resuming skips the encoded records of the current epoch."""
    if not training:
        return source.stream.enumerate().map(lambda c, r: (c, r[0], r[1]))
    first_epoch, offset = divmod(start, source.size)

    def epoch(e):
        # The op seed is a tensor here; tf.random.get_seed compares (graph seed, op seed) with
        # (0, 0), which fails on a tensor when the graph seed is 0 (tf.random.set_seed(0)). A
        # fixed graph seed for this function's trace avoids that and makes the order depend on
        # (seed, epoch) alone, not on the caller's global seed.
        tf.random.set_seed(1)
        return source.stream.shuffle(10_000, seed=seed * 1_000_003 + e, reshuffle_each_iteration=False)

    records = tf.data.Dataset.range(first_epoch, np.iinfo(np.int64).max).flat_map(epoch).skip(offset)
    return records.enumerate(start).map(lambda c, r: (c, r[0], r[1]))
