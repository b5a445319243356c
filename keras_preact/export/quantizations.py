"""The TFLite quantizations of `keras_preact.export.tflite`, importable without TensorFlow
(the export command lists them in its --help)."""

QUANTIZATIONS = ("float32", "float16", "dynamic", "int8", "int8_per_tensor")
# The full-integer quantizations, which need representative images to calibrate.
CALIBRATED = ("int8", "int8_per_tensor")
