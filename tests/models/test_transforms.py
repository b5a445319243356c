"""`eval_transform` against the publishers' own evaluation transforms, on a real photo.

The photo is the one that ships in an installed package (matplotlib's sample data,
Grace Hopper, 512 x 600), also seen transposed (landscape), cropped to odd sides (the
center crop's rounding) and cropped small (an upsampling resize); crops and transposes
only, no resampling. Each comparison is on the 0-255 scale, after undoing each side's
normalisation: per image a mean absolute difference of at most 0.5 and a 99th
percentile of at most 1.5 grey levels.
"""

import pytest

pytest.importorskip("torchvision")  # before TensorFlow (tests/conftest.py)
timm = pytest.importorskip("timm")

import matplotlib.cbook  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402
from timm.data import create_transform, resolve_data_config  # noqa: E402
from torchvision.models import ResNet50_Weights  # noqa: E402

import keras_preact  # noqa: E402
from keras_preact.models.transforms import resize_and_crop_sizes  # noqa: E402

MEAN_BOUND, P99_BOUND = 0.5, 1.5


def _photos():
    photo = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")).convert("RGB")
    return {
        "grace_hopper": photo,
        "landscape": photo.transpose(Image.Transpose.TRANSPOSE),
        "odd_sides": photo.crop((40, 21, 437, 354)),  # 397 x 333
        "small": photo.crop((200, 100, 350, 281)),  # 150 x 181: upsampled
    }


PHOTOS = _photos()


TIMM_MODEL = timm.create_model("resnetv2_50.a1h_in1k", pretrained=False)  # its pretrained_cfg, no download


def _timm_transform(**overrides):
    return create_transform(**resolve_data_config(overrides, model=TIMM_MODEL))


# name: (model, weights, size, the publisher's transform, its mean, its std on [0, 1])
PUBLISHERS = {
    "torchvision_v1": ("ResNet50", "torchvision_imagenet1k_v1", None, ResNet50_Weights.IMAGENET1K_V1.transforms()),
    "torchvision_v2": ("ResNet50", "torchvision_imagenet1k_v2", None, ResNet50_Weights.IMAGENET1K_V2.transforms()),
    "timm_224": ("PreActResNet50", "imagenet", None, _timm_transform()),
    "timm_288": ("PreActResNet50", "imagenet", 288, _timm_transform(input_size=(3, 288, 288), crop_pct=1.0)),
    "timm_256": ("PreActResNet50", "imagenet", 256, _timm_transform(input_size=(3, 256, 256))),
}


def _theirs(transform, photo):
    """The publisher's output, (H, W, C) on the 0-255 scale."""
    x = np.transpose(transform(photo).numpy(), (1, 2, 0)).astype("float64")
    return (x * np.asarray(transform_std(transform)) + np.asarray(transform_mean(transform))) * 255


def transform_mean(transform):
    return transform.mean if hasattr(transform, "mean") else transform.transforms[-1].mean.tolist()


def transform_std(transform):
    return transform.std if hasattr(transform, "std") else transform.transforms[-1].std.tolist()


def _ours(model, weights, size, photo):
    info = keras_preact.get_weights_info(model, weights)
    x = keras_preact.eval_transform(model, weights, size)(np.asarray(photo))
    assert x.dtype == np.float32
    return x * np.asarray(info.std, "float64") + np.asarray(info.mean, "float64")


def _differences(ours, theirs):
    assert ours.shape == theirs.shape
    difference = np.abs(ours - theirs)
    return difference.mean(), np.percentile(difference, 99)


@pytest.mark.parametrize("photo", sorted(PHOTOS))
@pytest.mark.parametrize("publisher", sorted(PUBLISHERS))
def test_matches_the_publishers_transform(publisher, photo):
    model, weights, size, transform = PUBLISHERS[publisher]
    ours, theirs = _ours(model, weights, size, PHOTOS[photo]), _theirs(transform, PHOTOS[photo])
    mean, p99 = _differences(ours, theirs)
    assert ours.shape == (size or 224, size or 224, 3)
    assert mean <= MEAN_BOUND and p99 <= P99_BOUND, (mean, p99)


