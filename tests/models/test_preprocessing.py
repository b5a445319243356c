"""preprocess_input: per-channel normalisation shared by serving and training."""

import numpy as np
import pytest
import tensorflow as tf

from keras_preact import preprocess_input
from keras_preact.models.preprocessing import DATASET_STATS


@pytest.mark.parametrize("dataset", sorted(DATASET_STATS))
def test_normalises_with_the_datasets_statistics(dataset):
    mean, std = (np.asarray(v, "float32") for v in DATASET_STATS[dataset])
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (2, 4, 4, mean.size)).astype("uint8")
    out = preprocess_input(x, dataset)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_allclose(out, (x.astype("float32") - mean) / std, rtol=1e-6)
    tensor_out = preprocess_input(tf.constant(x), dataset)
    assert tensor_out.dtype == tf.float32
    np.testing.assert_allclose(tensor_out, out, rtol=1e-6)
    first = preprocess_input(np.moveaxis(x, -1, 1), dataset, data_format="channels_first")
    np.testing.assert_allclose(np.moveaxis(first, 1, -1), out, rtol=1e-6)


def test_statistics_of_the_fashion_mnist_training_set_are_recorded():
    """The recorded mean/std are those of the 60,000 training images (Debian package)."""
    import gzip
    import pathlib

    path = pathlib.Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
    if not path.exists():
        pytest.skip("dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
    pixels = np.frombuffer(gzip.decompress(path.read_bytes()), np.uint8, offset=16).astype("float64")
    (mean,), (std,) = DATASET_STATS["fashion_mnist"]
    assert pixels.size == 60000 * 28 * 28
    assert abs(pixels.mean() - mean) < 0.01 and abs(pixels.std() - std) < 0.01


@pytest.mark.parametrize(
    "args, message",
    [
        ((np.zeros((1, 4, 4, 3)), "svhn"), r"dataset='svhn'; expected one of"),
        ((np.zeros((1, 4, 4, 1)), "imagenet"), r"x of shape \(1, 4, 4, 1\) and dataset='imagenet'.*have 3"),
        ((np.zeros((1, 4, 4, 3)), "fashion_mnist"), r"x of shape \(1, 4, 4, 3\).*3 channel.*have 1"),
        ((np.zeros((4, 4)), "fashion_mnist"), r"x of shape \(4, 4\); expected images of rank 3"),
        ((None,), r"x=None; expected images"),
        (("images",), r"x='images'; expected images"),
        (([[1, 2], [3]],), r"x=\[\[1, 2\], \[3\]\]; expected images"),
        ((np.zeros((1, 4, 4, 3)), ["cifar10"]), r"dataset=\['cifar10'\]; expected one of"),
        ((np.zeros((1, 4, 4, 3)), "cifar10", ["channels_last"]), r"data_format=\['channels_last'\]"),
    ],
)
def test_errors(args, message):
    with pytest.raises(ValueError, match=message):
        preprocess_input(*args)
    with pytest.raises(ValueError, match=r"data_format='NHWC'"):
        preprocess_input(np.zeros((1, 4, 4, 3)), data_format="NHWC")


@pytest.mark.parametrize("dataset", ["cifar10", "fashion_mnist"])
def test_channel_count_must_match_the_statistics(dataset):
    """A clear ValueError naming x, the dataset and its channel count, for arrays and
    tensors, one image or a batch, channels last or first; never a broadcast error."""
    channels = len(DATASET_STATS[dataset][0])
    other = 1 if channels == 3 else 3
    message = rf"x of shape .* and dataset='{dataset}': images with {other} channel.*have {channels}"
    for x, data_format in (
        (np.zeros((2, 5, 5, other)), "channels_last"),
        (tf.zeros((5, 5, other)), "channels_last"),
        (np.zeros((2, other, 5, 5)), "channels_first"),
        (np.zeros((other, 5, 5)), "channels_first"),  # one image: its channel axis is the first
    ):
        with pytest.raises(ValueError, match=message):
            preprocess_input(x, dataset, data_format)
    # the channels-first image (channels, 5, 5) with the right count passes
    assert preprocess_input(np.zeros((channels, 5, 6)), dataset, "channels_first").shape == (channels, 5, 6)
    assert preprocess_input([[[[0] * channels]]], dataset).shape == (1, 1, 1, channels)  # nested lists
