"""The model as a backbone: feature pyramids, and preprocessing inside the model."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_preact
from keras_preact import build_resnet, feature_extractor
from keras_preact.data import readers
from keras_preact.export import export_saved_model
from keras_preact.models import includes_preprocessing, preprocess_input

from tests.helpers.marks import needs_fashion_mnist

# (builder arguments, input size, {level: (stride, layer name)})
PYRAMIDS = {
    "v2_imagenet": (dict(depth=18, version=2), 64, {
        "P1": (2, "conv1_relu"), "P2": (4, "stage1_unit2_add"), "P3": (8, "stage2_unit2_add"),
        "P4": (16, "stage3_unit2_add"), "P5": (32, "stage4_unit2_add")}),
    "v1_imagenet": (dict(depth=18, version=1), 64, {
        "P1": (2, "conv1_relu"), "P2": (4, "stage1_unit2_out_relu"), "P3": (8, "stage2_unit2_out_relu"),
        "P4": (16, "stage3_unit2_out_relu"), "P5": (32, "stage4_unit2_out_relu")}),
    "v2_cifar": (dict(depth=20, family="cifar", version=2), 32, {
        "P0": (1, "stage1_unit3_add"), "P1": (2, "stage2_unit3_add"), "P2": (4, "stage3_unit3_add")}),
    "v1_cifar": (dict(depth=20, family="cifar", version=1), 32, {
        "P0": (1, "stage1_unit3_out_relu"), "P1": (2, "stage2_unit3_out_relu"), "P2": (4, "stage3_unit3_out_relu")}),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(PYRAMIDS))
def test_pyramid_levels_strides_and_layers(case, tmp_path):
    kwargs, size, expected = PYRAMIDS[case]
    model = build_resnet(**kwargs, include_top=False, input_shape=(None, None, 3))
    layer_names = {level: name for level, (_, name) in expected.items()}
    assert {k: t._keras_history.operation.name for k, t in model.pyramid_outputs.items()} == layer_names
    assert all(stride == 2 ** int(level[1:]) for level, (stride, _) in expected.items())  # keras-hub's rule
    extractor = feature_extractor(model)
    for scale in (1, 2):  # any input size
        features = extractor(np.zeros((1, size * scale, size * scale, 3), "float32"))
        assert {k: v.shape[1] for k, v in features.items()} == {
            level: size * scale // stride for level, (stride, _) in expected.items()
        }
    # A classifier model has the same levels, and so has one loaded from its file.
    classifier = build_resnet(**kwargs, input_shape=(size, size, 3))
    classifier.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    x = np.random.default_rng(0).normal(size=(2, size, size, 3)).astype("float32")
    first, last = min(expected), max(expected)
    ours, theirs = feature_extractor(classifier)(x), feature_extractor(loaded, levels=[first, last])(x)
    assert sorted(theirs) == [first, last]
    for level in theirs:
        np.testing.assert_allclose(theirs[level], ours[level], atol=1e-5)
    assert not hasattr(classifier, "pyramid_outputs")  # only include_top=False models carry it
    assert not hasattr(loaded, "pyramid_outputs")  # nor does a loaded file: pyramid_outputs(model) recovers them
    recovered = keras_preact.pyramid_outputs(loaded)
    assert {k: t._keras_history.operation.name for k, t in recovered.items()} == layer_names


def test_feature_extractor_errors_name_the_levels():
    model = build_resnet(8, family="cifar", include_top=False)
    with pytest.raises(ValueError, match=r"levels=\['P3'\]; expected a non-empty list of \['P0', 'P1', 'P2'\]"):
        feature_extractor(model, levels=["P3"])
    other = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3)], name="plain")
    with pytest.raises(ValueError, match=r"model 'plain', which has no 'stage<s>_unit<u>_\*' layers"):
        feature_extractor(other)


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
