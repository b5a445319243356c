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

Batches are per replica (`input_context.get_per_replica_batch_size`), and each input
pipeline takes its contiguous block of every global batch (`input_context.
input_pipeline_id`), as `MirroredStrategy` splits a batch between its replicas; the
functions plug into `strategy.distribute_datasets_from_function`.
"""

import contextlib

import numpy as np
import tensorflow as tf

from keras_preact.data.augmentation import (
    CIFAR_PADDING,
    IMAGENET_AUGMENTS,
    IMAGENET_CROP,
    check_crop_padding,
    cifar_train_transform,
    decode_image_file,
    imagenet_eval_transform,
    imagenet_train_transform,
)
from keras_preact.data.readers import DataError
from keras_preact.data.sources import get_dataset_info
from keras_preact.models.preprocessing import preprocess_input
from keras_preact.utils.checks import check_choice

AUTOTUNE = tf.data.AUTOTUNE


@contextlib.contextmanager
def reading(what):
    """Turns the error of a batch that cannot be read or decoded (raised by TensorFlow
    while a step pulls it from a pipeline) into a `DataError` naming `what`."""
    try:
        yield
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError, tf.errors.DataLossError) as e:
        raise DataError(f"Could not read {what}: {e.message.strip().splitlines()[0]}") from e


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
        records = _shard_blocks(_stream_records(source, seed, start, training), batch_size, context)
    else:
        indices = (
            _index_stream(source.size, seed, start, shuffle=True) if training else tf.data.Dataset.range(source.size)
        )
        records = _shard_blocks(indices.enumerate(start), batch_size, context).map(_record_reader(source))

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


def _shard_blocks(records, batch_size, context):
    """This pipeline's share of each global batch: its contiguous block of
    `batch_size / num_input_pipelines` records, the block that `MirroredStrategy` gives
    the same replicas from one pipeline (replica r takes the r-th contiguous slice). So a
    run on W workers computes on each replica the examples of a one-worker run with the
    same replicas, not every W-th example (docs/training.md, "Multi-worker")."""
    pipelines = context.num_input_pipelines
    if pipelines == 1:
        return records
    return records.batch(batch_size // pipelines).shard(pipelines, context.input_pipeline_id).unbatch()


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
