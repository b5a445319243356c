"""The `keras-preact-diagnostics` command: per-unit norms of x_l and dE/dx_l ([2] Eqn.
(4)/(5), measured by `keras_preact.training.diagnostics`) for several models, written
as a CSV and a PNG.

    keras-preact-diagnostics --models ResNet164 PreActResNet164 --batch 16 --steps 0,10 --out runs/diag/r164

Exit status: 0 when both files are written; 2 for bad arguments (one line naming the
argument).
"""

import argparse
import os
import sys

from keras_preact.utils import quiet


def _steps(text):
    """argparse type of --steps: comma-separated step counts >= 0."""
    try:
        steps = [int(s) for s in text.split(",")]
    except ValueError:
        steps = [-1]
    if min(steps) < 0:
        raise argparse.ArgumentTypeError(f"Received: {text!r}; expected comma-separated step counts >= 0, e.g. 0,10.")
    return steps


def _parser():
    parser = argparse.ArgumentParser(
        prog="keras-preact-diagnostics",
        description="Per-unit norms of x_l and dE/dx_l ([2] Eqn. (4)/(5)); writes a CSV and a PNG.",
    )
    parser.add_argument("--models", nargs="+", default=["ResNet110", "PreActResNet110"])
    parser.add_argument("--dataset", default="fashion_mnist", help="fashion_mnist, synthetic_cifar, cifar10 ...")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=_steps, default=[0, 10], help="comma-separated step counts to measure at")
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="diagnostics", help="output prefix: writes <out>.csv and <out>.png")
    parser.add_argument(
        "--verbose", action="store_true", help=f"show TensorFlow's start-up notices too (or set {quiet.VERBOSE_ENV}=1)"
    )
    return parser


def main(argv=None):
    """Runs the command; returns its exit status (0: the CSV and PNG are written)."""
    parser = _parser()
    args = parser.parse_args(argv)
    from keras_preact.data.catalog import DATASETS  # TensorFlow-free: refused before it loads

    if args.dataset not in DATASETS:
        parser.error(f"Received: --dataset {args.dataset!r}; expected one of {sorted(DATASETS)}.")
    quiet.start(args.verbose)
    quiet.load_tensorflow()
    try:
        run(args)
    except ValueError as e:
        parser.error(str(e))
    return 0


def _batches(dataset, batch, seed, input_shape):
    from keras_preact.data import pipelines, sources

    source = sources.load_source(dataset, "train", seed=seed, synthetic_size=batch * 64)
    stream = pipelines.make_dataset(source, dataset, training=True, batch_size=batch, seed=seed)
    for images, labels in stream:
        if tuple(images.shape[1:]) != tuple(input_shape):
            raise ValueError(
                f"Received: dataset {dataset!r} with images {images.shape[1:]}; the model takes {input_shape}."
            )
        yield images, labels


def run(args):
    """Measures every model of `args` (the command's parsed arguments, their dataset
    checked), writes `<out>.csv` and `<out>.png`; returns the rows.

    Raises:
        ValueError: for a model name, or a dataset whose images the model does not take.
    """
    from keras_preact.data.catalog import DATASETS
    from keras_preact.training.diagnostics import plot, write_csv

    info = DATASETS[args.dataset]
    rows = []
    for name in args.models:
        rows += _measure_model(name, args, info)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_csv(rows, args.out + ".csv")
    plot(rows, args.out + ".png", title=f"{args.dataset}, batch {args.batch}, SGD lr {args.learning_rate}")
    print(f"Wrote {args.out}.csv and {args.out}.png")
    return rows


def _measure_model(name, args, info):
    """The rows of one model, after printing its first-to-last ratios at each step."""
    import keras

    from keras_preact.models import get_model
    from keras_preact.training.diagnostics import signal_propagation

    keras.utils.set_random_seed(args.seed)
    model = get_model(name, input_shape=info.image_shape, classes=info.classes, classifier_activation=None)
    batches = _batches(args.dataset, args.batch, args.seed, info.image_shape)
    rows = [{"model": name, **row} for row in signal_propagation(model, batches, args.steps, args.learning_rate)]
    last_index = rows[-1]["index"]
    ends = [r for r in rows if r["index"] in (0, last_index)]
    for first, last in zip(ends[::2], ends[1::2]):
        print(
            f"{name:18s} step {first['step']:4d}: "
            f"||dE/dx_0|| / ||dE/dx_L|| = {first['gradient_norm'] / last['gradient_norm']:8.3g}   "
            f"||x_L|| / ||x_0|| = {last['activation_norm'] / first['activation_norm']:8.3g}",
            flush=True,
        )
    return rows


if __name__ == "__main__":
    sys.exit(main())
