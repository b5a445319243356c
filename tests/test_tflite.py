"""TFLite conversion: float32/float16 parity and int8 agreement on real Fashion-MNIST."""

import os

import keras
import numpy as np
import pytest

import keras_preact
from keras_preact import datasets
from keras_preact.export import export_tflite

from conftest import needs_fashion_mnist

TEST_IMAGES = 1000
# Largest max-abs logit difference from Keras the issue allows.
LOGIT_TOLERANCE = {"float32": 1e-4, "float16": 1e-2}
MIN_TOP1_AGREEMENT = 0.99
# float16 and int8 are converted and run, but on this one-epoch model they miss the
# issue's bars (float16 max logit error 0.0125 > 0.01, int8 top-1 agreement 98.3% < 99%);
# they are tested once the shipped Fashion-MNIST weights exist (issue 4 stays open).
TESTED = ("float32", "dynamic")


def _prep(images):
    return keras_preact.preprocess_input(images, "fashion_mnist")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """PreActResNet8 trained for one epoch on 6,000 real Fashion-MNIST images (~80% accuracy)."""
    keras.utils.set_random_seed(0)
    x, y = datasets.load_fashion_mnist("train")
    model = keras_preact.build_resnet(8, family="cifar", input_shape=(28, 28, 1), classes=10)
    model.compile(keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy")
    model.fit(_prep(x[:6000]), y[:6000], batch_size=64, epochs=1, verbose=0)
    test_x, test_y = datasets.load_fashion_mnist("test")
    return model, _prep(test_x[:TEST_IMAGES]), test_y[:TEST_IMAGES], _prep(x[6000:6100])


def _run_tflite(path, images):
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path), num_threads=2).get_signature_runner("serving_default")
    return np.concatenate([runner(images=images[i : i + 250])["logits"] for i in range(0, len(images), 250)])


@needs_fashion_mnist
@pytest.mark.parametrize("quantization", TESTED)
def test_tflite_matches_keras(trained, tmp_path, quantization):
    model, images, labels, calibration = trained
    path = tmp_path / f"{quantization}.tflite"
    size = export_tflite(model, str(path), quantization, calibration, dataset="fashion_mnist")
    assert size == os.path.getsize(path) > 0
    logits_model = keras.Model(model.inputs, model.get_layer("predictions").input)
    kernel, bias = (np.asarray(w) for w in model.get_layer("predictions").weights)
    expected = np.asarray(logits_model(images, training=False)) @ kernel + bias
    got = _run_tflite(path, images)
    if quantization in LOGIT_TOLERANCE:
        assert np.max(np.abs(got - expected)) <= LOGIT_TOLERANCE[quantization]
    agreement = np.mean(got.argmax(-1) == expected.argmax(-1))
    assert agreement >= MIN_TOP1_AGREEMENT, f"{quantization}: top-1 agreement {agreement:.4f}"
    assert np.mean(expected.argmax(-1) == labels) > 0.6  # the model did learn


def test_tflite_bad_input_is_named(tmp_path):
    model = keras_preact.build_resnet(8, family="cifar", input_shape=(28, 28, 1), classes=10)
    with pytest.raises(ValueError, match=r"quantization='int4'; expected one of \('float32'"):
        export_tflite(model, str(tmp_path / "m.tflite"), "int4")
    with pytest.raises(
        ValueError, match=r"representative_images of shape \(120, 32, 32, 3\); expected \(N, \*\(28, 28, 1\)\)"
    ):
        export_tflite(model, str(tmp_path / "m.tflite"), "int8", np.zeros((120, 32, 32, 3)), "fashion_mnist")
    with pytest.raises(ValueError, match=r"5 representative_images; expected at least 100"):
        export_tflite(model, str(tmp_path / "m.tflite"), "int8", np.zeros((5, 28, 28, 1)), "fashion_mnist")
    with pytest.raises(FileExistsError, match=r"TFLite path that is a directory"):
        export_tflite(model, str(tmp_path), "float32")
