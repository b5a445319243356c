"""A small real keras-tuner search over `PreActHyperModel` on a Fashion-MNIST subset.

    python scripts/tune_fashion_mnist.py [--trials 4] [--train-images 4000] [--epochs 2]

Random search over depth (8, 14, 20), version with its unit variants, learning rate and
weight decay; the objective is the accuracy on 1,000 held-out training images. Prints one
line per trial, best first.
"""

import argparse
import os
import sys
import time

import keras_tuner
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras_preact  # noqa: E402
from keras_preact.data.readers import load_fashion_mnist  # noqa: E402
from keras_preact.training.tuning import PreActHyperModel  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--train-images", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--directory", default="runs/tuner")
    args = parser.parse_args()
    images, labels = load_fashion_mnist("train")
    order = np.random.default_rng(0).permutation(len(images))
    images = np.asarray(keras_preact.preprocess_input(images[order].astype("float32"), "fashion_mnist"))
    labels = labels[order]
    n = args.train_images
    tuner = keras_tuner.RandomSearch(
        PreActHyperModel((28, 28, 1), 10, depths=(8, 14, 20)),
        objective="val_accuracy",
        max_trials=args.trials,
        seed=0,
        directory=args.directory,
        project_name="fashion_mnist",
        overwrite=True,
    )
    start = time.perf_counter()
    tuner.search(
        images[:n], labels[:n], validation_data=(images[n : n + 1000], labels[n : n + 1000]),
        epochs=args.epochs, batch_size=128, verbose=0,
    )  # fmt: skip
    print(f"{args.trials} trials, {n} images x {args.epochs} epochs, {time.perf_counter() - start:.0f} s")
    for trial in tuner.oracle.get_best_trials(args.trials):
        values = dict(trial.hyperparameters.values)
        order_key = f"activation_order_v{values['version']}"
        print(
            f"val_accuracy {trial.score:.4f}  depth {values['depth']:2d}  v{values['version']} "
            f"{values[order_key]:21s} shortcut {values['shortcut']}  lr {values['learning_rate']:.3f}  "
            f"wd {values['weight_decay']:.1e}"
        )


if __name__ == "__main__":
    main()
