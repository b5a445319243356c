"""Datasets as NumPy arrays, in the form of `keras.datasets`:

    (x_train, y_train), (x_test, y_test) = keras_preact.datasets.fashion_mnist.load_data()

Imports only `keras_preact.data.readers` (NumPy): no TensorFlow.
"""

from keras_preact.datasets import fashion_mnist

__all__ = ["fashion_mnist"]
