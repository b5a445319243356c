"""`python -m keras_preact.export`: the `keras-preact-export` command."""

import sys

from keras_preact.export.cli import main

if __name__ == "__main__":
    sys.exit(main())
