"""What the standalone BatchNorm ops of pre-activation cost in TFLite.

A BN that directly follows a conv (every BN of v1, and the BN inside a v2 unit between
its convolutions) is folded into the conv by the converter. A v2 unit's pre-activation
BN acts on the sum x_l (shortcut + residual) and is followed by a ReLU, so it cannot be
folded into any conv: it stays as one standalone op per unit. With
keras_preact.models.layers.BatchNormalization that op is a DEPTHWISE_CONV_2D with the ReLU
fused (the layer's inference path); with Keras' BatchNormalization it is a MUL.

This script converts v1, v2, and v2 built with Keras' BatchNormalization (same weights)
at the same depth to float32 and int8 TFLite, prints each file's size and op counts, and
times them with the LiteRT interpreter side by side (rounds alternate; medians). The
v2 / v1 latency ratio bounds what folding could still win; v2 / v2-with-Keras-BN is what
the depthwise form wins over the MUL form.

    python benchmarks/tflite_bn_ops.py [--depth 20] [--input-shape 28,28,1] [--batch 64]
"""

import argparse
import collections
import functools
import os
import statistics
import tempfile
import time

import numpy as np

import keras_preact
from keras_preact import export


def op_counts(path):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    return collections.Counter(op["op_name"] for op in interpreter._get_ops_details())


def _models(depth, shape):
    """v1, v2, and v2 built with Keras' BatchNormalization (pre-activation BNs as MUL)."""
    build = functools.partial(keras_preact.build_resnet, depth, family="cifar", input_shape=shape, classes=10)
    models = {"v1": build(version=1), "v2": build(version=2), "v2 Keras BN": build(version=2, norm="keras")}
    models["v2 Keras BN"].set_weights(models["v2"].get_weights())
    return models


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--input-shape", default="28,28,1")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    shape = tuple(int(v) for v in args.input_shape.split(","))
    from ai_edge_litert.interpreter import Interpreter

    rng = np.random.default_rng(0)
    calibration = rng.normal(size=(100, *shape)).astype("float32")
    batch = rng.normal(size=(args.batch, *shape)).astype("float32")
    runners, counts, sizes = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in _models(args.depth, shape).items():
            for quantization in ("float32", "int8"):
                key = f"{name} {quantization}"
                path = os.path.join(tmp, f"{name.replace(' ', '_')}_{quantization}.tflite")
                export.export_tflite(
                    model, path, quantization, calibration if quantization == "int8" else None, "fashion_mnist"
                )
                counts[key] = op_counts(path)
                sizes[key] = os.path.getsize(path)
                runner = Interpreter(model_path=path, num_threads=2).get_signature_runner("serving_default")
                runners[key] = runner
        times = collections.defaultdict(list)
        for runner in runners.values():
            runner(images=batch)
        for _ in range(args.rounds):
            for key, runner in runners.items():
                start = time.perf_counter()
                for _ in range(args.repeats):
                    runner(images=batch)
                times[key].append((time.perf_counter() - start) / args.repeats)
    print(f"ResNet-{args.depth} v1 vs v2, input {shape}, batch {args.batch}, 2 threads")
    for key, count in counts.items():
        ops = ", ".join(f"{name} {n}" for name, n in sorted(count.items()))
        print(f"{key:18s} {statistics.median(times[key]) * 1000:8.2f} ms {sizes[key] / 1e6:7.3f} MB   ops: {ops}")
    for quantization in ("float32", "int8"):
        latency = {name: statistics.median(times[f"{name} {quantization}"]) for name in ("v1", "v2", "v2 Keras BN")}
        print(
            f"{quantization}: v2 / v1 latency {latency['v2'] / latency['v1']:.3f}x, "
            f"v2 / v2 with Keras BN {latency['v2'] / latency['v2 Keras BN']:.3f}x"
        )


if __name__ == "__main__":
    main()
