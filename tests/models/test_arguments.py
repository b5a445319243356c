"""keras.applications arguments: validated up front, errors echo the value received."""

import keras
import numpy as np
import pytest

import keras_preact
from keras_preact.models import pretrained


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


def test_get_model_unknown_name_lists_the_registry():
    with pytest.raises(ValueError, match=r"model='PreActResNet21'; expected a registered model \['PreActResNet18'"):
        keras_preact.get_model("PreActResNet21")
    # any CIFAR depth by name, beyond the registered ones
    assert keras_preact.get_model("ResNet14", input_shape=(8, 8, 3)).count_params() > 0


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


def test_registry_lists_every_depth_and_version():
    names = keras_preact.list_models()
    assert len(names) == 2 * (6 + 8) and len(set(names)) == len(names)
    assert keras_preact.list_models("PreAct*", family="cifar") == [
        "PreActResNet20",
        "PreActResNet32",
        "PreActResNet44",
        "PreActResNet56",
        "PreActResNet110",
        "PreActResNet1202",
        "PreActResNet164",
        "PreActResNet1001",
    ]
    assert all(hasattr(keras_preact, n) and getattr(keras_preact, n).__name__ == n for n in names)
    assert keras_preact.list_models(version=1, family="imagenet") == [
        "ResNet18",
        "ResNet34",
        "ResNet50",
        "ResNet101",
        "ResNet152",
        "ResNet200",
    ]


def test_list_models_pattern_is_case_insensitive():
    assert keras_preact.list_models("*resnet50*") == ["PreActResNet50", "ResNet50"]
    assert (
        keras_preact.list_models("preact*")
        == keras_preact.list_models("PREACT*")
        == keras_preact.list_models(version=2)
    )
    assert keras_preact.list_models("resnet1?") == ["ResNet18"]
    assert keras_preact.list_models("*1001", family="cifar", version=1) == ["ResNet1001"]
    assert keras_preact.list_models("vgg*") == [] and keras_preact.list_models("*resnet50*", family="cifar") == []


def test_list_models_pretrained_lists_the_models_with_registered_weights():
    # The shipped Fashion-MNIST weights and the ported ones are registered on import.
    with_weights = {model for model, _ in keras_preact.list_weights()}
    assert keras_preact.list_models(pretrained=True) == [m for m in keras_preact.list_models() if m in with_weights]
    assert "PreActResNet20" in with_weights and "ResNet44" not in with_weights
    assert keras_preact.list_models("*resnet4*", pretrained=True) == []
    keras_preact.register_weights(
        "ResNet44",
        "test",
        url="file:///x",
        sha256="0" * 64,
        input_shape=(32, 32, 3),
        classes=10,
        preprocessing="cifar10",
    )
    try:
        assert keras_preact.list_models("*resnet4*", pretrained=True) == ["ResNet44"]
        assert keras_preact.list_models("*resnet4*", family="imagenet", pretrained=True) == []
    finally:
        pretrained.unregister_weights("ResNet44", "test")
    assert "ResNet44" not in keras_preact.list_models(pretrained=True)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"family": "CIFAR"}, r"family='CIFAR'; expected one of \(None, 'imagenet', 'cifar'\)"),
        ({"family": 1}, r"family=1; expected one of"),
        ({"version": 3}, r"version=3; expected one of \(None, 1, 2\)"),
        ({"version": "2"}, r"version='2'; expected one of \(None, 1, 2\)"),
        ({"version": 2.0}, r"version=2.0; expected"),
        ({"version": True}, r"version=True; expected"),
        ({"pretrained": "yes"}, r"pretrained='yes'; expected True or False"),
        ({"pretrained": None}, r"pretrained=None; expected True or False"),
        ({"pattern": None}, r"pattern=None; expected a shell-style pattern string"),
    ],
)
def test_list_models_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        keras_preact.list_models(**kwargs)


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
