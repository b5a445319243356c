"""Size and latency of one model in every deployment format, side by side in one run.

Keras (`model.predict` and a direct `model(x, training=False)` call), the TF Serving
SavedModel's `serving_default`, and TFLite float32 / float16 / dynamic-range / int8 /
int8 per-tensor run by the LiteRT interpreter with 2 threads. Each is timed on one
image and on a batch; rounds alternate between formats so that machine noise hits all
alike, and medians are reported. Goals: int8 file <= 0.26x and int8 latency <= 0.75x
of the float32 TFLite model.

    python benchmarks/export_formats.py [--model PreActResNet20 --weights fashion_mnist] [--batch 64]
"""

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import tensorflow as tf

import keras_preact
from keras_preact import export


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="PreActResNet20")
    parser.add_argument("--weights", default="fashion_mnist")
    parser.add_argument("--input-shape", default="28,28,1")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=10, help="calls per round")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--data",
        default="fashion_mnist",
        help="dataset whose training images calibrate int8 and whose test images are timed "
        "('none': random normal images)",
    )
    parser.add_argument("--calibration-images", type=int, default=500)
    args = parser.parse_args()
    shape = tuple(int(v) for v in args.input_shape.split(","))
    weights = None if args.weights == "none" else args.weights
    model = keras_preact.get_model(args.model, weights=weights, input_shape=shape, classes=10)
    if args.data == "none":
        rng = np.random.default_rng(0)
        calibration = rng.normal(size=(args.calibration_images, *shape)).astype("float32")
        batch = rng.normal(size=(args.batch, *shape)).astype("float32")
    else:
        calibration = export.pipeline_images(args.data, "train", args.calibration_images, shape)
        batch = export.pipeline_images(args.data, "test", args.batch, shape)
    single = batch[:1]

    from ai_edge_litert.interpreter import Interpreter

    with tempfile.TemporaryDirectory() as tmp:
        saved = export.export_saved_model(model, tmp, "m", 1, "fashion_mnist")
        serving = tf.saved_model.load(saved).signatures["serving_default"]
        sizes = {"keras (.weights.h5)": _weights_size(model, tmp), "saved_model": export.directory_size(saved)}
        runners = {
            "keras predict": lambda x: model.predict(x, verbose=0),
            "keras call": lambda x: model(x, training=False),
            "saved_model": lambda x: serving(images=tf.constant(x)),
        }
        floors = {}
        for quantization in export.QUANTIZATIONS:
            path = os.path.join(tmp, f"{quantization}.tflite")
            size = export.export_tflite(model, path, quantization, calibration, "fashion_mnist")
            sizes[f"tflite {quantization}"] = size
            runners[f"tflite {quantization}"] = _tflite_runner(Interpreter, path, args.threads)
            floors[f"tflite {quantization}"] = _payload_bytes(path)
        times = {(name, n): [] for name in runners for n in (1, args.batch)}
        for name, run in runners.items():  # warm up
            run(single), run(batch)
        for _ in range(args.rounds):
            for name, run in runners.items():
                for x in (single, batch):
                    start = time.perf_counter()
                    for _ in range(args.repeats):
                        run(x)
                    times[(name, len(x))].append((time.perf_counter() - start) / args.repeats)
    median = {key: statistics.median(values) for key, values in times.items()}
    print(
        f"{args.model} ({args.weights}), input {shape}, {args.threads} TFLite threads, "
        f"int8 calibrated on {len(calibration)} images of {args.data}"
    )
    print(f"{'format':22s} {'size MB':>9s} {'1 image ms':>11s} {f'batch {args.batch} ms':>13s} {'img/s':>8s}")
    for name in runners:
        size = sizes.get(name, sizes.get("keras (.weights.h5)") if name.startswith("keras") else None)
        one, many = median[(name, 1)] * 1000, median[(name, args.batch)] * 1000
        print(f"{name:22s} {size / 1e6:9.3f} {one:11.2f} {many:13.2f} {args.batch / many * 1000:8.0f}")
    fp32 = "tflite float32"
    for quantization in export.CALIBRATED:
        int8 = f"tflite {quantization}"
        print(f"{quantization} / float32 TFLite: size {sizes[int8] / sizes[fp32]:.3f}x (goal <= 0.26x), "
              f"latency 1 image {median[(int8, 1)] / median[(fp32, 1)]:.2f}x, "
              f"batch {median[(int8, args.batch)] / median[(fp32, args.batch)]:.2f}x (goal <= 0.75x)")  # fmt: skip
        floor = floors[int8]
        print(f"  its constants, scales and zero points alone (no names, no graph): {floor / 1e6:.3f} MB, "
              f"{floor / sizes[fp32]:.3f}x the float32 file: no {quantization} file of this model is less")  # fmt: skip


def _payload_bytes(path):
    """Bytes a `.tflite` file cannot do without: its constant buffers, plus each
    quantized tensor's scales (float32) and zero points (int64, one per scale, as the
    TFLite schema stores them)."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(path)
    total = sum(0 if buffer.data is None else len(buffer.data) for buffer in model.buffers)
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            quant = tensor.quantization
            if quant is not None:
                total += 0 if quant.scale is None else 4 * len(quant.scale)
                total += 0 if quant.zeroPoint is None else 8 * len(quant.zeroPoint)
    return total


def _tflite_runner(interpreter_class, path, threads):
    runner = interpreter_class(model_path=path, num_threads=threads).get_signature_runner("serving_default")
    return lambda x: runner(images=x)


def _weights_size(model, tmp):
    path = os.path.join(tmp, "m.weights.h5")
    model.save_weights(path)
    return os.path.getsize(path)


if __name__ == "__main__":
    main()
