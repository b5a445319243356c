"""Parity runners: the same images through Keras, an exported SavedModel and a TFLite
file, each returning the logits (or the features of a model without a classifier)."""

import os

import numpy as np
import tensorflow as tf

from keras_preact.data import pipelines, sources
from keras_preact.export.saved_model import model_outputs
from keras_preact.models.preprocessing import DATASET_STATS
from keras_preact.utils import quiet


def output_key(names):
    """The output the parity runners compare: "logits" where the model has a classifier,
    else "features" (the outputs of `export_saved_model`'s signatures)."""
    return "logits" if "logits" in names else "features"


def _batched(run, images, batch_size):
    """`run` over `images` in batches of `batch_size`, concatenated as a NumPy array."""
    images = np.asarray(images, np.float32)
    return np.concatenate([np.asarray(run(images[i : i + batch_size])) for i in range(0, len(images), batch_size)])


def keras_logits(model, images, batch_size=250):
    """The logits (or features) of `model(x, training=False)`, as the exports compute them."""
    outputs = model_outputs(model)
    key = output_key(outputs(np.asarray(images[:1], np.float32)))
    return _batched(lambda x: outputs(x)[key], images, batch_size)


def run_tflite(path, images, num_threads=2, batch_size=250):
    """Runs the `serving_default` signature of a `.tflite` file with the LiteRT
    interpreter; returns its logits (or features)."""
    from ai_edge_litert.interpreter import Interpreter

    with quiet.held_notices():  # in a command: LiteRT's XNNPACK notice, printed as it runs
        runner = Interpreter(model_path=str(path), num_threads=num_threads).get_signature_runner("serving_default")
        key = output_key(runner.get_output_details())
        return _batched(lambda x: runner(images=x)[key], images, batch_size)


def run_saved_model(path, images, batch_size=250):
    """Runs the `serving_default` signature of an exported SavedModel version directory;
    returns its logits (or features)."""
    serving = tf.saved_model.load(path).signatures["serving_default"]
    key = output_key(serving.structured_outputs)
    return _batched(lambda x: serving(images=tf.constant(x))[key], images, batch_size)


def parity(expected, got):
    """Max abs difference and top-1 agreement of two logit arrays."""
    return {
        "max_abs_diff": float(np.max(np.abs(expected - got))),
        "top1_agreement": float(np.mean(expected.argmax(-1) == got.argmax(-1))),
    }


def directory_size(path):
    """Bytes of all files under `path`."""
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def pipeline_images(data, split, count, shape, seed=0, raw=False):
    """`count` preprocessed images of `split` of the dataset `data`, through the evaluation
    pipeline (the parity and int8 calibration images); with `raw`, the same images before
    the normalisation, in [0, 255] (for a model built with include_preprocessing=True).

    Raises:
        ValueError: if the images do not have the model's `shape`.
    """
    source = sources.load_source(data, split, subset=count, seed=seed, synthetic_size=count)
    stream = pipelines.make_dataset(source, data, training=False, batch_size=count)
    images = next(iter(stream))[0].numpy()
    if tuple(images.shape[1:]) != tuple(shape):
        raise ValueError(f"Received: --data {data!r} with images {images.shape[1:]}; the model takes {shape}.")
    if raw:
        mean, std = (np.asarray(v, "float32") for v in DATASET_STATS[sources.get_dataset_info(data).stats])
        images = images * std + mean
    return images
