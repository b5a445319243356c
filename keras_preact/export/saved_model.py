"""Export for TF Serving: versioned SavedModels with preprocessed, raw and encoded inputs.

`export_saved_model(model, base_dir)` writes `<base_dir>/<model_name>/<version>/`, the
layout TF Serving polls, through Keras 3's `keras.export.ExportArchive`
(`tf.lite.TFLiteConverter.from_keras_model` and the Keras 2 SavedModel path do not
work with Keras 3 models). Signatures, all with a dynamic batch size:

* `serving_default`: `images`, float32 (batch, H, W, C), already preprocessed with
  `preprocess_input(x, dataset)`; for a model built with `include_preprocessing=True`,
  images in [0, 255] (the model normalises them);
* `serving_raw`: `images`, uint8 (batch, h, w, C) of any size: resized to H x W
  (bilinear) and preprocessed inside the graph;
* `serving_bytes`: `image_bytes`, string (batch,): encoded JPEG/PNG files (what REST
  clients send as {"b64": ...}), decoded, resized and preprocessed.

Outputs: `logits` and `probabilities` for models with a classifier (the logits are
computed from the classifier's weights whatever its activation), `features` for
models built with `include_top=False`.

A version is published atomically: it is written into a temporary directory beside
the version directories and renamed into place, so a server polling `base_dir` never
sees half a version.
"""

import json
import os
import shutil

import keras
import tensorflow as tf

from keras_preact.models.preprocessing import DATASET_STATS, includes_preprocessing, preprocess_input
from keras_preact.utils.checks import check_choice, is_integer
from keras_preact.utils.files import atomic_write_text

SIGNATURES = ("serving_default", "serving_raw", "serving_bytes")


def model_outputs(model):
    """A function images -> dict of named outputs."""
    try:
        classifier = model.get_layer("predictions")
    except ValueError:
        classifier = None
    if classifier is None:
        return lambda x: {"features": model(x, training=False)}
    features = keras.Model(model.input, classifier.input)  # one input, not a list: no structure warning

    def outputs(x):
        logits = tf.matmul(features(x, training=False), classifier.kernel) + classifier.bias
        return {"logits": logits, "probabilities": tf.nn.softmax(logits)}

    return outputs


def _next_version(model_dir):
    versions = [int(name) for name in os.listdir(model_dir) if name.isdigit()] if os.path.isdir(model_dir) else []
    return max(versions, default=0) + 1


def export_saved_model(model, base_dir, model_name=None, version=None, dataset="imagenet", overwrite=False):
    """Exports `model` as version `version` of `model_name` under `base_dir`.

    Args:
        model: a keras_preact model (or any single-input image model; the raw and
            bytes signatures assume channels-last images).
        base_dir: the TF Serving base path (created if missing).
        model_name: the directory of the model; defaults to `model.name`.
        version: a positive integer; None takes one more than the largest there.
        dataset: the `preprocess_input` statistics the model was trained with (not
            used for a model built with `include_preprocessing=True`).
        overwrite: replace an existing version (otherwise an error).

    Returns:
        The path of the published version directory.

    Raises:
        ValueError: for a bad version or dataset, an existing version without
            `overwrite`, or a model whose input is not an image batch.
        FileExistsError: if `base_dir` (or the model directory) is a file.
    """
    check_choice("dataset", dataset, DATASET_STATS)
    shape = tuple(model.input_shape[1:])
    if len(shape) != 3 or None in shape:
        raise ValueError(f"Received: a model with input shape {model.input_shape}; expected (batch, H, W, C).")
    model_dir = os.path.join(base_dir, model_name or model.name)
    for path in (base_dir, model_dir):
        if os.path.exists(path) and not os.path.isdir(path):
            raise FileExistsError(f"Received: an export path that is a file: {path}; expected a directory.")
    if version is None:
        version = _next_version(model_dir)
    if not is_integer(version) or version < 1:
        raise ValueError(f"Received: version={version!r}; expected a positive integer (TF Serving's layout).")
    final = os.path.join(model_dir, str(version))
    if os.path.exists(final) and not overwrite:
        raise ValueError(f"Version {version} already exists at {final}; pass overwrite=True or another version.")
    os.makedirs(model_dir, exist_ok=True)

    height, width, channels = shape
    outputs = model_outputs(model)
    if includes_preprocessing(model):  # the model normalises its [0, 255] input itself
        preprocess = lambda images: images  # noqa: E731
    else:
        preprocess = lambda images: preprocess_input(images, dataset, "channels_last")  # noqa: E731

    def from_uint8(images):
        images = tf.image.resize(tf.cast(images, tf.float32), (height, width))
        return outputs(preprocess(images))

    def from_bytes(image_bytes):
        def decode(data):
            image = tf.io.decode_image(data, channels=channels, expand_animations=False)
            return tf.image.resize(tf.cast(image, tf.float32), (height, width))

        images = tf.map_fn(decode, image_bytes, fn_output_signature=tf.TensorSpec((height, width, channels)))
        return outputs(preprocess(images))

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", outputs, [tf.TensorSpec((None, *shape), tf.float32, name="images")])
    archive.add_endpoint(
        "serving_raw", from_uint8, [tf.TensorSpec((None, None, None, channels), tf.uint8, name="images")]
    )
    archive.add_endpoint("serving_bytes", from_bytes, [tf.TensorSpec((None,), tf.string, name="image_bytes")])

    tmp = os.path.join(model_dir, f".tmp-{version}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    archive.write_out(tmp, verbose=False)
    if os.path.exists(final):
        trash = os.path.join(model_dir, f".old-{version}-{os.getpid()}")
        os.rename(final, trash)
        os.rename(tmp, final)
        shutil.rmtree(trash)
    else:
        os.rename(tmp, final)
    _write_request_example(model_dir, shape)
    return final


def _write_request_example(model_dir, shape):
    """A TF Serving REST body for `serving_default` (one zero image) beside the versions."""
    zeros = [[[0.0] * shape[2]] * shape[1]] * shape[0]
    body = {"signature_name": "serving_default", "instances": [{"images": zeros}]}
    atomic_write_text(json.dumps(body), os.path.join(model_dir, "request_example.json"))
