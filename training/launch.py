"""Runs a training recipe from a checkout, without installing the package.

    python training/launch.py --recipe NAME --workdir DIR
        [--strategy auto|mirrored|multi_worker|one_device] [--set KEY=VALUE ...]
        [--cpu-devices N] [--list-recipes] [--quiet]

The same arguments and exit status as the `keras-preact-train` console script
(`keras_preact.training.cli`): 0 completed (or preempted by SIGTERM, checkpoint
saved), 2 bad arguments or data, 3 stopped on a non-finite loss. See training/README.md.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

try:
    from keras_preact.training.cli import main
except ModuleNotFoundError as e:  # the core install, without the training extras
    if e.name not in ("tensorflow", "tensorflow_datasets", "tensorboard"):
        raise
    sys.exit(f"training/launch.py: error: {e}; install the training extras: pip install -e '.[train]'")

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
