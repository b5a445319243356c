"""The training command: a named recipe plus overrides, a work directory, a strategy.

    keras-preact-train --recipe cifar10_resnet1001_v2 --workdir runs/r1001 [--strategy auto]
    keras-preact-train --recipe smoke --workdir runs/smoke --set batch_size=32
    python training/launch.py --list-recipes

Re-running the same command resumes from the newest good checkpoint in the workdir.
Exit status (`keras_preact.training.failures.EXIT_CODES`): 0 completed, preempted
(SIGTERM: what could be saved is saved) or nothing to do; 2 bad arguments, config or
data path; 3 stopped on a non-finite loss; 4 the workdir cannot be written; 5 damaged
data or checkpoints.
"""

import argparse
import json
import os
import sys

from keras_preact.training.config import STRATEGIES
from keras_preact.utils import quiet


def _device_count(text):
    """argparse type of --cpu-devices: an integer >= 0."""
    try:
        count = int(text)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError(f"Received: {text!r}; expected an integer >= 0 (0: leave the CPU whole).")
    return count


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="keras-preact-train", description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", help="a named recipe (see --list-recipes)")
    parser.add_argument("--workdir", help="where checkpoints, logs, the model and results.json go")
    parser.add_argument("--strategy", default="auto", choices=STRATEGIES, help="the tf.distribute strategy")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    parser.add_argument(
        "--cpu-devices", type=_device_count, default=0, metavar="N", help="split the CPU into N logical devices"
    )
    parser.add_argument("--list-recipes", action="store_true", help="print the recipes and exit")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--verbose", action="store_true", help=f"show TensorFlow's start-up notices too (or set {quiet.VERBOSE_ENV}=1)"
    )
    args = parser.parse_args(argv)
    if not args.list_recipes and not (args.recipe and args.workdir):
        parser.error("--recipe and --workdir are required (or --list-recipes)")

    return args


def main(argv=None):
    args = parse_args(argv)
    quiet.start(args.verbose)
    if args.list_recipes:
        return _list_recipes()
    from keras_preact.training import recipes  # no TensorFlow: an unknown recipe answers at once
    from keras_preact.training.config import apply_overrides
    from keras_preact.training.validation import validate_values

    try:  # the recipe, the --set keys and most values, before TensorFlow loads
        validate_values(apply_overrides(recipes.get_recipe(args.recipe), args.set, validate=False))
    except ValueError as e:
        print(f"keras-preact-train: error: {e}", file=sys.stderr)
        return 2  # EXIT_USAGE (keras_preact.training.failures imports TensorFlow)
    quiet.load_tensorflow()  # a SIGTERM while it loads ends the process (status 143), nothing written
    from keras_preact.training.preemption import Preemption

    # SIGTERM from here on is a request to stop after what can be saved is saved.
    with Preemption() as preemption:
        return _main(args, preemption)


def _list_recipes():
    from keras_preact.training import recipes

    for name, config in sorted(recipes.RECIPES.items()):
        steps = f"batch {config.batch_size}, {config.total_steps} steps"
        print(f"{name:28s} {config.model:18s} {config.dataset:14s} {steps}")
    return 0


def _main(args, preemption):
    from keras_preact.training import recipes, strategy, trainer
    from keras_preact.training.config import apply_overrides
    from keras_preact.training.failures import EXIT_NAN, REPORTED, exit_status

    finished = os.path.isfile(os.path.join(args.workdir, "results.json"))  # a finished run: nothing to do
    try:
        config = apply_overrides(recipes.get_recipe(args.recipe), args.set)  # checked before anything starts
        if args.cpu_devices:
            strategy.split_cpu(args.cpu_devices)
        results = trainer.train(config, args.workdir, args.strategy, 0 if args.quiet else 1, preemption)
    except REPORTED as e:
        print(f"keras-preact-train: error: {e}", file=sys.stderr)
        return exit_status(e)
    keys = ("status", "step", "resumed_from", "eval_accuracy", "wall_seconds", "images_per_second")
    summary = {k: results.get(k) for k in keys}
    print(json.dumps(summary))
    if results["status"] == "completed" and not finished and strategy.is_chief_task():
        print(f"Wrote model.keras, model.weights.h5, history.csv and results.json to {os.path.abspath(args.workdir)}")
    return EXIT_NAN if results["status"] == "nan" else 0


if __name__ == "__main__":
    sys.exit(main())
