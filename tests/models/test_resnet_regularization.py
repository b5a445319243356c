"""The training options beyond [2]: `drop_path_rate` (stochastic depth, Huang et al. 2016)
and `zero_init_residual` (Goyal et al. 2017), both off by default."""

import keras
import numpy as np
import pytest

import keras_preact
from keras_preact.models import units
from keras_preact.models.graph import unit_boundaries
from keras_preact.models.resnet import drop_path_rates

SHAPE = (8, 8, 3)
X = np.random.default_rng(0).normal(size=(4, *SHAPE)).astype("float32")
VERSIONS = pytest.mark.parametrize("version", [1, 2])


def build(depth=14, version=2, **kwargs):
    """A CIFAR net with small inputs: depth 14 has two basic units per stage."""
    return keras_preact.build_resnet(
        depth, family="cifar", version=version, input_shape=SHAPE, classifier_activation=None, **kwargs
    )


def add_layers(model):
    """Each unit's merge layer (`Add`, `DropPathAdd` or `GatedAdd`), in unit order."""
    return [l for l in model.layers if l.name.endswith("_add")]


def probe(model, add):
    """A model giving the addition's inputs (shortcut h, branch F) and its output y."""
    h, f = add._inbound_nodes[0].input_tensors
    return keras.Model(model.input, [h, f, add.output])


def drop_paths(model):
    return [l for l in model.layers if isinstance(l, keras_preact.DropPath)]


# Drop path


