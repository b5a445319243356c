"""Export: TF Serving SavedModels, TFLite files, parity checks and the export command.

Imports `keras_preact.models`, `keras_preact.data` and `keras_preact.utils`; never the
training code (a training run's work directory is read as files).
"""

from keras_preact.export.float16 import FLOAT16_MIN_ELEMENTS
from keras_preact.export.parity import (
    directory_size,
    keras_logits,
    parity,
    pipeline_images,
    run_saved_model,
    run_tflite,
)
from keras_preact.export.saved_model import SIGNATURES, export_saved_model
from keras_preact.export.tflite import (
    CALIBRATED,
    QUANTIZATIONS,
    convert_saved_model_to_tflite,
    export_tflite,
    store_weights_as_float16,
)


def main(argv=None):
    """The `keras-preact-export` command (see `keras_preact.export.cli`)."""
    from keras_preact.export import cli

    return cli.main(argv)


__all__ = [
    "CALIBRATED",
    "convert_saved_model_to_tflite",
    "directory_size",
    "export_saved_model",
    "export_tflite",
    "FLOAT16_MIN_ELEMENTS",
    "keras_logits",
    "main",
    "parity",
    "pipeline_images",
    "QUANTIZATIONS",
    "run_saved_model",
    "run_tflite",
    "SIGNATURES",
    "store_weights_as_float16",
]
