"""The weights files the package ships, registered so the builders find them by name.

`weights="fashion_mnist"` on `keras_preact.PreActResNet20` resolves through the registry
of `keras_preact.models.pretrained`. This package fills it: `register_shipped_weights()`
(run on `import keras_preact`) registers every file listed in `files/weights.json`,
which is package data, so the weights load offline from an installed wheel, through
the same SHA-256-checked Keras cache as a download.
"""

import json
import os

SHIPPED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "files")
SHIPPED_INDEX = os.path.join(SHIPPED_DIR, "weights.json")


def shipped_weights(index_path=SHIPPED_INDEX):
    """The entries of the shipped-weights index, each with its file's absolute `path`."""
    with open(index_path) as f:
        entries = json.load(f)["weights"]
    base = os.path.dirname(os.path.abspath(index_path))
    return [{**entry, "path": os.path.join(base, entry["file"])} for entry in entries]


def register_shipped_weights(index_path=SHIPPED_INDEX):
    """Registers every shipped weights file under its model and name, with a file:// URL.

    Returns:
        The `WeightsInfo` registrations.
    """
    from keras_preact.models.pretrained import register_weights  # Keras; the index alone needs none

    return [
        register_weights(
            entry["model"],
            entry["name"],
            url="file://" + entry["path"],
            sha256=entry["sha256"],
            input_shape=entry["input_shape"],
            classes=entry["classes"],
            preprocessing=entry["preprocessing"],
        )
        for entry in shipped_weights(index_path)
    ]
