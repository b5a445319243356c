"""Structural tests that fail if the design drifts from [2] (graph inspection)."""

import re

import keras
import pytest

import keras_preact
from keras_preact.models import specs

from tests.helpers.models import SMALL_SHAPE, consumer_layers, inbound_layers

# Small representatives of each (version, family, block), built once per module.
CASES = {
    "v2_cifar_basic": dict(depth=20, version=2, family="cifar"),
    "v2_cifar_bottleneck": dict(depth=29, version=2, family="cifar"),
    "v2_imagenet_basic": dict(depth=18, version=2, family="imagenet"),
    "v2_imagenet_bottleneck": dict(depth=50, version=2, family="imagenet"),
    "v1_cifar_basic": dict(depth=20, version=1, family="cifar"),
    "v1_cifar_bottleneck": dict(depth=29, version=1, family="cifar"),
    "v1_imagenet_bottleneck": dict(depth=50, version=1, family="imagenet"),
}


_BUILT = {}


def _build(key):
    if key not in _BUILT:
        kwargs = CASES[key]
        _BUILT[key] = kwargs, keras_preact.build_resnet(**kwargs, input_shape=SMALL_SHAPE[kwargs["family"]])
    return _BUILT[key]


@pytest.fixture(params=sorted(CASES))
def case(request):
    return _build(request.param)


@pytest.fixture(params=sorted(k for k in CASES if k.startswith("v2")))
def v2_case(request):
    return _build(request.param)


@pytest.fixture(params=sorted(k for k in CASES if k.startswith("v1")))
def v1_case(request):
    return _build(request.param)


def unit_names(model):
    return [l.name[: -len("_add")] for l in model.layers if l.name.endswith("_add")]


def block_of(kwargs):
    return specs.get_spec(kwargs["depth"], kwargs["family"]).block


def test_v2_nothing_follows_an_addition_but_the_next_unit_or_the_final_bn_relu(v2_case):
    kwargs, model = v2_case
    units = unit_names(model)
    for unit, nxt in zip(units, units[1:] + [None]):
        consumers = consumer_layers(model, f"{unit}_add")
        if nxt is None:
            assert consumers == ["post_bn"]
        else:
            allowed = {f"{nxt}_preact_bn", f"{nxt}_add"}
            assert set(consumers) <= allowed and f"{nxt}_preact_bn" in consumers, (unit, consumers)
    assert consumer_layers(model, "post_bn") == ["post_relu"]
    assert consumer_layers(model, "post_relu") == ["avg_pool"]


def test_v2_identity_shortcut_is_the_unit_input_itself(v2_case):
    kwargs, model = v2_case
    units = unit_names(model)
    n_convs = specs.LAYERS_PER_UNIT[block_of(kwargs)]
    identity_units = 0
    for prev, unit in zip(units, units[1:]):
        if any(l.name == f"{unit}_shortcut_conv" for l in model.layers):
            continue
        identity_units += 1
        assert sorted(inbound_layers(model, f"{unit}_add")) == sorted([f"{prev}_add", f"{unit}_conv{n_convs}"])
    assert identity_units >= len(units) - 4


def test_v2_projection_shortcuts_read_the_preactivated_tensor(v2_case):
    kwargs, model = v2_case
    projections = [l.name for l in model.layers if l.name.endswith("_shortcut_conv")]
    assert projections, "every network here changes shape at least twice"
    for name in projections:
        unit = name[: -len("_shortcut_conv")]
        source = inbound_layers(model, name)
        # The first unit reads conv1's activation (after the max-pool on ImageNet).
        expected = (
            f"{unit}_preact_relu"
            if unit != "stage1_unit1"
            else ("pool1" if kwargs["family"] == "imagenet" else "conv1_relu")
        )
        assert source == [expected]
        first_conv = f"{unit}_conv1"
        if inbound_layers(model, first_conv) == [f"{first_conv}_pad"]:  # basic unit: strided 3x3
            first_conv = f"{first_conv}_pad"
        assert inbound_layers(model, first_conv) == [expected]
        assert not any(l.name == f"{unit}_shortcut_bn" for l in model.layers)


