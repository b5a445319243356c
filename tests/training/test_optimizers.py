"""keras_preact.training.optimizers.SGD: Keras' SGD, with the momentum update as one op on TF."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_preact
from keras_preact.training import optimizers
from keras_preact.training.schedules import StepSchedule


def _train(optimizer_class, steps=3, **kwargs):
    """Weights, momentums and the traced op types after `steps` SGD steps of a small net."""
    keras.utils.set_random_seed(0)
    model = keras_preact.build_resnet(8, family="cifar", input_shape=(8, 8, 3), classes=5)
    optimizer = optimizer_class(StepSchedule(0.1, boundaries=(2,)), **kwargs)
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    x = tf.random.stateless_normal((4, 8, 8, 3), (1, 2))
    y = tf.constant([0, 1, 2, 4])

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)

    for _ in range(steps):
        step()
    op_types = {op.type for op in step.get_concrete_function().graph.get_operations()}
    return [v.numpy() for v in model.weights], [v.numpy() for v in optimizer.variables], op_types


@pytest.mark.parametrize("kwargs", [dict(momentum=0.9), dict(momentum=0.9, nesterov=True), dict(momentum=0.0)])
def test_sgd_matches_keras_sgd(kwargs):
    reference_weights, reference_slots, _ = _train(keras.optimizers.SGD, **kwargs)
    weights, slots, op_types = _train(optimizers.SGD, **kwargs)
    assert len(weights) == len(reference_weights) and len(slots) == len(reference_slots)
    for a, b in zip(reference_weights + reference_slots, weights + slots):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    assert max(np.abs(a - b).max() for a, b in zip(weights, _train(optimizers.SGD, 0)[0])) > 1e-3  # it trained
    fused = kwargs["momentum"] and not kwargs.get("nesterov")
    assert ("ResourceApplyKerasMomentum" in op_types) == bool(fused)


def test_sgd_checkpoints_are_keras_sgd_checkpoints(tmp_path):
    variables = [keras.Variable(np.ones((3, 2), "float32")), keras.Variable(np.zeros(4, "float32"))]
    written = keras.optimizers.SGD(0.1, momentum=0.9)
    written.build(variables)
    for i, slot in enumerate(written.momentums):
        slot.assign(np.full(slot.shape, i + 0.5, "float32"))
    path = tf.train.Checkpoint(optimizer=written).write(str(tmp_path / "ckpt"))
    read = optimizers.SGD(0.1, momentum=0.9)
    read.build(variables)
    tf.train.Checkpoint(optimizer=read).read(path).assert_consumed()
    assert [float(m.numpy().flat[0]) for m in read.momentums] == [0.5, 1.5]


def test_sgd_serializes_as_keras_sgd():
    optimizer = optimizers.SGD(0.05, momentum=0.9)
    config = keras.optimizers.serialize(optimizer)
    assert (config["module"], config["class_name"], config.get("registered_name")) == ("keras.optimizers", "SGD", None)
    restored = keras.optimizers.deserialize(config)
    assert type(restored) is keras.optimizers.SGD and restored.get_config() == optimizer.get_config()
    # Keras' own SGD is still saved and loaded as itself
    assert keras.optimizers.serialize(keras.optimizers.SGD())["class_name"] == "SGD"


# Runs with keras_preact unimportable: the compiled model's file, and its optimizer state.
LOADER = """
import sys
sys.modules["keras_preact"] = None  # any import of the package fails
import keras
model = keras.saving.load_model(sys.argv[1])
print(type(model.optimizer).__name__, model.optimizer.momentum, int(model.optimizer.iterations))
"""


def _compiled_model_file(tmp_path):
    """A small model compiled with the package's SGD, trained one step and saved."""
    model = keras_preact.build_resnet(8, family="cifar", input_shape=(8, 8, 3), classes=3)
    model.compile(optimizer=optimizers.SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy")
    model.fit(np.zeros((2, 8, 8, 3), "float32"), np.zeros(2, "int32"), verbose=0)
    model.save(tmp_path / "compiled.keras")
    return tmp_path / "compiled.keras"


def test_compiled_model_reloads_with_keras_sgd(tmp_path):
    loaded = keras.saving.load_model(_compiled_model_file(tmp_path))
    assert type(loaded.optimizer) is keras.optimizers.SGD
    assert loaded.optimizer.momentum == 0.9 and int(loaded.optimizer.iterations) == 1


@pytest.mark.slow
def test_compiled_model_loads_without_the_package(tmp_path):
    path = _compiled_model_file(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", LOADER, str(path)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": "", "TF_CPP_MIN_LOG_LEVEL": "2"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-3:] == ["SGD", "0.9", "1"]
