"""Block-level rematerialisation: the same gradients and statistics, and a run with
`remat=true`."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_preact
from keras_preact.training.remat import rematerialize

from tests.helpers.runs import tiny_trainer


@pytest.mark.parametrize("version", [1, 2])
def test_remat_gives_the_same_gradients_and_statistics(version):
    model = keras_preact.build_resnet(20, family="cifar", version=version, input_shape=(8, 8, 3))
    remat = rematerialize(model)
    assert [layer.name for layer in remat.layers[2:-1]] == [f"stage{s}_unit{u}" for s in (1, 2, 3) for u in (1, 2, 3)]
    images = tf.random.stateless_normal((4, 8, 8, 3), (1, 2))
    start = [np.asarray(v) for v in model.non_trainable_variables]

    def step(network):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(network(images, training=True) ** 2)
        return tape.gradient(loss, model.trainable_variables)

    expected = tf.function(step)(model)  # both traced: eager and graph kernels round differently
    expected_stats = [np.asarray(v) for v in model.non_trainable_variables]
    for variable, value in zip(model.non_trainable_variables, start):
        variable.assign(value)
    got = tf.function(step)(remat)
    for a, b in zip(expected, got):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5 * float(np.max(np.abs(a))))
    for a, b in zip(expected_stats, model.non_trainable_variables):  # updated once, not twice
        np.testing.assert_allclose(a, np.asarray(b), atol=1e-6)


def test_remat_trains_and_rejects_other_models(tmp_path):
    results = tiny_trainer(tmp_path, "remat=true").train()
    assert results["status"] == "completed" and np.isfinite(results["eval_loss"])
    with pytest.raises(ValueError, match=r"no stageS_unitU_\* layers"):
        rematerialize(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))
