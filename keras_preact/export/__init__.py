"""Export: TF Serving SavedModels, TFLite files, parity checks and the export command.

Imports `keras_preact.models`, `keras_preact.data` and `keras_preact.utils`; never the
training code (a training run's work directory is read as files).
"""

from keras_preact.utils import lazy

# Each name's module, imported on first use (TensorFlow loads with the first of them).
_MODULES = {
    "FLOAT16_MIN_ELEMENTS": "keras_preact.export.float16",
    **dict.fromkeys(
        ("directory_size", "keras_logits", "parity", "pipeline_images", "run_saved_model", "run_tflite"),
        "keras_preact.export.runners",
    ),
    "SIGNATURES": "keras_preact.export.saved_model",
    "export_saved_model": "keras_preact.export.saved_model",
    **dict.fromkeys(
        ("CALIBRATED", "QUANTIZATIONS", "convert_saved_model_to_tflite", "export_tflite", "store_weights_as_float16"),
        "keras_preact.export.tflite",
    ),
}
__getattr__ = lazy.lazy_getattr(__name__, _MODULES)


def main(argv=None):
    """The `keras-preact-export` command (see `keras_preact.commands.export`)."""
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
