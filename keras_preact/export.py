"""Export for TF Serving: versioned SavedModels with preprocessed, raw and encoded inputs.

`export_saved_model(model, base_dir)` writes `<base_dir>/<model_name>/<version>/`, the
layout TF Serving polls, through Keras 3's `keras.export.ExportArchive`
(`tf.lite.TFLiteConverter.from_keras_model` and the Keras 2 SavedModel path do not
work with Keras 3 models). Signatures, all with a dynamic batch size:

* `serving_default`: `images`, float32 (batch, H, W, C), already preprocessed with
  `preprocess_input(x, dataset)`;
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

import argparse
import json
import os
import shutil

import keras
import numpy as np
import tensorflow as tf

from keras_preact import pipelines
from keras_preact.checkpoints import atomic_write, atomic_write_text
from keras_preact.checks import check_choice
from keras_preact.pipelines import DATASETS
from keras_preact.preprocessing import DATASET_STATS, preprocess_input

SIGNATURES = ("serving_default", "serving_raw", "serving_bytes")


def _outputs(model):
    """A function images -> dict of named outputs."""
    try:
        classifier = model.get_layer("predictions")
    except ValueError:
        classifier = None
    if classifier is None:
        return lambda x: {"features": model(x, training=False)}
    features = keras.Model(model.inputs, classifier.input)

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
        dataset: the `preprocess_input` statistics the model was trained with.
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
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"Received: version={version!r}; expected a positive integer (TF Serving's layout).")
    final = os.path.join(model_dir, str(version))
    if os.path.exists(final) and not overwrite:
        raise ValueError(f"Version {version} already exists at {final}; pass overwrite=True or another version.")
    os.makedirs(model_dir, exist_ok=True)

    height, width, channels = shape
    outputs = _outputs(model)

    def from_uint8(images):
        images = tf.image.resize(tf.cast(images, tf.float32), (height, width))
        return outputs(preprocess_input(images, dataset, "channels_last"))

    def from_bytes(image_bytes):
        def decode(data):
            image = tf.io.decode_image(data, channels=channels, expand_animations=False)
            return tf.image.resize(tf.cast(image, tf.float32), (height, width))

        images = tf.map_fn(decode, image_bytes, fn_output_signature=tf.TensorSpec((height, width, channels)))
        return outputs(preprocess_input(images, dataset, "channels_last"))

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


QUANTIZATIONS = ("float32", "float16", "dynamic", "int8", "int8_per_tensor")
# The full-integer quantizations, which need representative images to calibrate.
CALIBRATED = ("int8", "int8_per_tensor")
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
    return converter.convert()


# Constants with fewer values stay float32 in "float16" files: the threshold of TFLite's
# dynamic-range quantiser (`min_elements`).
FLOAT16_MIN_ELEMENTS = 1024


def store_weights_as_float16(flatbuffer, min_elements=FLOAT16_MIN_ELEMENTS):
    """Stores the float32 constants of a float32 `.tflite` flatbuffer that hold at least
    `min_elements` values as float16, each read through a DEQUANTIZE op (the form
    TFLite's own float16 conversion writes and that CPU and GPU delegates run).

    The converter's float16 mode rounds every constant, including the per-channel
    multiply and add that a pre-activation BatchNormalization becomes (it cannot be folded
    into the convolution before it, Fig. 4(e) of [2]) and the biases. Those vectors are
    a few kilobytes, but rounding the BN scales to 11 significant bits is most of the
    logit error: 0.0100 against 0.0035 with them kept float32, on the shipped
    PreActResNet20 Fashion-MNIST weights, for a file of the same size.

    Returns:
        The rewritten flatbuffer as bytes.
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    if model.buffers[0].data is not None and len(model.buffers[0].data):
        raise ValueError("Received: a flatbuffer whose buffer 0 is not the empty buffer; expected a TFLite model.")
    dequantize = _operator_code(model, schema, schema.BuiltinOperator.DEQUANTIZE, version=3)
    replaced = set()
    for subgraph in model.subgraphs:
        computed = {int(index) for op in subgraph.operators for index in op.outputs}
        reads = []
        for index, tensor in enumerate(list(subgraph.tensors)):
            data = model.buffers[tensor.buffer].data
            if (
                tensor.type != schema.TensorType.FLOAT32
                or data is None
                or len(data) < 4 * min_elements
                or index in computed
            ):
                continue
            half = schema.BufferT()
            half.data = np.frombuffer(bytes(data), "<f4").astype("<f2").view(np.uint8)
            model.buffers.append(half)
            constant = schema.TensorT()
            constant.shape, constant.name = tensor.shape, tensor.name
            constant.type, constant.buffer = schema.TensorType.FLOAT16, len(model.buffers) - 1
            subgraph.tensors.append(constant)
            replaced.add(tensor.buffer)
            tensor.buffer = 0  # now computed by the DEQUANTIZE op
            read = schema.OperatorT()
            read.opcodeIndex, read.inputs, read.outputs = dequantize, [len(subgraph.tensors) - 1], [index]
            reads.append(read)
        subgraph.operators = reads + list(subgraph.operators or [])
    still_read = {tensor.buffer for subgraph in model.subgraphs for tensor in subgraph.tensors}
    for buffer in replaced - still_read:
        model.buffers[buffer].data = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _operator_code(model, schema, builtin, version):
    """The index of `builtin` in the model's operator codes, added if missing."""
    for index, code in enumerate(model.operatorCodes):
        if code.builtinCode == builtin:
            code.version = max(code.version, version)
            return index
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = builtin
    code.version = version
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


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
    import tempfile

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


def keras_logits(model, images, batch_size=250):
    """The logits (or features) of `model(x, training=False)`, as the exports compute them."""
    outputs = _outputs(model)
    key = "logits" if "logits" in outputs(images[:1]) else "features"
    return np.concatenate(
        [np.asarray(outputs(images[i : i + batch_size])[key]) for i in range(0, len(images), batch_size)]
    )


def run_tflite(path, images, num_threads=2, batch_size=250):
    """Runs the `serving_default` signature of a `.tflite` file with the LiteRT
    interpreter; returns its logits (or features)."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path), num_threads=num_threads).get_signature_runner("serving_default")
    key = "logits" if "logits" in runner.get_output_details() else "features"
    images = np.asarray(images, np.float32)
    return np.concatenate([runner(images=images[i : i + batch_size])[key] for i in range(0, len(images), batch_size)])


def run_saved_model(path, images, batch_size=250):
    """Runs the `serving_default` signature of an exported SavedModel version directory;
    returns its logits (or features)."""
    serving = tf.saved_model.load(path).signatures["serving_default"]
    key = "logits" if "logits" in serving.structured_outputs else "features"
    images = np.asarray(images, np.float32)
    return np.concatenate(
        [
            serving(images=tf.constant(images[i : i + batch_size]))[key].numpy()
            for i in range(0, len(images), batch_size)
        ]
    )


def parity(expected, got):
    """Max abs difference and top-1 agreement of two logit arrays."""
    return {
        "max_abs_diff": float(np.max(np.abs(expected - got))),
        "top1_agreement": float(np.mean(expected.argmax(-1) == got.argmax(-1))),
    }


# -- command line ------------------------------------------------------------------------


def _load_model(args):
    """The model, its `preprocess_input` dataset and its data source name, from the CLI's source flags."""
    import keras_preact

    if args.workdir:
        with open(os.path.join(args.workdir, "config.json")) as f:
            config = json.load(f)
        path = os.path.join(args.workdir, "model.keras")
        if not os.path.exists(path):
            raise ValueError(f"Received: --workdir {args.workdir} without model.keras; is the training finished?")
        return keras.saving.load_model(path), DATASETS[config["dataset"]].stats, config["dataset"]
    if args.keras_file:
        return keras.saving.load_model(args.keras_file), args.dataset or "imagenet", args.data
    kwargs = {}
    if args.input_shape:
        kwargs["input_shape"] = tuple(int(v) for v in args.input_shape.split(","))
    if args.classes:
        kwargs["classes"] = args.classes
    model = keras_preact.get_model(args.model, weights=args.weights, **kwargs)
    info = keras_preact.get_weights_info(args.model, args.weights) if isinstance(args.weights, str) else None
    dataset = args.dataset or (info.preprocessing if info else "imagenet")
    return model, dataset, args.data or (info.name if info and info.name in DATASETS else None)


def _images(data, split, count, shape, seed=0):
    """`count` preprocessed images of `split` from the training pipeline's source `data`."""
    source = pipelines.load_source(data, split, subset=count, seed=seed, synthetic_size=count)
    stream = pipelines.make_dataset(source, data, training=False, batch_size=count)
    images = next(iter(stream))[0].numpy()
    if tuple(images.shape[1:]) != tuple(shape):
        raise ValueError(f"Received: --data {data!r} with images {images.shape[1:]}; the model takes {shape}.")
    return images


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="keras-preact-export",
        description="Export a keras_preact model to a TF Serving SavedModel and/or TFLite files, and check parity.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="a registered model name, e.g. PreActResNet20 (with --weights)")
    source.add_argument("--keras-file", help="a saved .keras model")
    source.add_argument("--workdir", help="a training work directory (model.keras + config.json)")
    parser.add_argument("--weights", help="with --model: a registered weights name or a .weights.h5 path")
    parser.add_argument("--input-shape", help="with --model: H,W,C")
    parser.add_argument("--classes", type=int, help="with --model: classifier outputs")
    parser.add_argument("--dataset", help="the preprocess_input statistics (default: from the weights or workdir)")
    parser.add_argument(
        "--data", help="the pipeline source for calibration and parity images, e.g. fashion_mnist (default: inferred)"
    )
    parser.add_argument("--saved-model", metavar="BASE_DIR", help="write <BASE_DIR>/<name>/<version>/")
    parser.add_argument("--name", help="the SavedModel's model name (default: the model's name)")
    parser.add_argument("--version", type=int, help="the SavedModel version (default: next free)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing SavedModel version")
    parser.add_argument("--tflite", metavar="PREFIX", help="write <PREFIX>_<quantization>.tflite")
    parser.add_argument("--quantization", default="float32", help=f"comma-separated, of {', '.join(QUANTIZATIONS)}")
    parser.add_argument("--calibration-images", type=int, default=500, help="int8 representative images")
    parser.add_argument("--parity-images", type=int, default=1000, help="images to measure parity on")
    args = parser.parse_args(argv)
    if not (args.saved_model or args.tflite):
        parser.error("nothing to do: pass --saved-model BASE_DIR and/or --tflite PREFIX")
    try:
        return _export(args)
    except (ValueError, OSError) as e:
        parser.error(str(e))


def _export(args):
    quantizations = args.quantization.split(",")
    for quantization in quantizations:
        check_choice("quantization", quantization, QUANTIZATIONS)
    model, dataset, data = _load_model(args)
    shape = tuple(model.input_shape[1:])
    if data:
        test_images = _images(data, DATASETS[data].eval_split, args.parity_images, shape)
        wants_int8 = args.tflite and any(q in CALIBRATED for q in quantizations)
        calibration = _images(data, "train", args.calibration_images, shape, seed=1) if wants_int8 else None
    else:
        print("No --data: parity on random images, and no int8 calibration data.")
        test_images = np.random.default_rng(0).normal(size=(min(args.parity_images, 64), *shape)).astype("float32")
        calibration = None
    expected = keras_logits(model, test_images)
    report = {}
    if args.saved_model:
        path = export_saved_model(model, args.saved_model, args.name, args.version, dataset, args.overwrite)
        got = run_saved_model(path, test_images)
        report[path] = {"bytes": directory_size(path), **parity(expected, got)}
    if args.tflite:
        for quantization in quantizations:
            path = f"{args.tflite}_{quantization}.tflite"
            size = export_tflite(model, path, quantization, calibration, dataset)
            report[path] = {"bytes": size, **parity(expected, run_tflite(path, test_images))}
    print(f"Parity against Keras model(x, training=False) on {len(test_images)} {data or 'random'} images:")
    for path, row in report.items():
        print(
            f"  {path}: {row['bytes'] / 1e6:.2f} MB, max |logit diff| {row['max_abs_diff']:.3g}, "
            f"top-1 agreement {row['top1_agreement'] * 100:.2f}%"
        )
    return report


def directory_size(path):
    """Bytes of all files under `path`."""
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


if __name__ == "__main__":
    main()
