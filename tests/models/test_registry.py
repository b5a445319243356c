"""The registry of named models: `get_model` by name, and `list_models` filtered by
pattern, family, version or registered weights."""

import pytest

import keras_preact
from keras_preact.models import pretrained


def test_get_model_unknown_name_lists_the_registry():
    with pytest.raises(ValueError, match=r"model='PreActResNet21'; expected a registered model \['PreActResNet18'"):
        keras_preact.get_model("PreActResNet21")
    # any CIFAR depth by name, beyond the registered ones
    assert keras_preact.get_model("ResNet14", input_shape=(8, 8, 3)).count_params() > 0


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
