"""TFLite conversion of the shipped weights: float32/float16 parity and int8 agreement on real Fashion-MNIST."""

import os

import numpy as np
import pytest

import keras_preact
from keras_preact.data import readers
from keras_preact.export import (
    FLOAT16_MIN_ELEMENTS,
    QUANTIZATIONS,
    export_tflite,
    keras_logits,
    run_tflite,
)

from tests.helpers.marks import needs_fashion_mnist

TEST_IMAGES = 1000
# Largest max-abs logit difference from Keras the issue allows. With every constant rounded
# to float16 (the converter's own float16 mode) the shipped weights' error was 0.01005;
# keeping the vectors under 1,024 values float32 brings it to 0.0035.
LOGIT_TOLERANCE = {"float32": 1e-4, "float16": 1e-2}
MIN_TOP1_AGREEMENT = 0.99


def _prep(images):
    return keras_preact.preprocess_input(images, "fashion_mnist")


@pytest.fixture(scope="module")
def trained():
    """The shipped PreActResNet20 Fashion-MNIST weights (saved_models/), 1,000 real test
    images and 100 training images for calibration."""
    model = keras_preact.PreActResNet20(weights="fashion_mnist", input_shape=(28, 28, 1), classes=10)
    train_x, _ = readers.load_fashion_mnist("train")
    test_x, test_y = readers.load_fashion_mnist("test")
    return model, _prep(test_x[:TEST_IMAGES]), test_y[:TEST_IMAGES], _prep(train_x[:100])


# The module-scoped conversions are shared by its tests: keep them on one xdist worker.
pytestmark = pytest.mark.xdist_group("tflite")


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    """The shipped model converted once in every quantization: (directory, sizes)."""
    model, _, _, calibration = trained
    directory = tmp_path_factory.mktemp("tflite")
    sizes = {
        quantization: export_tflite(
            model, str(directory / f"{quantization}.tflite"), quantization, calibration, dataset="fashion_mnist"
        )
        for quantization in QUANTIZATIONS
    }
    return directory, sizes


@needs_fashion_mnist
@pytest.mark.parametrize(
    "quantization", [pytest.param(q, marks=pytest.mark.slow) if q.startswith("int8") else q for q in QUANTIZATIONS]
)
def test_tflite_matches_keras(trained, exported, quantization):
    model, images, labels, calibration = trained
    directory, sizes = exported
    path = directory / f"{quantization}.tflite"
    assert sizes[quantization] == os.path.getsize(path) > 0
    expected = keras_logits(model, images)
    got = run_tflite(path, images)
    agreement = np.mean(got.argmax(-1) == expected.argmax(-1))
    assert agreement >= MIN_TOP1_AGREEMENT, f"{quantization}: top-1 agreement {agreement:.4f}"
    assert np.mean(expected.argmax(-1) == labels) > 0.9  # the shipped model
    error = np.max(np.abs(got - expected))
    if quantization in LOGIT_TOLERANCE:
        assert error <= LOGIT_TOLERANCE[quantization], error


def _weight_scales_per_tensor(path):
    """The number of quantisation scales of each int8 convolution kernel (4-D, output
    channels first; activations have batch 1 here)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    constants = [
        detail
        for detail in interpreter.get_tensor_details()
        if detail["dtype"] == np.int8 and len(detail["shape"]) == 4 and detail["shape"][0] > 1
    ]
    return [len(detail["quantization_parameters"]["scales"]) for detail in constants]


@needs_fashion_mnist
@pytest.mark.slow
def test_int8_per_tensor_stores_one_scale_per_weight_tensor(exported):
    directory, sizes = exported
    scales = {quantization: _weight_scales_per_tensor(directory / f"{quantization}.tflite") for quantization in sizes}
    assert scales["int8_per_tensor"] and set(scales["int8_per_tensor"]) == {1}
    assert max(scales["int8"]) >= 16  # one per output channel
    assert sizes["int8_per_tensor"] < sizes["int8"]


def _constants(path):
    """(type name, number of values) of each constant tensor of a `.tflite` file."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    return [
        (flatbuffer_utils.type_to_name(tensor.type), int(np.prod(tensor.shape)))
        for tensor in model.subgraphs[0].tensors
        if model.buffers[tensor.buffer].data is not None and len(model.buffers[tensor.buffer].data)
    ]


@needs_fashion_mnist
def test_float16_stores_weights_of_1024_values_or_more_as_float16(trained, exported):
    model = trained[0]
    directory, sizes = exported
    images = np.random.default_rng(1).normal(size=(7, 28, 28, 1)).astype("float32")
    half = _constants(directory / "float16.tflite")
    assert {count >= FLOAT16_MIN_ELEMENTS for kind, count in half if kind == "FLOAT16"} == {True}
    assert {count < FLOAT16_MIN_ELEMENTS for kind, count in half if kind == "FLOAT32"} == {True}
    large = sum(count for kind, count in _constants(directory / "float32.tflite") if count >= FLOAT16_MIN_ELEMENTS)
    assert large == sum(count for kind, count in half if kind == "FLOAT16") > 0
    assert sizes["float16"] < 0.6 * sizes["float32"]
    np.testing.assert_allclose(
        run_tflite(directory / "float16.tflite", images), keras_logits(model, images), atol=LOGIT_TOLERANCE["float16"]
    )


def test_tflite_bad_input_is_named(tmp_path):
    model = keras_preact.build_resnet(8, family="cifar", input_shape=(28, 28, 1), classes=10)
    with pytest.raises(ValueError, match=r"quantization='int4'; expected one of \('float32'"):
        export_tflite(model, str(tmp_path / "m.tflite"), "int4")
    with pytest.raises(
        ValueError, match=r"representative_images of shape \(120, 32, 32, 3\); expected \(N, \*\(28, 28, 1\)\)"
    ):
        export_tflite(model, str(tmp_path / "m.tflite"), "int8", np.zeros((120, 32, 32, 3)), "fashion_mnist")
    with pytest.raises(ValueError, match=r"quantization='int8_per_tensor' needs representative_images"):
        export_tflite(model, str(tmp_path / "m.tflite"), "int8_per_tensor", None, "fashion_mnist")
    with pytest.raises(ValueError, match=r"5 representative_images; expected at least 100"):
        export_tflite(model, str(tmp_path / "m.tflite"), "int8", np.zeros((5, 28, 28, 1)), "fashion_mnist")
    with pytest.raises(FileExistsError, match=r"TFLite path that is a directory"):
        export_tflite(model, str(tmp_path), "float32")
