"""Input pipelines: augmentation, determinism, resume, and the batches of each worker."""

import os

import numpy as np
import pytest
import tensorflow as tf

from keras_preact.data import augmentation, pipelines, sources
from keras_preact.models.preprocessing import preprocess_input

from tests.helpers.cifar_files import write_cifar
from tests.helpers.marks import needs_fashion_mnist


def _take(dataset, count):
    return [tuple(np.asarray(t) for t in batch) for _, batch in zip(range(count), dataset)]


@pytest.fixture(scope="module")
def cifar_source(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("cifar"))
    write_cifar(root, "cifar10", records_per_file=40)
    return sources.load_source("cifar10", "train", root)


def test_cifar_augmentation_shapes_ranges_and_randomness(cifar_source):
    ((train_x, train_y),) = _take(pipelines.make_dataset(cifar_source, "cifar10", training=True, batch_size=200), 1)
    eval_batches = pipelines.make_dataset(cifar_source, "cifar10", training=False, batch_size=64)
    eval_x = np.concatenate([x for x, _ in _take(eval_batches, 10)])
    assert train_x.shape == (200, 32, 32, 3) and train_x.dtype == np.float32 and train_y.dtype == np.int64
    # Evaluation is plain normalisation, in order, the last batch short.
    assert eval_x.shape == (200, 32, 32, 3)
    np.testing.assert_allclose(eval_x, preprocess_input(cifar_source.images, "cifar10"), atol=1e-6)
    # Training crops and flips: the same examples, other pixels; padded pixels are 0 (the mean).
    limits = preprocess_input(np.array([[[[0, 0, 0]]], [[[255, 255, 255]]]], np.uint8), "cifar10")
    assert train_x.min() >= limits.min() - 1e-5 and train_x.max() <= limits.max() + 1e-5
    plain = preprocess_input(cifar_source.images, "cifar10")
    matches = sum(any(np.array_equal(x, p) for p in plain) for x in train_x)
    assert matches < len(train_x) // 2, "augmentation left most images unchanged"
    assert np.mean(train_x == 0) > np.mean(eval_x == 0)
    twice = [_take(pipelines.make_dataset(cifar_source, "cifar10", training=False, batch_size=64), 4) for _ in "ab"]
    for a, b in zip(*twice):
        np.testing.assert_array_equal(a[0], b[0])


def test_training_stream_resumes_exactly_at_a_step(cifar_source):
    make = lambda **kw: pipelines.make_dataset(cifar_source, "cifar10", training=True, batch_size=48, seed=3, **kw)  # noqa: E731
    uninterrupted = _take(make(), 9)  # crosses epochs: 200 examples, 48 a batch
    resumed = _take(make(start_step=6), 3)
    for a, b in zip(uninterrupted[6:], resumed):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    other_seed = _take(pipelines.make_dataset(cifar_source, "cifar10", training=True, batch_size=48, seed=4), 1)
    assert not np.array_equal(other_seed[0][0], uninterrupted[0][0])
    # An epoch visits every example once.
    epoch = np.concatenate([y for _, y in _take(make(), 5)])[:200]
    np.testing.assert_array_equal(np.bincount(epoch, minlength=10), np.bincount(cifar_source.labels, minlength=10))


@pytest.mark.parametrize("workers, replicas", [(2, 2), (2, 4), (4, 4)])
def test_each_worker_gets_the_replica_batches_of_a_one_worker_run(cifar_source, workers, replicas):
    """Replica r of a multi-worker run (worker r // local, local replica r % local) gets
    exactly the examples, in order, that replica r of a one-worker run gets."""
    local, steps = replicas // workers, 7  # 7 steps of 32 cross the 200-example epoch

    def batches(pipelines_count, pipeline_id, count):
        context = tf.distribute.InputContext(pipelines_count, pipeline_id, replicas)
        dataset = pipelines.make_dataset(cifar_source, "cifar10", training=True, batch_size=32, input_context=context)
        return _take(dataset, count)

    one_worker = batches(1, 0, steps * replicas)  # consecutive per-replica batches, replica 0 first
    for worker in range(workers):
        own = batches(workers, worker, steps * local)
        for index, (images, labels) in enumerate(own):
            step, local_replica = divmod(index, local)
            expected = one_worker[step * replicas + worker * local + local_replica]
            np.testing.assert_array_equal(images, expected[0])
            np.testing.assert_array_equal(labels, expected[1])
    with pytest.raises(ValueError, match=r"batch_size=16, which 3 replicas cannot split"):
        pipelines.make_dataset(
            cifar_source, "cifar10", training=True, batch_size=16, input_context=tf.distribute.InputContext(1, 0, 3)
        )


@needs_fashion_mnist
def test_fashion_mnist_pipeline_on_the_real_files():
    source = sources.load_source("fashion_mnist", "test", subset=256)
    ((x, y),) = _take(pipelines.make_dataset(source, "fashion_mnist", training=True, batch_size=256), 1)
    assert x.shape == (256, 28, 28, 1) and set(np.unique(y)) <= set(range(10))
    assert -1.0 < x.min() < -0.7 and 2.0 < x.max() < 2.1  # (0 - 72.94) / 90.02, (255 - 72.94) / 90.02


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(0)
    for c, name in enumerate(["n01", "n02"]):
        os.makedirs(root / name)
        for i, (h, w) in enumerate([(60, 90), (120, 80)]):
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / name / f"{i}.jpg")
        Image.fromarray(rng.integers(0, 256, (70, 70, 3), dtype=np.uint8)).save(root / name / "p.png")
    return str(root)


