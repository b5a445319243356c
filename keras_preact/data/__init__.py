"""Data: dataset readers and sources, augmentation, and the tf.data pipelines.

Imports `keras_preact.models` (for `preprocess_input`) and `keras_preact.utils`; never
the training or export code.
"""
