"""The `keras-preact-diagnostics` command (also `python -m keras_preact.diagnostics`):
per-unit norms of x_l and dE/dx_l ([2] Eqn. (4)/(5)) for several models, written as a
CSV and a PNG (`keras_preact.training.diagnostics`).

    keras-preact-diagnostics --models ResNet164 PreActResNet164 --batch 16 --steps 0,10 --out runs/diag/r164

Exit status: 0 when both files are written; 2 for bad arguments (one line naming the
argument).
"""

import argparse
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
    quiet.start(args.verbose)
    quiet.load_tensorflow()
    from keras_preact.training import diagnostics

    try:
        diagnostics.run(args)
    except ValueError as e:
        parser.error(str(e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