def test_v2_first_unit_takes_its_activation_from_conv1_before_the_split(v2_case):
    kwargs, model = v2_case
    names = {l.name for l in model.layers}
    assert "stage1_unit1_preact_bn" not in names
    stem_out = "pool1" if kwargs["family"] == "imagenet" else "conv1_relu"
    assert inbound_layers(model, "conv1_relu") == ["conv1_bn"]
    assert stem_out in inbound_layers(model, "stage1_unit1_conv1")
    if kwargs["family"] == "imagenet":
        assert inbound_layers(model, "pool1_pad") == ["conv1_relu"]


def test_v1_ends_each_unit_with_relu_after_the_addition(v1_case):
    kwargs, model = v1_case
    for unit in unit_names(model):
        assert consumer_layers(model, f"{unit}_add") == [f"{unit}_out_relu"]
    assert "post_bn" not in {l.name for l in model.layers}
    for layer in model.layers:
        if layer.name.endswith("_shortcut_conv"):
            unit = layer.name[: -len("_shortcut_conv")]
            assert consumer_layers(model, layer.name) == [f"{unit}_shortcut_bn"]


def test_layer_settings_are_bound_once(case):
    _, model = case
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            assert layer.use_bias is False
            assert layer.kernel_initializer.get_config()["mode"] == "fan_out"
        if isinstance(layer, keras.layers.BatchNormalization):
            assert type(layer) is keras_preact.models.layers.BatchNormalization
            assert (layer.epsilon, layer.momentum) == (1e-5, 0.9)


def test_strided_convolutions_pad_symmetrically_as_in_torch(case):
    kwargs, model = case
    for layer in model.layers:
        if type(layer).__name__ != "Conv2D" or layer.strides == (1, 1):
            continue
        k = layer.kernel_size[0]
        if k == 1:
            assert layer.padding == "valid"
            continue
        assert layer.padding == "valid"
        assert inbound_layers(model, layer.name) == [f"{layer.name}_pad"]
        assert model.get_layer(f"{layer.name}_pad").padding == ((k // 2, k // 2), (k // 2, k // 2))
    if kwargs["family"] == "imagenet":
        assert model.get_layer("conv1_pad").padding == ((3, 3), (3, 3))
        assert model.get_layer("pool1_pad").padding == ((1, 1), (1, 1))


def test_stride_sits_in_the_first_unit_of_a_stage_on_the_3x3_conv(case):
    kwargs, model = case
    strided = sorted(
        l.name
        for l in model.layers
        if type(l).__name__ == "Conv2D" and l.strides == (2, 2) and "shortcut" not in l.name
    )
    stages = 4 if kwargs["family"] == "imagenet" else 3
    expected_conv = "conv1" if block_of(kwargs) == "basic" else "conv2"
    expected = sorted(
        [f"stage{s}_unit1_{expected_conv}" for s in range(2, stages + 1)]
        + (["conv1"] if kwargs["family"] == "imagenet" else [])
    )
    assert strided == expected


def test_stride_on_1x1_moves_the_bottleneck_stride_to_the_first_conv():
    model = keras_preact.build_resnet(29, family="cifar", stride_on="1x1", input_shape=(8, 8, 3))
    strided = sorted(l.name for l in model.layers if getattr(l, "strides", None) == (2, 2))
    assert strided == [
        "stage2_unit1_conv1",
        "stage2_unit1_shortcut_conv",
        "stage3_unit1_conv1",
        "stage3_unit1_shortcut_conv",
    ]
    default = keras_preact.build_resnet(29, family="cifar", input_shape=(8, 8, 3))
    assert default.count_params() == model.count_params()


def test_layer_names_are_deterministic():
    a = [l.name for l in keras_preact.PreActResNet20(input_shape=(8, 8, 3)).layers]
    b = [l.name for l in keras_preact.PreActResNet20(input_shape=(8, 8, 3)).layers]
    assert a == b
    pattern = re.compile(r"^(input|conv1(_bn|_relu|_pad)?|stage\d_unit\d+_\w+|post_(bn|relu)|avg_pool|predictions)$")
    assert all(pattern.match(n) for n in a), [n for n in a if not pattern.match(n)]
