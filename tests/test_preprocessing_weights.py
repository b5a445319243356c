"""`preprocess_input` with registered weights: their statistics, and no silent ImageNet
mean/std for weights that need others (timm's [-1, 1], pytorchcv's CIFAR statistics)."""

import warnings

import numpy as np
import pytest

import keras_preact

X = np.random.default_rng(0).integers(0, 256, (2, 5, 5, 3), dtype=np.uint8)


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
