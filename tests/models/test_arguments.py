"""keras.applications arguments: validated up front, errors echo the value received;
the defaults, pooling, data format and dtype policy follow keras.applications; the
layout options merge {defaults, the weights' builder_options, explicit arguments}."""

import re
import types

import keras
import numpy as np
import pytest

import keras_preact
from keras_preact.models import arguments


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_shape": (2, 2, 3)}, r"input_shape=\(2, 2, 3\); cifar models need height and width of at least 4"),
        ({"input_shape": (8, 8)}, r"input_shape=\(8, 8\); expected 3 dimensions"),
        ({"input_shape": (8, 8, None)}, r"the channel count must be known"),
        ({"pooling": "mean"}, r"pooling='mean'; expected one of \(None, 'avg', 'max'\)"),
        ({"classes": 0}, r"classes=0; expected a positive int"),
        ({"classes": 10.0}, r"classes=10.0"),
        ({"classifier_activation": "softmaxx"}, r"classifier_activation='softmaxx'"),
        ({"input_tensor": np.zeros((1, 8, 8, 3))}, r"input_tensor=array\(.* of type ndarray; expected a Keras tensor"),
        (
            {"input_tensor": keras.Input((8, 8, 3)), "input_shape": (16, 16, 3)},
            r"input_shape=\(16, 16, 3\) and input_tensor of shape \(None, 8, 8, 3\)",
        ),
    ],
)
def test_cifar_builder_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        keras_preact.PreActResNet20(**kwargs)


def test_imagenet_minimum_input_size():
    with pytest.raises(
        ValueError, match=r"input_shape=\(16, 16, 3\); imagenet models need height and width of at least 32"
    ):
        keras_preact.ResNet18(input_shape=(16, 16, 3))
    assert keras_preact.ResNet18(input_shape=(32, 32, 3), include_top=False).output_shape == (None, 1, 1, 512)


def test_generic_builder_takes_any_valid_cifar_depth():
    model = keras_preact.build_resnet(26, family="cifar", input_shape=(8, 8, 3))  # 6 * 4 + 2
    assert sum(l.name.endswith("_add") for l in model.layers) == 12
    assert model.name == "preact_resnet26"
    with pytest.raises(ValueError, match=r"depth=27.*6n\+2.*9n\+2"):
        keras_preact.build_resnet(27, family="cifar")


def test_defaults_follow_keras_applications():
    model = keras_preact.PreActResNet18()
    assert model.input_shape == (None, 224, 224, 3) and model.output_shape == (None, 1000)
    assert model.name == "preact_resnet18"
    assert model.get_layer("predictions").activation.__name__ == "softmax"
    cifar = keras_preact.ResNet56(classifier_activation=None, name="mine")
    assert cifar.input_shape == (None, 32, 32, 3) and cifar.output_shape == (None, 10)
    assert cifar.name == "mine" and cifar.get_layer("predictions").activation.__name__ == "linear"
    unknown_size = keras_preact.PreActResNet20(input_shape=(None, None, 3), include_top=False, pooling="avg")
    assert unknown_size(np.zeros((1, 12, 20, 3), "float32")).shape == (1, 64)


def test_channels_first(monkeypatch):
    monkeypatch.setattr(keras.config, "image_data_format", lambda: "channels_first")
    model = keras_preact.PreActResNet20(input_shape=(3, 8, 8), include_top=False)
    assert model.output_shape == (None, 64, 2, 2)
    assert model.get_layer("post_bn").axis in (1, [1])


