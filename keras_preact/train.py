"""`python -m keras_preact.train`: the `keras-preact-train` command
(`keras_preact.training.cli`)."""

import sys

from keras_preact.training.cli import main

if __name__ == "__main__":
    sys.exit(main())
