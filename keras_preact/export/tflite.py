"""TFLite conversion of an exported SavedModel: float32, float16, dynamic-range and
full-integer (int8) files, run by the LiteRT interpreter."""

import os
import tempfile

import numpy as np
import tensorflow as tf

from keras_preact.export.float16 import store_weights_as_float16
from keras_preact.export.quantizations import CALIBRATED, QUANTIZATIONS
from keras_preact.export.saved_model import export_saved_model
from keras_preact.utils import quiet
from keras_preact.utils.checks import check_choice
from keras_preact.utils.files import atomic_write

MIN_CALIBRATION_IMAGES = 100


def convert_saved_model_to_tflite(saved_model_dir, quantization="float32", representative_images=None):
    """Converts the `serving_default` signature of an exported SavedModel to TFLite.

    Args:
        saved_model_dir: a version directory written by `export_saved_model`.
        quantization: "float32"; "float16" (weights of at least 1,024 values stored as
            float16, see `store_weights_as_float16`);
            "dynamic" (int8 weights, float activations); "int8" (int8 weights and
            activations, calibrated on `representative_images`; float input/output;
            one weight scale per output channel); "int8_per_tensor" (the same with
            one weight scale per tensor: a smaller file, and the form that
            accelerators without per-channel support need).
        representative_images: for "int8"/"int8_per_tensor", at least 100 preprocessed images
            (N, H, W, C) float32, e.g. drawn from the training pipeline; the other
            quantizations ignore them.

    Returns:
        The `.tflite` flatbuffer as bytes.

    Raises:
        ValueError: for an unknown quantization, or missing, too few or wrongly
            shaped representative images.
    """
    check_choice("quantization", quantization, QUANTIZATIONS)
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=["serving_default"])
    if quantization == "float16":
        return store_weights_as_float16(converter.convert())
    if quantization != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization in CALIBRATED:
        expected = tuple(tf.saved_model.load(saved_model_dir).signatures["serving_default"].inputs[0].shape[1:])
        images = _check_representative(representative_images, expected, quantization)
        converter.representative_dataset = lambda: ([images[i : i + 1]] for i in range(len(images)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter._experimental_disable_per_channel = quantization == "int8_per_tensor"
    with quiet.held_notices():  # in a command: the quantizer's settings line
        return converter.convert()


def _check_representative(images, expected_shape, quantization):
    if images is None:
        raise ValueError(
            f"quantization={quantization!r} needs representative_images: "
            f">= {MIN_CALIBRATION_IMAGES} preprocessed images."
        )
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or tuple(images.shape[1:]) != expected_shape:
        raise ValueError(f"Received: representative_images of shape {images.shape}; expected (N, *{expected_shape}).")
    if len(images) < MIN_CALIBRATION_IMAGES:
        raise ValueError(
            f"Received: {len(images)} representative_images; expected at least {MIN_CALIBRATION_IMAGES} "
            "(fewer calibrate int8 ranges badly)."
        )
    return images


def export_tflite(model, path, quantization="float32", representative_images=None, dataset="imagenet"):
    """Exports a Keras model to a `.tflite` file (through a temporary SavedModel);
    returns the file size in bytes. See `convert_saved_model_to_tflite`."""
    if os.path.isdir(path):
        raise FileExistsError(f"Received: a TFLite path that is a directory: {path}; expected a file name.")
    check_choice("quantization", quantization, QUANTIZATIONS)
    with tempfile.TemporaryDirectory() as tmp:
        saved = export_saved_model(model, tmp, "model", 1, dataset)
        flatbuffer = convert_saved_model_to_tflite(saved, quantization, representative_images)

    def save(tmp):
        with open(tmp, "wb") as f:
            f.write(flatbuffer)

    atomic_write(save, path)
    return len(flatbuffer)
