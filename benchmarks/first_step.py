"""Build time and time to the first training step of the deepest models.

Each configuration runs in a fresh subprocess (tracing caches and TF's graph state do
not leak between them) and prints one row:

    model  mode  build_s  first_step_s  next_step_s

Modes (all one SGD-momentum step of cross-entropy on a random batch, TF backend; every
mode but fit_naive runs the package's training step, `keras_preact.training.make_train_step`,
with the optimizer built beforehand):
    keras_bn       the peer baseline: the model built with norm="keras" (Keras'
                   BatchNormalization), keras.optimizers.SGD, Grappler off
    fit_naive      model.compile + model.fit on one batch, as a user writes it: before the
                   step Keras traces the model once more to build the loss, metrics and
                   optimizer (keras.optimizers.SGD)
    fit_prepared   the same with `keras_preact.prepare_fit(model, x, y)` after compile:
                   built from the model's output spec, so the model is traced once
    fit_prepared_package_sgd  the same with keras_preact.training.optimizers.SGD
    step_naive     the step with keras.optimizers.SGD
    step_no_grappler  the same with Grappler's graph rewrites switched off
    step_xla       the same compiled with XLA (jit_compile=True)
    package        the step with keras_preact.training.optimizers.SGD (one
                   ResourceApplyKerasMomentum op per variable), Grappler on
    package_no_grappler  the same with Grappler off

Every mode but keras_bn builds the model with the package's fused BatchNormalization (one
FusedBatchNormV3 per layer in training, moving statistics included).

One experiment on top of package_no_grappler (not part of the package; see docs/benchmarks.md):
    shared_units   every residual unit run through a tf.function over the unit's
                   weights (`stateless_call` of one template unit), so the 333 units of
                   ResNet-1001 are traced as 6 distinct functions

Usage: python benchmarks/first_step.py [--models PreActResNet1001 PreActResNet200]
       [--modes ...] [--batch 8]
"""

import argparse
import json
import os
import subprocess
import sys
import time

MODES = (
    "keras_bn",
    "fit_naive",
    "fit_prepared",
    "fit_prepared_package_sgd",
    "step_naive",
    "step_no_grappler",
    "step_xla",
    "package",
    "package_no_grappler",
    "shared_units",
)
NO_GRAPPLER = ("keras_bn", "step_no_grappler", "package_no_grappler", "shared_units")
PACKAGE_SGD = ("package", "package_no_grappler", "shared_units", "fit_prepared_package_sgd")
FIT = ("fit_naive", "fit_prepared", "fit_prepared_package_sgd")
INPUT = {"PreActResNet1001": (32, 32, 3), "PreActResNet200": (224, 224, 3)}


def _share_unit_traces():
    """share_unit_traces (defined here so that importing it needs TF)."""
    import keras
    import tensorflow as tf

    from keras_preact.models.graph import unit_boundaries

    class SharedTraceUnit(keras.layers.Layer):
        def __init__(self, unit, function, **kwargs):
            super().__init__(name=unit.name, **kwargs)
            self.unit, self.function = unit, function

        def call(self, x, training=None):
            if not training:
                return self.unit(x, training=False)
            values = [
                [tf.convert_to_tensor(v.value) for v in vs]
                for vs in (self.unit.trainable_variables, self.unit.non_trainable_variables)
            ]
            y, updated = self.function(*values, x)
            for variable, value in zip(self.unit.non_trainable_variables, updated):
                variable.assign(value)
            return y

        def compute_output_shape(self, input_shape):
            return self.unit.compute_output_shape(input_shape)

    def structure(unit):
        configs = [
            (type(layer).__name__, sorted((k, repr(v)) for k, v in layer.get_config().items() if k != "name"))
            for layer in unit.layers
        ]
        return repr(configs) + repr([tuple(w.shape) for w in unit.weights])

    def share_unit_traces(model):
        names, boundaries = unit_boundaries(model)
        inputs = keras.Input(model.input_shape[1:])
        x = keras.Model(model.inputs, boundaries[0])(inputs)
        functions = {}
        for name, start, end in zip(names, boundaries, boundaries[1:]):
            unit = keras.Model(start, end, name=name)
            key = structure(unit)
            if key not in functions:

                @tf.function(autograph=False)
                def function(trainable, non_trainable, x, template=unit):
                    return template.stateless_call(trainable, non_trainable, x, training=True)

                functions[key] = function
            x = SharedTraceUnit(unit, functions[key])(x)
        x = keras.Model(boundaries[-1], model.outputs)(x)
        return keras.Model(inputs, x)

    return share_unit_traces


def run_one(model_name, mode, batch):
    import numpy as np
    import tensorflow as tf

    if mode in NO_GRAPPLER:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    import keras
    from common import fixed_batch_step

    import keras_preact
    from keras_preact.training import optimizers

    shape = INPUT.get(model_name, (32, 32, 3))
    start = time.perf_counter()
    norm = "keras" if mode == "keras_bn" else "fused"
    model = keras_preact.get_model(model_name, input_shape=shape, classifier_activation=None, norm=norm)
    build_s = time.perf_counter() - start
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (batch, *shape)).astype("float32")
    y = rng.integers(0, model.output_shape[-1], batch)
    optimizer = (optimizers.SGD if mode in PACKAGE_SGD else keras.optimizers.SGD)(0.1, momentum=0.9)
    started = time.perf_counter()
    if mode in FIT:  # compile and prepare_fit count toward the first step
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
        if mode != "fit_naive":
            keras_preact.prepare_fit(model, x, y)
        step = lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # noqa: E731
    else:
        network = _share_unit_traces()(model) if mode == "shared_units" else None
        batch_tensors = (tf.constant(x), tf.constant(y))
        step = fixed_batch_step(model, batch_tensors, optimizer, network, jit_compile=mode == "step_xla")
        started = time.perf_counter()
    step()
    first_s = time.perf_counter() - started
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
    print(f"{'model':<18} {'mode':<20} {'build_s':>8} {'first_step_s':>13} {'next_step_s':>12}", flush=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    for model_name in args.models:
        first = {}
        for mode in args.modes:
            out = subprocess.run(
                [sys.executable, __file__, "--batch", str(args.batch), "--child", model_name, mode],
                capture_output=True,
                text=True,
                env=env,
            )
            if out.returncode:
                print(f"{model_name:<18} {mode:<20} failed: {out.stderr.strip().splitlines()[-1]}", flush=True)
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            first[mode] = r["first_step_s"]
            print(
                f"{r['model']:<18} {r['mode']:<20} {r['build_s']:>8.1f} {r['first_step_s']:>13.1f} "
                f"{r['next_step_s']:>12.2f}",
                flush=True,
            )
        for mode in FIT:  # each fit mode's first step against the trainer's, measured in this run
            if mode in first and "package" in first:
                ratio = first[mode] / first["package"]
                print(f"{model_name:<18} {mode} / package first step: {ratio:.2f}x", flush=True)


if __name__ == "__main__":
    main()
