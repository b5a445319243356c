"""`prepare_fit`: Keras' `fit` traces the model once instead of twice, with the same
result. (The time it saves is measured by benchmarks/first_step.py.)"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_preact


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 32, 32, 3)).astype("float32"), rng.integers(0, 10, 16)


def _fit(prepare, weights=None):
    """Trains a fresh PreActResNet8 for one epoch; returns (weights, traces of conv1)."""
    model = keras_preact.build_resnet(8, family="cifar", classifier_activation=None)
    if weights is not None:
        model.set_weights(weights)
    conv1, traces = model.get_layer("conv1"), []
    call = conv1.call
    conv1.call = lambda *args, **kwargs: traces.append(1) or call(*args, **kwargs)  # counts symbolic calls
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), loss, metrics=["accuracy"])
    x, y = _data()
    if prepare:
        assert keras_preact.prepare_fit(model, x[:8], y[:8]) is model
        assert model.optimizer.built and not traces  # built without running the model
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    return [np.asarray(w) for w in model.weights], len(traces)


def test_prepare_fit_traces_the_model_once_and_trains_the_same():
    initial = [np.asarray(w) for w in keras_preact.build_resnet(8, family="cifar", classifier_activation=None).weights]
    plain, plain_traces = _fit(False, initial)
    prepared, prepared_traces = _fit(True, initial)
    assert (plain_traces, prepared_traces) == (2, 1)  # Keras' symbolic build pass and the step, or the step
    for a, b in zip(plain, prepared):
        np.testing.assert_array_equal(a, b)


def test_prepare_fit_errors():
    model = keras_preact.build_resnet(8, family="cifar")
    x, y = _data()
    with pytest.raises(ValueError, match=r"model 'preact_resnet8', which is not compiled"):
        keras_preact.prepare_fit(model, x, y)
    model.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"x of shape \(None, 28, 28, 3\); 'preact_resnet8' takes"):
        keras_preact.prepare_fit(model, x[:, :28, :28], y)


# prepare_fit, then one epoch of fit, on another backend (no `distribute_strategy` there).
OTHER_BACKEND = """
import json, keras, numpy as np, keras_preact
model = keras_preact.build_resnet(8, family="cifar", input_shape=(8, 8, 3), classifier_activation=None)
loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
model.compile(keras.optimizers.SGD(0.1, momentum=0.9), loss, metrics=["accuracy"])
x, y = np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype("float32"), np.array([0, 1, 2, 3])
prepared = keras_preact.prepare_fit(model, x, y) is model and model.optimizer.built
history = model.fit(x, y, batch_size=4, epochs=1, verbose=0).history
print(json.dumps([keras.backend.backend(), prepared, bool(np.isfinite(history["loss"][0]))]))
"""


@pytest.mark.slow
def test_prepare_fit_on_jax():
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERAS")}
    env.update(KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, "-c", OTHER_BACKEND], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["jax", True, True]
