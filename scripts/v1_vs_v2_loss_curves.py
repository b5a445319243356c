"""First training steps of v1 and v2 at one depth on real Fashion-MNIST: loss curves as PNG + CSV.

    python scripts/v1_vs_v2_loss_curves.py --depth 110 --steps 150 --batch 64 --out runs/curves/resnet110

Both models see the same batches (the training pipeline with one seed) and train with the
trainer's step (`make_train_step`: cross-entropy + L2 weight decay 1e-4), SGD momentum 0.9 and the paper's
CIFAR learning rate: 0.01 for the first `--warmup` steps, then 0.1 ([2] appendix: the
warm-up is what lets v1-1001 start at all). Per-step training loss is recorded.
"""

import argparse
import csv
import os
import sys
import time

import keras
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras_preact  # noqa: E402
from keras_preact.data import pipelines, sources  # noqa: E402
from keras_preact.training.optimizers import SGD  # noqa: E402
from keras_preact.training.schedules import StepSchedule  # noqa: E402
from keras_preact.training.step import make_train_step  # noqa: E402

PROGRESS_EVERY = 10  # steps between progress lines


def curve(name, steps, batch, warmup, seed):
    keras.utils.set_random_seed(seed)
    model = keras_preact.get_model(name, input_shape=(28, 28, 1), classes=10, classifier_activation=None)
    optimizer = SGD(StepSchedule(0.1, (), 0.01, warmup), momentum=0.9)
    optimizer.build(model.trainable_variables)
    step = make_train_step(model, optimizer, global_batch_size=batch, weight_decay=1e-4)

    source = sources.load_source("fashion_mnist", "train", seed=seed)
    stream = pipelines.make_dataset(source, "fashion_mnist", training=True, batch_size=batch, seed=seed)
    losses, start = [], time.perf_counter()
    print(f"{name}: built; training {steps} steps (a line every {PROGRESS_EVERY})", flush=True)
    for images, labels in stream.take(steps):
        losses.append(float(step((images, labels))[0]))
        if len(losses) % PROGRESS_EVERY == 0:
            print(f"{name}: step {len(losses)}/{steps}, loss {losses[-1]:.3f}, "
                  f"{time.perf_counter() - start:.0f} s", flush=True)  # fmt: skip
    print(f"{name}: {steps} steps in {time.perf_counter() - start:.0f} s, loss {losses[0]:.3f} -> "
          f"mean of the last 20 {np.mean(losses[-20:]):.3f}")  # fmt: skip
    return losses


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=110)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/curves/v1_vs_v2")
    args = parser.parse_args()
    names = (f"ResNet{args.depth}", f"PreActResNet{args.depth}")
    curves = {name: curve(name, args.steps, args.batch, args.warmup, args.seed) for name in names}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + ".csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", *names])
        writer.writerows([i + 1, *(curves[n][i] for n in names)] for i in range(args.steps))
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    window = 10
    for name, losses in curves.items():
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        axis.plot(range(1, len(losses) + 1), losses, alpha=0.25)
        axis.plot(
            range(window, len(losses) + 1), smooth, label=f"{name} (mean of {window})", color=axis.lines[-1].get_color()
        )
    axis.set_xlabel(f"step (batch {args.batch}, lr 0.01 for {args.warmup} steps, then 0.1)")
    axis.set_ylabel("training cross-entropy")
    axis.set_title(f"Fashion-MNIST, first {args.steps} steps: v1 vs v2 at depth {args.depth}")
    axis.grid(True, alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(args.out + ".png", dpi=110)
    print(f"Wrote {args.out}.csv and {args.out}.png")


if __name__ == "__main__":
    main()
