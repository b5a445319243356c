"""preprocess_input: per-channel normalisation shared by serving and training; with
registered weights, their statistics and no silent ImageNet mean/std for weights that
need others (timm's [-1, 1], pytorchcv's CIFAR statistics); and preprocessing inside the
model (`include_preprocessing=True`)."""

import re
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_preact
from keras_preact import build_resnet, preprocess_input
from keras_preact.data import readers
from keras_preact.export import export_saved_model
from keras_preact.models import includes_preprocessing
from keras_preact.models.preprocessing import DATASET_STATS

from tests.helpers.marks import needs_fashion_mnist

X = np.random.default_rng(0).integers(0, 256, (2, 5, 5, 3), dtype=np.uint8)  # for the registered weights


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


# With registered weights


@pytest.mark.parametrize(
    "model, weights, expected",
    [
        ("PreActResNet50", "imagenet", (X - 127.5) / 127.5),  # timm's a1h: mean = std = 0.5
        ("ResNet50", "imagenet", keras_preact.preprocess_input(X, "imagenet")),  # torchvision's
        ("PreActResNet20", "cifar10", keras_preact.preprocess_input(X, "cifar_pytorchcv")),  # pytorchcv's
    ],
)
def test_registered_weights_pick_their_statistics(model, weights, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = keras_preact.preprocess_input(X, model=model, weights=weights)
    np.testing.assert_allclose(x, expected, rtol=1e-5, atol=1e-6)


def test_without_a_dataset_it_is_imagenet_and_says_so():
    with pytest.warns(UserWarning, match="imagenet_inception"):
        x = keras_preact.preprocess_input(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(x, keras_preact.preprocess_input(X, "imagenet"))


def test_a_dataset_agreeing_with_the_weights_is_accepted():
    x = keras_preact.preprocess_input(X, "imagenet_inception", model="PreActResNet50", weights="imagenet")
    np.testing.assert_allclose(x, (X - 127.5) / 127.5, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "arguments, match",
    [
        (
            dict(dataset="imagenet", model="PreActResNet50", weights="imagenet"),
            r"dataset='imagenet'.*'imagenet_inception'",
        ),
        (dict(model="PreActResNet50"), r"model='PreActResNet50', weights=None; expected both"),
        (dict(weights="imagenet"), r"model=None, weights='imagenet'; expected both"),
        (dict(model="PreActResNet50", weights="cifar10"), r"weights='cifar10'; expected a registered pair"),
        (dict(model=50, weights="imagenet"), r"model=50"),
    ],
)
def test_a_wrong_pair_raises_naming_it(arguments, match):
    with pytest.raises(ValueError, match=match):
        keras_preact.preprocess_input(X, **arguments)


# Inside the model


@pytest.mark.parametrize("dataset", ["imagenet", "cifar10"])
def test_included_preprocessing_equals_preprocess_input(dataset, tmp_path):
    kwargs = dict(depth=8, family="cifar", classes=10) if dataset == "cifar10" else dict(depth=18, classes=10)
    size = 32 if dataset == "cifar10" else 64
    plain = build_resnet(**kwargs, input_shape=(size, size, 3))
    raw_in = build_resnet(**kwargs, input_shape=(size, size, 3), include_preprocessing=True, dataset=dataset)
    raw_in.set_weights(plain.get_weights())  # the normalisation adds no weights
    assert includes_preprocessing(raw_in) and not includes_preprocessing(plain)
    inputs = keras.Input((size, size, 3))
    assert includes_preprocessing(keras.Model(inputs, keras.layers.Dense(2)(raw_in(inputs))))  # nested
    images = np.random.default_rng(1).integers(0, 256, (3, size, size, 3)).astype("float32")
    expected = plain(preprocess_input(images, dataset), training=False)
    np.testing.assert_allclose(raw_in(images, training=False), expected, atol=1e-5, rtol=1e-5)
    # Its SavedModel takes raw images in every signature (normalised once, by the model).
    served = tf.saved_model.load(export_saved_model(raw_in, tmp_path, version=1, dataset="cifar100"))
    for signature, inputs in (("serving_default", images), ("serving_raw", images.astype("uint8"))):
        outputs = served.signatures[signature](images=tf.constant(inputs))
        np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5, rtol=1e-5)


def test_preprocessing_statistics_follow_the_weights_or_the_dataset():
    layer = lambda model: model.get_layer("input_normalization")  # noqa: E731
    model = build_resnet(18, input_shape=(64, 64, 3), include_preprocessing=True)
    np.testing.assert_allclose(np.ravel(layer(model).mean), keras_preact.models.DATASET_STATS["imagenet"][0])
    with pytest.raises(ValueError, match=r"CIFAR-family model must name the statistics"):
        build_resnet(8, family="cifar", include_preprocessing=True)
    with pytest.raises(ValueError, match=r"dataset='cifar10' with include_preprocessing=False"):
        build_resnet(8, family="cifar", dataset="cifar10")
    with pytest.raises(ValueError, match=r"dataset='svhn'"):
        build_resnet(8, family="cifar", include_preprocessing=True, dataset="svhn")
    with pytest.raises(ValueError, match=r"include_preprocessing=1; expected True or False"):
        build_resnet(8, family="cifar", include_preprocessing=1)
    with pytest.raises(ValueError, match=r"dataset='cifar10' with weights='fashion_mnist'.*'fashion_mnist' statistics"):
        keras_preact.PreActResNet20(weights="fashion_mnist", include_preprocessing=True, dataset="cifar10")


@pytest.mark.parametrize(
    "dataset, input_shape",
    [("fashion_mnist", (8, 8, 3)), ("cifar10", (32, 32, 1)), ("imagenet", (8, 8, 1)), ("cifar100", (8, 8, 4))],
)
def test_included_preprocessing_needs_the_statistics_channels(dataset, input_shape):
    """One clear ValueError at build time, naming input_shape, the dataset and its channel
    count: not a model normalising 3 channels with 1-channel statistics, nor a raw
    TensorFlow broadcast error."""
    channels = len(keras_preact.models.DATASET_STATS[dataset][0])
    message = (
        rf"input_shape={re.escape(str(input_shape))}, include_preprocessing=True and dataset='{dataset}': "
        rf"images with {input_shape[-1]} channel.*statistics of '{dataset}' have {channels}"
    )
    with pytest.raises(ValueError, match=message):
        keras_preact.PreActResNet20(input_shape=input_shape, include_preprocessing=True, dataset=dataset)
    with pytest.raises(ValueError, match=message):  # the shape of an input tensor too
        build_resnet(
            20, family="cifar", input_tensor=keras.Input(input_shape), include_preprocessing=True, dataset=dataset
        )
    fitting = (*input_shape[:2], channels)
    model = keras_preact.PreActResNet20(input_shape=fitting, include_preprocessing=True, dataset=dataset)
    assert model.get_layer("input_normalization").mean.shape[-1] == channels


@needs_fashion_mnist
def test_shipped_weights_with_included_preprocessing_take_raw_images():
    images, labels = readers.load_fashion_mnist("test")
    images, labels = images[:1000].astype("float32"), labels[:1000]
    raw_in = keras_preact.PreActResNet20(weights="fashion_mnist", include_preprocessing=True)
    plain = keras_preact.PreActResNet20(weights="fashion_mnist")
    predicted = raw_in.predict(images, batch_size=250, verbose=0).argmax(-1)
    expected = plain.predict(preprocess_input(images, "fashion_mnist"), batch_size=250, verbose=0).argmax(-1)
    assert np.mean(predicted == expected) >= 0.999 and np.mean(predicted == labels) > 0.93
