"""Runs a training recipe from a checkout: `python training/train.py --recipe NAME --workdir DIR`.

The same command as the `keras-preact-train` console script and
`python -m keras_preact.train`; the recipes are listed by `--list-recipes` and
defined in `keras_preact/recipes.py`.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from keras_preact.train import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