@pytest.mark.parametrize(
    "name, layers, weights, params", [("ResNet8", 33, 47, 78714), ("PreActResNet8", 31, 39, 78330)]
)
def test_defaults_build_the_models_without_either_option(name, layers, weights, params):
    """Counts of the models before the options existed; an explicit 0 / False is the default."""
    keras.utils.set_random_seed(1)
    model = keras_preact.get_model(name, input_shape=SHAPE)
    assert (len(model.layers), len(model.weights), model.count_params()) == (layers, weights, params)
    assert drop_paths(model) == [] and all(type(l) is keras.layers.Add for l in add_layers(model))
    keras.utils.set_random_seed(1)
    explicit = keras_preact.get_model(name, input_shape=SHAPE, drop_path_rate=0.0, zero_init_residual=False)
    assert [l.get_config() for l in explicit.layers] == [l.get_config() for l in model.layers]
    for a, b in zip(explicit.weights, model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_drop_path_rates_rise_linearly_from_zero():
    assert drop_path_rates(0.2, 1) == [0.0]
    np.testing.assert_allclose(drop_path_rates(0.2, 3), [0.0, 0.1, 0.2])
    np.testing.assert_allclose(drop_path_rates(0.3, 7), np.linspace(0.0, 0.3, 7))


@VERSIONS
def test_each_unit_drops_with_its_rate_from_zero_to_drop_path_rate(version):
    builder = keras_preact.PreActResNet20 if version == 2 else keras_preact.ResNet20
    model = builder(input_shape=SHAPE, drop_path_rate=0.2)  # the named builders forward it
    adds = add_layers(model)
    assert len(adds) == 9
    assert type(adds[0]) is keras.layers.Add  # the first unit's rate is 0: no drop path
    assert all(type(l) is keras_preact.DropPathAdd for l in adds[1:]) and drop_paths(model) == adds[1:]
    rates = [getattr(l, "rate", 0.0) for l in adds]
    np.testing.assert_allclose(rates, np.linspace(0.0, 0.2, 9), rtol=1e-12)


def test_drop_path_changes_no_variable_name_or_order():
    plain, dropped = build(11), build(11, drop_path_rate=0.3)  # bottleneck: projection shortcuts
    assert [l.name for l in dropped.layers] == [l.name for l in plain.layers]
    assert [(v.path, v.shape) for v in dropped.weights] == [(v.path, v.shape) for v in plain.weights]


@VERSIONS
@pytest.mark.parametrize("depth", [8, 11], ids=["basic", "bottleneck"])
def test_inference_equals_the_model_without_drop_path_with_its_weights_file(version, depth, tmp_path):
    """Weights files load either way (the layer order Keras keys them by is unchanged)."""
    plain = build(depth, version)
    path = str(tmp_path / "plain.weights.h5")
    plain.save_weights(path)
    dropped = build(depth, version, drop_path_rate=0.5, weights=path)
    assert len(drop_paths(dropped)) == 2
    np.testing.assert_array_equal(dropped(X, training=False), plain(X, training=False))
    back = str(tmp_path / "dropped.weights.h5")
    dropped.save_weights(back)
    again = build(depth, version, weights=back)
    np.testing.assert_array_equal(again(X, training=False), plain(X, training=False))


def test_registered_weights_load_with_drop_path():
    kwargs = dict(weights="fashion_mnist", input_shape=(28, 28, 1), classes=10)
    plain = keras_preact.PreActResNet20(**kwargs)
    dropped = keras_preact.PreActResNet20(drop_path_rate=0.1, **kwargs)
    x = np.random.default_rng(2).normal(size=(2, 28, 28, 1)).astype("float32")
    np.testing.assert_array_equal(dropped(x, training=False), plain(x, training=False))


@VERSIONS
def test_training_outputs_are_stochastic_only_with_drop_path(version):
    keras.utils.set_random_seed(3)
    plain = build(version=version)
    np.testing.assert_array_equal(plain(X, training=True), plain(X, training=True))
    dropped = build(version=version, drop_path_rate=0.5)
    first, second = dropped(X, training=True), dropped(X, training=True)
    assert not np.allclose(first, second)


@VERSIONS
def test_a_unit_keeps_or_drops_each_sample_branch_scaled_by_one_over_keep(version):
    """y = h + F / keep or y = h per sample, both seen (stage2_unit2 of 6 units: rate 0.54)."""
    keras.utils.set_random_seed(4)
    model = build(version=version, drop_path_rate=0.9)
    add = model.get_layer("stage2_unit2_add")
    assert add.rate == pytest.approx(0.9 * 3 / 5)
    x = np.random.default_rng(5).normal(size=(32, *SHAPE)).astype("float32")
    h, f, y = (t.numpy() for t in probe(model, add)(x, training=True))
    kept = [np.allclose(y[i], h[i] + f[i] / (1 - add.rate), rtol=1e-5, atol=1e-5) for i in range(len(x))]
    dropped = [np.array_equal(y[i], h[i]) for i in range(len(x))]
    assert all(k != d for k, d in zip(kept, dropped)) and any(kept) and any(dropped)
    assert np.abs(f).max() > 0.1  # a dropped sample is distinguishable from a kept one


@VERSIONS
def test_drop_path_model_round_trips_through_a_keras_file(version, tmp_path):
    model = build(version=version, drop_path_rate=0.2)
    path = str(tmp_path / "m.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert [(l.name, l.rate) for l in drop_paths(restored)] == [(l.name, l.rate) for l in drop_paths(model)]
    np.testing.assert_array_equal(restored(X, training=False), model(X, training=False))
    assert not np.allclose(restored(X, training=True), restored(X, training=True))


# Zero-initialised residual branches


# The layer each order zeroes: the BN after the last conv where there is one, else the conv.
ZEROED = {
    "original": "bn2",
    "bn_after_addition": "conv2",
    "relu_before_addition": "bn2",
    "relu_only_preact": "bn2",
    "full_preact": "conv2",
}


@pytest.mark.parametrize("order", sorted(units.ACTIVATION_ORDERS))
def test_zero_init_residual_starts_every_unit_as_its_shortcut(order):
    version = units.ACTIVATION_ORDERS[order].version
    model = build(version=version, activation_order=order, zero_init_residual=True)
    for add in add_layers(model):
        for training in (False, True):
            h, f, y = (t.numpy() for t in probe(model, add)(X, training=training))
            np.testing.assert_array_equal(f, 0.0, err_msg=add.name)
            np.testing.assert_array_equal(y, h, err_msg=add.name)
    # An identity unit's addition returns its input x_l, the output of the unit before.
    x_l = unit_boundaries(model)[1][1]
    x_l, y = keras.Model(model.input, [x_l, model.get_layer("stage1_unit2_add").output])(X)
    np.testing.assert_array_equal(y, x_l)
    assert np.abs(x_l).max() > 0


@pytest.mark.parametrize("order", sorted(units.ACTIVATION_ORDERS))
def test_zero_init_residual_zeroes_the_bn_gamma_after_the_last_conv_else_its_kernel(order):
    version = units.ACTIVATION_ORDERS[order].version
    zeroed = ZEROED[order]
    assert units.ACTIVATION_ORDERS[order].zero_init_layer == zeroed[:-1]
    for zero in (True, False):
        model = build(version=version, activation_order=order, zero_init_residual=zero)
        for unit in [f"stage{s}_unit{u}" for s in (1, 2, 3) for u in (1, 2)]:
            layer = model.get_layer(f"{unit}_{zeroed}")
            variable = layer.gamma if zeroed.startswith("bn") else layer.kernel
            assert np.all(variable.numpy() == 0.0) == zero, (unit, zero)
            other = model.get_layer(f"{unit}_conv1").kernel.numpy()
            assert np.abs(other).max() > 0
        gammas = [l.gamma.numpy() for l in model.layers if hasattr(l, "gamma") and not l.name.endswith(zeroed)]
        assert gammas and all(np.all(g == 1.0) for g in gammas)  # conv1_bn, shortcut BNs, post_bn, out_bn


@pytest.mark.parametrize("version", [1, 2])
def test_zero_init_residual_in_bottleneck_units_zeroes_the_third_layer(version):
    model = build(11, version=version, zero_init_residual=True)
    layer = model.get_layer("stage2_unit1_bn3" if version == 1 else "stage2_unit1_conv3")
    assert np.all((layer.gamma if version == 1 else layer.kernel).numpy() == 0.0)
    h, f, y = (t.numpy() for t in probe(model, model.get_layer("stage2_unit1_add"))(X))
    np.testing.assert_array_equal(f, 0.0)
    np.testing.assert_array_equal(y, h)
    assert np.abs(model.get_layer("stage2_unit1_conv2").kernel.numpy()).max() > 0


def test_weights_replace_the_zero_initialisation(tmp_path):
    plain = build()
    path = str(tmp_path / "plain.weights.h5")
    plain.save_weights(path)
    zeroed = build(zero_init_residual=True, weights=path)
    np.testing.assert_array_equal(zeroed(X, training=False), plain(X, training=False))


# Errors


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"drop_path_rate": 1.0}, r"drop_path_rate=1.0; expected a float in \[0, 1\)"),
        ({"drop_path_rate": -0.1}, r"drop_path_rate=-0.1; expected a float in \[0, 1\)"),
        ({"drop_path_rate": True}, r"drop_path_rate=True; expected a float"),
        ({"drop_path_rate": "0.1"}, r"drop_path_rate='0.1'; expected a float"),
        ({"drop_path_rate": None}, r"drop_path_rate=None; expected a float"),
        ({"drop_path_rate": float("nan")}, r"drop_path_rate=nan; expected a float"),
        ({"zero_init_residual": 1}, r"zero_init_residual=1; expected True or False"),
        ({"zero_init_residual": "yes"}, r"zero_init_residual='yes'; expected True or False"),
        (
            {"drop_path_rate": 0.1, "shortcut": "exclusive_gating"},
            r"drop_path_rate=0.1 with shortcut='exclusive_gating'; drop path applies to the plain addition",
        ),
        ({"drop_path_rate": 0.1, "shortcut": "shortcut_only_gating"}, r"with shortcut='shortcut_only_gating'"),
    ],
)
def test_bad_values_are_refused_naming_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        keras_preact.build_resnet(8, family="cifar", **kwargs)
    with pytest.raises(ValueError, match=message):
        keras_preact.ResNet20(**kwargs)


def test_accepted_values():
    assert len(drop_paths(build(8, drop_path_rate=0))) == 0  # an int 0 is the default
    assert len(drop_paths(build(8, drop_path_rate=np.float32(0.5)))) == 2
    gated = build(8, shortcut="exclusive_gating", drop_path_rate=0.0, zero_init_residual=True)
    assert drop_paths(gated) == []