@pytest.mark.parametrize("augment", augmentation.IMAGENET_AUGMENTS)
def test_imagenet_style_pipeline_from_a_folder(image_folder, augment):
    source = sources.load_source("imagenet", "train", image_folder)
    assert source.size == 6 and list(source.labels) == [0, 0, 0, 1, 1, 1]
    ((x, y),) = _take(
        pipelines.make_dataset(source, "imagenet", training=True, batch_size=6, imagenet_augment=augment), 1
    )
    assert x.shape == (6, 224, 224, 3) and sorted(y) == [0, 0, 0, 1, 1, 1]
    for crop in (224, 320):
        batches = pipelines.make_dataset(source, "imagenet", training=False, batch_size=4, eval_crop=crop)
        assert [b[0].shape for b in _take(batches, 3)] == [(4, crop, crop, 3), (2, crop, crop, 3)]


def test_undecodable_images_are_reported_by_name(image_folder, tmp_path):
    import shutil

    root = tmp_path / "bad"
    shutil.copytree(image_folder, root)
    data = (root / "n02" / "1.jpg").read_bytes()
    (root / "n02" / "1.jpg").write_bytes(data[: len(data) // 2])
    source = sources.load_source("imagenet", "train", str(root))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"n02/1.jpg"):
        _take(pipelines.make_dataset(source, "imagenet", training=False, batch_size=6), 1)
    (root / "n02" / "1.jpg").write_bytes(b"not an image at all")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Undecodable image.*n02/1.jpg"):
        _take(pipelines.make_dataset(source, "imagenet", training=False, batch_size=6), 1)


@pytest.mark.parametrize("padding", [0, 2])
def test_crop_padding_bounds_the_shift_of_each_crop(padding):
    source = sources.load_source("synthetic_cifar", synthetic_size=8)
    ((train_x, _),) = _take(
        pipelines.make_dataset(source, "synthetic_cifar", training=True, batch_size=8, crop_padding=padding), 1
    )
    plain = np.pad(preprocess_input(source.images, "cifar10"), [(0, 0), (padding,) * 2, (padding,) * 2, (0, 0)])
    offsets = [(dy, dx) for dy in range(2 * padding + 1) for dx in range(2 * padding + 1)]
    found = []
    for x in train_x:
        candidates = [
            (dy, dx)
            for p in plain
            for dy, dx in offsets
            for view in (x, x[:, ::-1])
            if np.allclose(view, p[dy : dy + 32, dx : dx + 32], atol=1e-6)
        ]
        assert candidates, f"a crop is not a shift of at most {padding} pixels of a training image"
        found.append(candidates[0])
    if padding:
        assert any(offset != (padding, padding) for offset in found), "no crop was shifted"
    with pytest.raises(ValueError, match=r"crop_padding=32; expected an integer from 0 to 31"):
        pipelines.make_dataset(source, "synthetic_cifar", training=True, batch_size=8, crop_padding=32)


def test_tfds_stream_order_ignores_the_global_seed_even_zero(tmp_path):
    """A stream's epoch order is a function of (seed, epoch) alone; a global seed of 0 once
    made the shuffle fail (a tensor op seed compared with (0, 0) by tf.random.get_seed)."""
    tfds = pytest.importorskip("tensorflow_datasets")
    orders = []
    with tfds.testing.mock_data(num_examples=6):
        source = sources.load_source("imagenet", "train", str(tmp_path), manual_dir=str(tmp_path / "manual"))
        for global_seed in (None, 0, 7):
            tf.random.set_seed(global_seed)
            orders.append(_take(pipelines.make_dataset(source, "imagenet", training=True, batch_size=3), 2))
    tf.random.set_seed(None)
    for other in orders[1:]:
        for (x, y), (x2, y2) in zip(orders[0], other):
            np.testing.assert_array_equal(y, y2)
            np.testing.assert_array_equal(x, x2)


def test_imagenet_through_tfds_streams_and_resumes(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=6):
        source = sources.load_source("imagenet", "train", str(tmp_path), manual_dir=str(tmp_path / "manual"))
        assert source.stream is not None and source.size == 6
        make = lambda **kw: pipelines.make_dataset(source, "imagenet", training=True, batch_size=4, **kw)  # noqa: E731
        uninterrupted = _take(make(), 3)
        resumed = _take(make(start_step=2), 1)
        evaluation = _take(pipelines.make_dataset(source, "imagenet", training=False, batch_size=4), 3)
    assert uninterrupted[0][0].shape == (4, 224, 224, 3) and uninterrupted[0][1].max() < 1000
    np.testing.assert_array_equal(uninterrupted[2][0], resumed[0][0])
    assert [x.shape[0] for x, _ in evaluation] == [4, 2]
