"""The trainer in the test process: a finished run is not silently redone, an empty
evaluation batch, non-finite weights after a checkpoint, and mixed precision with the
process settings restored. (Distributed runs: test_strategy.py; the command's fault
tests: tests/commands/test_train.py.)"""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers.runs import tiny_trainer


def test_a_finished_run_without_its_checkpoints_is_not_silently_redone(tmp_path):
    results = tiny_trainer(tmp_path).train()
    assert results["status"] == "completed"
    assert tiny_trainer(tmp_path).train()["step"] == results["step"]  # found, nothing to do
    for path in (tmp_path / "checkpoints").iterdir():
        for file in path.iterdir():
            file.unlink()
        path.rmdir()
    with pytest.raises(ValueError, match=r"holds the results of a finished run .* move results.json away"):
        tiny_trainer(tmp_path).train()
    assert json.loads((tmp_path / "results.json").read_text())["step"] == results["step"]  # untouched


def test_evaluation_step_accepts_an_empty_batch(tmp_path):
    """A replica's share of the final evaluation batch can be empty (MirroredStrategy)."""
    run = tiny_trainer(tmp_path)
    sums = run._eval_step(tf.zeros([0, 32, 32, 3]), tf.zeros([0], tf.int64))
    assert [float(v) for v in sums] == [0.0, 0.0, 0.0]
    sums = run._eval_step(tf.zeros([2, 32, 32, 3]), tf.constant([0, 1], tf.int64))
    assert float(sums[2]) == 2.0 and np.isfinite(float(sums[0])) and float(sums[0]) > 0


def test_non_finite_weights_after_a_checkpoint_reject_it(tmp_path):
    """At lr 1e30 step 1's update is finite but exploded and is checkpointed; step 2 makes
    the weights non-finite, so checkpoint 1 is rejected and a rerun starts from step 0."""
    run = tiny_trainer(tmp_path, "base_lr=1e30", "warmup_steps=0", "total_steps=20")
    results = run.train()
    assert results["status"] == "nan" and results["step"] == 2
    assert run.manager.checkpoints() == [] and os.listdir(tmp_path / "checkpoints") == ["rejected-step-00000001"]
    assert tiny_trainer(tmp_path, "base_lr=1e30", "warmup_steps=0", "total_steps=20").manager.restore_latest() is None


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_trains_and_the_process_settings_are_restored(tmp_path, policy):
    from tensorflow.python.framework import config as tf_config

    assert keras.mixed_precision.global_policy().name == "float32"
    determinism = tf_config.is_op_determinism_enabled()
    np.random.seed(123)
    expected_draw = np.random.random()
    np.random.seed(123)
    run = tiny_trainer(tmp_path, f"mixed_precision={policy}", "deterministic=true")
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after building ...
    results = run.train()
    assert keras.mixed_precision.global_policy().name == "float32"  # ... and after training
    assert tf_config.is_op_determinism_enabled() == determinism
    assert np.random.random() == expected_draw  # NumPy's random state is put back too
    assert run.model.get_layer("conv1").compute_dtype == policy.split("_")[1]
    assert run.model.get_layer("conv1").kernel.dtype == "float32"
    assert (policy == "mixed_float16") == isinstance(run.optimizer, keras.optimizers.LossScaleOptimizer)
    assert results["status"] == "completed" and np.isfinite(results["eval_loss"])
