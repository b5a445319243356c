"""Train-step and inference throughput: PreActResNet50 vs keras.applications.ResNet50V2.

Both models are built with weights=None in the same process and timed on the same
batch with the package's training step (`keras_preact.training.make_train_step`, SGD
momentum) and a traced inference call, interleaved (A, B, A, B, ...) so that drift on
a shared machine hits both alike. Prints images/s, multiply-adds per image, and
throughput per multiply-add (images/s x MACs/image) with the ratio ours / Keras.
keras.applications.ResNet50V2 strides the last unit of each stage, so it does fewer
MACs per image than the paper's layout (stride in the first unit). A third model is
PreActResNet50 built with `norm="keras"` (Keras' own BatchNormalization) instead of the
package's fused one, to show what the fused kernels are worth.

Usage: python benchmarks/throughput.py [--batch 16] [--size 224] [--steps 5]
"""

import argparse
import sys
import time

import keras
import numpy as np
import tensorflow as tf

import keras_preact


def count_macs(model):
    """Multiply-adds of one image through the convolutions and dense layers."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            kh, kw = layer.kernel_size
            total += h * w * kh * kw * layer.input.shape[-1] * c_out
        elif isinstance(layer, keras.layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return total


def _progress(message):
    """A progress line on stderr (the figures go to stdout)."""
    print(message, file=sys.stderr, flush=True)


def timed_steps(model, x, y):
    """The package's training step and a traced inference of `model` on one batch."""
    from common import fixed_batch_step

    train_step = fixed_batch_step(model, (x, y))
    infer = tf.function(lambda x: model(x, training=False))
    return {"train": lambda x, y: train_step(), "infer": lambda x, y: infer(x).numpy()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    shape = (args.size, args.size, 3)
    logits = {"input_shape": shape, "classifier_activation": None}
    _progress("building the three models")
    models = {
        "keras_preact.PreActResNet50": keras_preact.PreActResNet50(**logits),
        "keras.applications.ResNet50V2": keras.applications.ResNet50V2(weights=None, **logits),
        "PreActResNet50, Keras BN": keras_preact.PreActResNet50(norm="keras", **logits),
    }
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(-1, 1, (args.batch, *shape)).astype("float32"))
    y = tf.constant(rng.integers(0, 1000, args.batch))
    steps = {name: timed_steps(m, x, y) for name, m in models.items()}
    macs = {name: count_macs(m) for name, m in models.items()}
    times = {(name, kind): [] for name in models for kind in ("train", "infer")}
    for kind in ("train", "infer"):
        for name in models:  # trace and warm up
            _progress(f"{kind}: tracing and warming up {name}")
            steps[name][kind](x, y)
            steps[name][kind](x, y)
        for step in range(args.steps):
            for name in models:
                start = time.perf_counter()
                steps[name][kind](x, y)
                times[(name, kind)].append(time.perf_counter() - start)
            _progress(f"{kind}: step {step + 1}/{args.steps} of each model")
    print(
        f"batch {args.batch}, {args.size}x{args.size}, median of {args.steps} interleaved steps, "
        f"TF {tf.__version__}, Keras {keras.__version__}"
    )
    print(
        f"{'model':<32} {'GMACs/img':>9} {'params':>11} {'train img/s':>12} {'infer img/s':>12} "
        f"{'train GMAC/s':>13} {'infer GMAC/s':>13}"
    )
    rate = {k: args.batch / np.median(v) for k, v in times.items()}
    for name, m in models.items():
        print(
            f"{name:<32} {macs[name] / 1e9:>9.3f} {m.count_params():>11,} {rate[(name, 'train')]:>12.2f} "
            f"{rate[(name, 'infer')]:>12.2f} {rate[(name, 'train')] * macs[name] / 1e9:>13.1f} "
            f"{rate[(name, 'infer')] * macs[name] / 1e9:>13.1f}"
        )
    ours, theirs, unfused = models
    for kind in ("train", "infer"):
        raw = rate[(ours, kind)] / rate[(theirs, kind)]
        per_mac = raw * macs[ours] / macs[theirs]
        print(f"{kind}: ours/keras = {raw:.3f}x raw, {per_mac:.3f}x per multiply-add (goal >= 1.05x per MAC)")
        print(f"{kind}: fused BN / Keras BN (same model) = {rate[(ours, kind)] / rate[(unfused, kind)]:.3f}x")


if __name__ == "__main__":
    main()