def test_pooling_is_ignored_with_the_classifier_as_in_keras_applications():
    kwargs = {"weights": None, "include_top": True, "pooling": "max", "input_shape": (32, 32, 3)}
    reference = keras.applications.ResNet50(**kwargs)
    model = keras_preact.ResNet50(**kwargs)
    assert [layer.name for layer in model.layers[-2:]] == [layer.name for layer in reference.layers[-2:]]
    assert model.output_shape == reference.output_shape == (None, 1000)
    assert isinstance(model.get_layer("avg_pool"), keras.layers.GlobalAveragePooling2D)
    assert "max_pool" not in [layer.name for layer in model.layers]


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_classifier_output_is_float32_under_mixed_precision(policy):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        model = keras_preact.PreActResNet20(input_shape=(8, 8, 3))
        logits = keras_preact.PreActResNet20(input_shape=(8, 8, 3), classifier_activation=None)
        features = keras_preact.PreActResNet20(input_shape=(8, 8, 3), include_top=False, pooling="avg")
    finally:
        keras.config.set_dtype_policy(previous)
    compute = policy.removeprefix("mixed_")
    assert model.get_layer("post_relu").output.dtype == compute  # the body stays in the policy
    assert model.output.dtype == logits.output.dtype == "float32"
    assert keras.ops.convert_to_numpy(model(np.ones((2, 8, 8, 3), "float32"))).dtype == np.float32
    assert model.get_layer("predictions").kernel.dtype == "float32"
    assert features.output.dtype == compute  # no classifier: the features keep the policy's dtype
    assert keras_preact.PreActResNet20(input_shape=(8, 8, 3)).get_layer("predictions").dtype_policy.name == "float32"


@pytest.mark.parametrize(
    "options, message",
    [
        ({"stem_activation": True}, r"stem_activation=True; expected one of \('shared', 'none', 'separate'\)"),
        ({"version": 1, "stem_activation": "none"}, "only pre-activation units"),
        ({"version": 1, "downsample_shortcut": "input_projection"}, "applies to version 2"),
    ],
)
def test_layout_options_are_checked(options, message):
    with pytest.raises(ValueError, match=message):
        keras_preact.build_resnet(20, family="cifar", **options)


@pytest.mark.parametrize(
    "builder_options, explicit, expected",
    [
        ({}, {"stem_activation": None, "downsample_shortcut": None}, ("shared", "projection")),
        ({"stem_activation": "none"}, {"stem_activation": None, "downsample_shortcut": None}, ("none", "projection")),
        (
            {"stem_activation": "separate", "downsample_shortcut": "input_projection"},
            {"stem_activation": "separate", "downsample_shortcut": None},
            ("separate", "input_projection"),
        ),
        (None, {"stem_activation": "none", "downsample_shortcut": "zero_pad"}, ("none", "zero_pad")),
    ],
    ids=["defaults", "the weights'", "explicit and equal", "no weights"],
)
def test_builder_options_merge_defaults_the_weights_and_explicit_arguments(builder_options, explicit, expected):
    info = None if builder_options is None else types.SimpleNamespace(builder_options=builder_options)
    merged = arguments.merge_builder_options(info, explicit)
    assert (merged["stem_activation"], merged["downsample_shortcut"]) == expected


@pytest.mark.parametrize(
    "explicit, message",
    [
        (
            {"stem_activation": "shared"},
            "stem_activation='shared' with weights='w' of M, which need stem_activation='none'",
        ),
        ({"downsample_shortcut": "zero_pad"}, "downsample_shortcut='zero_pad' with weights='w' of M, which need"),
    ],
)
def test_an_explicit_option_the_weights_do_not_take_is_refused(explicit, message):
    info = types.SimpleNamespace(name="w", model="M", source="s", builder_options={"stem_activation": "none"})
    with pytest.raises(ValueError, match=re.escape(message)):
        arguments.merge_builder_options(info, {"stem_activation": None, "downsample_shortcut": None, **explicit})


def test_weights_may_set_only_the_layout_options():
    with pytest.raises(ValueError, match=r"builder_options key='stride_on'; expected one of"):
        keras_preact.register_weights(
            "PreActResNet20",
            "w",
            url="file:///w",
            sha256="0" * 64,
            input_shape=(32, 32, 3),
            classes=10,
            preprocessing="cifar10",
            builder_options={"stride_on": "1x1"},
        )
    assert keras_preact.get_weights_info("PreActResNet20", "w") is None
