"""Signal-propagation diagnostics ([2] Eqn. (4)/(5)): the measurements. (The command:
tests/commands/test_diagnostics.py.)"""

import keras
import numpy as np
import pytest

import keras_preact
from keras_preact.models.graph import unit_names
from keras_preact.training import diagnostics

# Eqn. (5): within a stage, dE/dx_l = dE/dx_L + dE/dx_L * d/dx_l sum F, so the gradient
# at x_l holds the gradient at x_L plus residual terms that a batch does not cancel:
# E||dE/dx_l||^2 >= ||dE/dx_L||^2 when they are uncorrelated. The per-unit ratio
# ||dE/dx_l|| / ||dE/dx_L|| must stay >= 1; 0.5 leaves room for a small batch's noise.
MIN_GRADIENT_RATIO_IN_STAGE = 0.5


def _batch(shape, count=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(count, *shape)).astype("float32"), rng.integers(0, 10, count)


@pytest.mark.parametrize("depth", [20, 29])  # basic and bottleneck units
def test_v2_identity_path_carries_the_gradient(depth):
    keras.utils.set_random_seed(depth)
    model = keras_preact.build_resnet(
        depth, family="cifar", input_shape=(16, 16, 3), classes=10, classifier_activation=None
    )
    rows = diagnostics.measure(model, *_batch((16, 16, 3)))
    assert [r["unit"] for r in rows] == ["stem", *unit_names(model)]
    assert all(np.isfinite(r["gradient_norm"]) and r["gradient_norm"] > 0 for r in rows)
    for stage in (1, 2, 3):
        # x_l from the output of the stage's first unit (the last shape change) on
        in_stage = [r for r in rows if r["stage"] == stage]
        top = in_stage[-1]["gradient_norm"]
        ratios = [r["gradient_norm"] / top for r in in_stage]
        assert min(ratios) >= MIN_GRADIENT_RATIO_IN_STAGE, (stage, ratios)


def test_measure_leaves_the_model_unchanged():
    model = keras_preact.build_resnet(8, family="cifar", input_shape=(16, 16, 3), classes=10)
    before = [v.numpy().copy() for v in model.variables]
    diagnostics.measure(model, *_batch((16, 16, 3)), from_logits=False)
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(before, model.variables))


def test_diagnostics_bad_input_is_named():
    plain = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(10)])
    with pytest.raises(ValueError, match="no stageS_unitU_\\* layers; expected a keras_preact model"):
        diagnostics.measure(plain, *_batch((8, 8, 3)))
    model = keras_preact.build_resnet(8, family="cifar", input_shape=(16, 16, 3), classes=10)
    with pytest.raises(ValueError, match=r"steps=\[5, 0\]; expected ascending"):
        diagnostics.signal_propagation(model, iter([_batch((16, 16, 3))]), steps=[5, 0])
