"""The paper's ablation units (Tables 1 and 2 of [2]) as parameters of one unit."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_preact
from keras_preact.models import units

from tests.helpers.models import consumer_layers, inbound_layers

ORDERS = sorted(units.ACTIVATION_ORDERS)
SHORTCUTS = sorted(units.SHORTCUTS)
X = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")


def build(depth=8, order="full_preact", **kwargs):
    version = units.ACTIVATION_ORDERS[order].version
    return keras_preact.build_resnet(
        depth,
        family="cifar",
        version=version,
        activation_order=order,
        input_shape=(8, 8, 3),
        classifier_activation=None,
        **kwargs,
    )


# Every order with every shortcut kind, and every order with option-A downsampling.
VARIANTS = [(o, s, "projection") for o in ORDERS for s in SHORTCUTS] + [(o, "identity", "zero_pad") for o in ORDERS]


@pytest.mark.parametrize("depth", [8, 11], ids=["basic", "bottleneck"])
@pytest.mark.parametrize("order, shortcut, downsample", VARIANTS)
def test_every_variant_builds_trains_and_round_trips(order, shortcut, downsample, depth, tmp_path):
    model = build(depth, order, shortcut=shortcut, downsample_shortcut=downsample)
    with tf.GradientTape() as tape:
        out = model(X, training=True)
        loss = tf.reduce_sum(out * np.arange(10, dtype="float32"))
    assert out.shape == (2, 10) and np.all(np.isfinite(out))
    grads = tape.gradient(loss, model.trainable_weights)
    assert all(g is not None for g in grads)
    path = tmp_path / "m.keras"
    model.save(path)
    restored = keras.saving.load_model(path)  # safe_mode stays True
    np.testing.assert_allclose(model(X), restored(X), rtol=1e-6, atol=1e-6)


def unit_layer_kinds(model, unit="stage1_unit2"):
    """The layer types of one unit, in graph order, with the unit prefix removed."""
    return [(l.name[len(unit) + 1 :], type(l).__name__) for l in model.layers if l.name.startswith(unit + "_")]


@pytest.mark.parametrize(
    "order, sequence",
    [
        ("original", ["conv1", "bn1", "relu1", "conv2", "bn2", "add", "out_relu"]),
        ("bn_after_addition", ["conv1", "bn1", "relu1", "conv2", "add", "out_bn", "out_relu"]),
        ("relu_before_addition", ["conv1", "bn1", "relu1", "conv2", "bn2", "relu2", "add"]),
        ("relu_only_preact", ["preact_relu", "conv1", "bn1", "relu2", "conv2", "bn2", "add"]),
        ("full_preact", ["preact_bn", "preact_relu", "conv1", "bn2", "relu2", "conv2", "add"]),
    ],
)
def test_activation_orders_follow_figure_4(order, sequence):
    """Each order is a chain from the unit input to the addition, as in Fig. 4 (a)-(e)."""
    model = build(14, order)  # two basic units per stage: stage1_unit2 is an identity unit
    names = [n for n, _ in unit_layer_kinds(model)]
    assert names == sequence
    for prev, nxt in zip(sequence, sequence[1:]):
        if nxt != "add" and not prev == "add":
            assert inbound_layers(model, f"stage1_unit2_{nxt}") == [f"stage1_unit2_{prev}"]
    extra = {"full_preact": ["post_bn", "post_relu"], "relu_only_preact": ["post_relu"]}.get(order, [])
    assert [l.name for l in model.layers if l.name.startswith("post_")] == extra


@pytest.mark.parametrize("scale_residual", [False, True])
def test_constant_scaling_computes_lambda_h_plus_scaled_f(scale_residual):
    model = build(
        14, "original", shortcut="constant_scaling", shortcut_options={"scale": 0.3, "scale_residual": scale_residual}
    )
    unit = "stage1_unit2"
    probe = keras.Model(
        model.input,
        [
            model.get_layer("stage1_unit1_out_relu").output,
            model.get_layer(f"{unit}_bn2").output,
            model.get_layer(f"{unit}_add").output,
        ],
    )
    x, f, y = (t.numpy() for t in probe(X))
    np.testing.assert_allclose(y, 0.3 * x + (0.7 if scale_residual else 1.0) * f, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind, exclusive", [("exclusive_gating", True), ("shortcut_only_gating", False)])
def test_gating_uses_a_sigmoid_1x1_conv_gate_with_the_given_bias(kind, exclusive):
    model = build(14, "original", shortcut=kind, shortcut_options={"gate_bias": -6.0})
    unit = "stage1_unit2"
    gate = model.get_layer(f"{unit}_gate")
    assert gate.kernel_size == (1, 1) and gate.use_bias
    np.testing.assert_array_equal(gate.bias.numpy(), -6.0)
    probe = keras.Model(
        model.input,
        [
            model.get_layer("stage1_unit1_out_relu").output,
            model.get_layer(f"{unit}_bn2").output,
            gate.output,
            model.get_layer(f"{unit}_add").output,
        ],
    )
    x, f, g, y = (t.numpy() for t in probe(X))
    expected = (1 - g) * x + (g * f if exclusive else f)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    assert 0.0 < g.min() and np.median(g) < 0.01  # sigmoid(-6 + small) keeps the shortcut open


def test_conv1x1_shortcut_on_every_unit_and_dropout_only_in_training():
    model = build(14, "full_preact", shortcut="conv1x1")
    convs = [l.name for l in model.layers if l.name.endswith("_shortcut_conv")]
    assert len(convs) == 6  # every unit
    assert inbound_layers(model, "stage1_unit2_shortcut_conv") == ["stage1_unit2_preact_relu"]
    model = build(14, "original", shortcut="dropout", shortcut_options={"rate": 0.5})
    assert model.get_layer("stage1_unit2_shortcut_dropout").rate == 0.5
    np.testing.assert_array_equal(model(X, training=False), model(X, training=False))
    assert not np.array_equal(model(X, training=True), model(X, training=True))


def test_zero_pad_shortcut_is_option_a():
    model = build(8, "original", downsample_shortcut="zero_pad")
    layer = model.get_layer("stage2_unit1_shortcut_pad")
    x = np.random.default_rng(1).normal(size=(1, 8, 8, 16)).astype("float32")
    y = layer(x).numpy()
    assert y.shape == (1, 4, 4, 32)
    np.testing.assert_array_equal(y[..., :16], x[:, ::2, ::2, :])
    np.testing.assert_array_equal(y[..., 16:], 0.0)
    assert not any(l.name.endswith("_shortcut_conv") for l in model.layers)
    assert consumer_layers(model, "stage2_unit1_shortcut_pad") == ["stage2_unit1_add"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"shortcut": "gated"}, r"shortcut='gated'; expected one of"),
        ({"shortcut": "dropout", "shortcut_options": {"p": 0.5}}, r"shortcut='dropout' takes \['rate'\], not \['p'\]"),
        ({"shortcut": "identity", "shortcut_options": {"scale": 0.5}}, r"takes no options"),
        (
            {"downsample_shortcut": "A"},
            r"downsample_shortcut='A'; expected one of \('projection', 'zero_pad', 'input_projection'\)",
        ),
        (
            {"stride_on": "3x3", "activation_order": "full_preact", "version": 1},
            r"activation_order='full_preact' with version=1",
        ),
        ({"activation_order": "pre"}, r"activation_order='pre'"),
        ({"version": 3}, r"version=3"),
        ({"stride_on": "1x1"}, r"stride_on='1x1' for basic units"),
        ({"stride_on": "5x5", "depth": 11}, r"stride_on='5x5'; expected one of \('3x3', '1x1'\)"),
    ],
)
def test_unit_option_errors(kwargs, message):
    kwargs = {"depth": 8, "family": "cifar", **kwargs}
    with pytest.raises(ValueError, match=message):
        keras_preact.build_resnet(**kwargs)