def test_the_bounds_catch_a_resize_without_antialiasing():
    """Keras' and TensorFlow's default (antialias=False) resize misses torchvision's
    bilinear by far more than the bounds: the comparison can fail."""
    photo = np.asarray(PHOTOS["grace_hopper"])
    resized = tf.image.resize(photo, (256 * 600 // 512, 256)).numpy()  # (300, 256)
    plain = np.clip(np.round(resized), 0, 255)[38:262, 16:240]
    mean, p99 = _differences(plain, _theirs(PUBLISHERS["torchvision_v1"][3], PHOTOS["grace_hopper"]))
    assert mean > MEAN_BOUND or p99 > P99_BOUND


def test_a_batch_and_tf_data_give_the_same_values():
    photo = np.asarray(PHOTOS["grace_hopper"])
    transform = keras_preact.eval_transform("PreActResNet50", "imagenet")
    one = transform(photo)
    batch = transform(np.stack([photo, photo[:, ::-1]]))
    assert batch.shape == (2, 224, 224, 3) and np.array_equal(batch[0], one)
    views = [photo, np.asarray(PHOTOS["odd_sides"]), np.asarray(PHOTOS["small"])]  # sizes unknown in the graph
    spec = tf.TensorSpec((None, None, 3), tf.uint8)
    mapped = list(tf.data.Dataset.from_generator(lambda: iter(views), output_signature=spec).map(transform))
    assert all(isinstance(x, tf.Tensor) and x.shape == (224, 224, 3) for x in mapped)
    for x, view in zip(mapped, views):
        np.testing.assert_array_equal(x.numpy(), transform(view))


def test_the_shipped_fashion_mnist_weights_take_their_images_as_they_are():
    images = np.random.default_rng(0).integers(0, 256, (2, 28, 28, 1), dtype=np.uint8)
    x = keras_preact.eval_transform("PreActResNet20", "fashion_mnist")(images)
    np.testing.assert_allclose(x, keras_preact.preprocess_input(images, "fashion_mnist"), rtol=1e-6, atol=1e-6)


def test_a_model_that_normalises_itself_takes_the_transform_without_normalisation():
    """normalize=False leaves the statistics to a model built with
    include_preprocessing=True: its outputs equal the plain model's on the normalised
    input, and normalising twice changes them."""
    images = np.random.default_rng(1).integers(0, 256, (3, 40, 36, 1), dtype=np.uint8)
    plain = keras_preact.PreActResNet20(weights="fashion_mnist", input_shape=(28, 28, 1))
    inside = keras_preact.PreActResNet20(weights="fashion_mnist", input_shape=(28, 28, 1), include_preprocessing=True)
    normalised = keras_preact.eval_transform("PreActResNet20", "fashion_mnist")(images[:, :28, :28])
    raw = keras_preact.eval_transform("PreActResNet20", "fashion_mnist", normalize=False)(images[:, :28, :28])
    np.testing.assert_array_equal(raw, images[:, :28, :28].astype("float32"))
    expected = plain.predict_on_batch(normalised)
    np.testing.assert_allclose(inside.predict_on_batch(raw), expected, rtol=1e-4, atol=1e-5)
    assert not np.allclose(inside.predict_on_batch(normalised), expected, rtol=1e-2, atol=1e-3)


def test_the_registry_records_the_publishers_sizes():
    info = keras_preact.get_weights_info("PreActResNet50", "imagenet")
    assert (info.crop_pct, info.test_size, info.test_crop_pct) == (0.95, 288, 1.0)
    assert "81.41%" in info.test_accuracy
    assert "83.00%" in keras_preact.get_weights_info("PreActResNet101", "imagenet").test_accuracy
    assert resize_and_crop_sizes(info) == (235, 224) and resize_and_crop_sizes(info, 288) == (288, 288)
    assert resize_and_crop_sizes(info, 320) == (336, 320)  # floor(320 / 0.95), as timm
    v2 = keras_preact.get_weights_info("ResNet50", "torchvision_imagenet1k_v2")
    assert resize_and_crop_sizes(v2) == (232, 224) and v2.interpolation == "bilinear"


@pytest.mark.parametrize(
    "arguments, match",
    [
        (("PreActResNet50", "imagenet", 0), "size=0"),
        (("PreActResNet50", "imagenet", "288"), "size='288'"),
        (("PreActResNet50", "imagenet", True), "size=True"),
        (("PreActResNet50", "cifar10"), "weights='cifar10'"),
        ((50, "imagenet"), "model=50"),
        (("PreActResNet50", "imagenet", None, "no"), "normalize='no'"),
    ],
)
def test_bad_arguments_are_named(arguments, match):
    with pytest.raises(ValueError, match=match):
        keras_preact.eval_transform(*arguments)


@pytest.mark.parametrize(
    "images",
    [np.zeros((40, 40, 3), "float32"), np.zeros((40, 40, 1), "uint8"), np.zeros((40, 40), "uint8")],
    ids=["float", "grey", "rank2"],
)
def test_images_other_than_uint8_of_the_weights_channels_are_refused(images):
    with pytest.raises(ValueError, match="expected uint8 images"):
        keras_preact.eval_transform("PreActResNet50", "imagenet")(images)
