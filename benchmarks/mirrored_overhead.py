"""Strategy overhead: the trainer's step under a 1-device MirroredStrategy and under
OneDeviceStrategy("/cpu:0") against the same step with no strategy, interleaved in one
process.

Both take batches from the same `keras_preact.data.pipelines` training pipeline (the
strategy's through `distribute_datasets_from_function`) and run the trainer's loss
(cross-entropy over the global batch + L2 weight decay) and SGD-momentum update.
Rounds alternate between the two so that machine noise hits both alike; the
medians of the per-step times are compared. Goal: Mirrored overhead <= 5%. Caveat
(docs/benchmarks.md): in separate processes the trainer's step ran 2.1x slower under
OneDeviceStrategy("/cpu:0") than under the default strategy, but in this one-process
benchmark all three variants run at about the slower speed, so the baseline here is not
a clean "no strategy" one.

    python benchmarks/mirrored_overhead.py [--model PreActResNet20] [--batch 128] [--rounds 6]
"""

import argparse
import statistics
import time

import tensorflow as tf

import keras_preact
from keras_preact.data import pipelines, sources
from keras_preact.training.optimizers import SGD
from keras_preact.training.step import make_train_step

WEIGHT_DECAY = 1e-4


def build(model_name, strategy, batch, source):
    scope = strategy.scope() if strategy else tf.init_scope()
    with scope:
        model = keras_preact.get_model(model_name, input_shape=(32, 32, 3), classes=10, classifier_activation=None)
        optimizer = SGD(0.1, momentum=0.9)
        optimizer.build(model.trainable_variables)
    make = lambda context=None: pipelines.make_dataset(  # noqa: E731
        source, "synthetic_cifar", training=True, batch_size=batch, input_context=context
    )
    dataset = strategy.distribute_datasets_from_function(make) if strategy else make()
    step = make_train_step(
        model,
        optimizer,
        global_batch_size=batch,
        weight_decay=WEIGHT_DECAY,
        strategy=strategy or tf.distribute.get_strategy(),
    )
    return step, iter(dataset)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="PreActResNet20")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=5, help="steps per round")
    args = parser.parse_args()
    source = sources.load_source("synthetic_cifar", synthetic_size=10_000)
    runs = {
        "no_strategy": build(args.model, None, args.batch, source),
        "mirrored_1_device": build(args.model, tf.distribute.MirroredStrategy(["/cpu:0"]), args.batch, source),
        "one_device_cpu": build(args.model, tf.distribute.OneDeviceStrategy("/cpu:0"), args.batch, source),
    }
    times = {name: [] for name in runs}
    for step, iterator in runs.values():
        step(iterator)[0].numpy()  # trace
    for _ in range(args.rounds):
        for name, (step, iterator) in runs.items():
            for _ in range(args.steps):
                start = time.perf_counter()
                step(iterator)[0].numpy()
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, median in medians.items():
        print(f"{name:18s} median step {median * 1000:8.1f} ms  {args.batch / median:8.1f} images/s")
    overhead = medians["mirrored_1_device"] / medians["no_strategy"] - 1
    print(f"MirroredStrategy overhead: {overhead * 100:+.1f}% (goal <= 5%)")
    ratio = medians["one_device_cpu"] / medians["no_strategy"]
    print(f"OneDeviceStrategy('/cpu:0') step time: {ratio:.2f}x that of no strategy")


if __name__ == "__main__":
    main()
