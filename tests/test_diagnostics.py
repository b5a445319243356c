"""Signal-propagation diagnostics ([2] Eqn. (4)/(5)) and the keras-tuner search space."""

import csv

import keras
import keras_tuner
import numpy as np
import pytest

import keras_preact
from keras_preact import diagnostics
from keras_preact.graph import unit_names
from keras_preact.tuning import PreActHyperModel

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


def test_cli_writes_csv_and_png(tmp_path):
    out = tmp_path / "propagation"
    rows = diagnostics.main(
        ["--models", "ResNet8", "PreActResNet8", "--dataset", "synthetic_cifar", "--batch", "8", "--steps", "0,2"]
        + ["--out", str(out)]
    )
    with open(f"{out}.csv") as f:
        written = list(csv.DictReader(f))
    # 2 models x 2 steps x (stem + 3 units)
    assert len(written) == len(rows) == 16
    assert {(r["model"], r["step"]) for r in written} == {(m, s) for m in ("ResNet8", "PreActResNet8") for s in "02"}
    # the two steps of training moved the weights, so the measurements differ
    at = {(r["model"], r["step"], r["index"]): float(r["gradient_norm"]) for r in written}
    assert at[("PreActResNet8", "0", "1")] != at[("PreActResNet8", "2", "1")]
    assert open(f"{out}.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_diagnostics_bad_input_is_named():
    plain = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(10)])
    with pytest.raises(ValueError, match="no stageS_unitU_\\* layers; expected a keras_preact model"):
        diagnostics.measure(plain, *_batch((8, 8, 3)))
    model = keras_preact.build_resnet(8, family="cifar", input_shape=(16, 16, 3), classes=10)
    with pytest.raises(ValueError, match=r"steps=\[5, 0\]; expected ascending"):
        diagnostics.signal_propagation(model, iter([_batch((16, 16, 3))]), steps=[5, 0])


def test_hypermodel_two_trial_search(tmp_path):
    x, y = _batch((16, 16, 1), count=64)
    tuner = keras_tuner.RandomSearch(
        PreActHyperModel((16, 16, 1), 10, depths=(8, 11)),
        objective="val_accuracy",
        max_trials=2,
        seed=3,
        directory=str(tmp_path),
    )
    tuner.search(x, y, validation_data=(x[:32], y[:32]), epochs=1, batch_size=32, verbose=0)
    trials = list(tuner.oracle.trials.values())
    assert len(trials) == 2 and all(t.status == "COMPLETED" for t in trials)
    for trial in trials:
        values = trial.hyperparameters.values
        order = values[f"activation_order_v{values['version']}"]
        assert keras_preact.units.ACTIVATION_ORDERS[order].version == values["version"]
        assert {"depth", "learning_rate", "weight_decay", "shortcut"} <= set(values)
    best = tuner.get_best_models(1)[0]
    assert best.output_shape == (None, 10) and unit_names(best)


def test_hypermodel_bad_input_is_named():
    with pytest.raises(ValueError, match="depth=12"):
        PreActHyperModel((16, 16, 1), 10, depths=(12,))
    with pytest.raises(ValueError, match=r"versions=3; expected one of \(1, 2\)"):
        PreActHyperModel((16, 16, 1), 10, versions=(3,))
    with pytest.raises(ValueError, match="none of which is a version 1 order"):
        PreActHyperModel((16, 16, 1), 10, versions=(1,), activation_orders=("full_preact",))
