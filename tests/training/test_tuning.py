"""The keras-tuner search space over the paper's networks (`keras_preact.training.tuning`)."""

import keras_tuner
import numpy as np
import pytest

import keras_preact
from keras_preact.models.graph import unit_names
from keras_preact.training.tuning import PreActHyperModel


def _batch(shape, count=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(count, *shape)).astype("float32"), rng.integers(0, 10, count)


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
        assert keras_preact.models.units.ACTIVATION_ORDERS[order].version == values["version"]
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
