"""Build time and time to the first training step of the deepest models.

Each configuration runs in a fresh subprocess (tracing caches and TF's graph state do
not leak between them) and prints one row:

    model  mode  build_s  first_step_s  next_step_s

Modes (all one SGD-momentum step of cross-entropy on a random batch, TF backend):
    fit_naive      model.compile + train_on_batch, optimizer built lazily inside the
                   traced step (what a user gets by default: the step is traced twice)
    step_naive     a tf.function train step, optimizer built beforehand
    step_no_grappler  the same with Grappler's graph rewrites switched off
    step_xla       the same compiled with XLA (jit_compile=True)

Usage: python benchmarks/first_step.py [--models PreActResNet1001 PreActResNet200]
       [--modes ...] [--batch 8]
"""

import argparse
import json
import os
import subprocess
import sys
import time

MODES = ("fit_naive", "step_naive", "step_no_grappler", "step_xla")
INPUT = {"PreActResNet1001": (32, 32, 3), "PreActResNet200": (224, 224, 3)}


def run_one(model_name, mode, batch):
    import numpy as np
    import tensorflow as tf

    if mode == "step_no_grappler":
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    import keras

    import keras_preact

    shape = INPUT.get(model_name, (32, 32, 3))
    start = time.perf_counter()
    model = keras_preact.get_model(model_name, input_shape=shape)
    build_s = time.perf_counter() - start
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (batch, *shape)).astype("float32")
    y = rng.integers(0, model.output_shape[-1], batch)
    optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
    if mode == "fit_naive":
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", jit_compile=False)
        step = lambda: model.train_on_batch(x, y)  # noqa: E731
    else:
        optimizer.build(model.trainable_variables)
        loss_fn = keras.losses.SparseCategoricalCrossentropy()

        @tf.function(jit_compile=mode == "step_xla")
        def train_step(x, y):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply(grads, model.trainable_variables)
            return loss

        x, y = tf.constant(x), tf.constant(y)
        step = lambda: float(train_step(x, y))  # noqa: E731
    start = time.perf_counter()
    step()
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(3):
        step()
    next_s = (time.perf_counter() - start) / 3
    return {"model": model_name, "mode": mode, "build_s": build_s, "first_step_s": first_s, "next_step_s": next_s}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["PreActResNet1001", "PreActResNet200"])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(*args.child, args.batch)))
        return
    print(f"{'model':<18} {'mode':<17} {'build_s':>8} {'first_step_s':>13} {'next_step_s':>12}", flush=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    for model_name in args.models:
        for mode in args.modes:
            out = subprocess.run(
                [sys.executable, __file__, "--batch", str(args.batch), "--child", model_name, mode],
                capture_output=True,
                text=True,
                env=env,
            )
            if out.returncode:
                print(f"{model_name:<18} {mode:<17} failed: {out.stderr.strip().splitlines()[-1]}", flush=True)
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{r['model']:<18} {r['mode']:<17} {r['build_s']:>8.1f} {r['first_step_s']:>13.1f} "
                f"{r['next_step_s']:>12.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
