"""`keras_preact.datasets.fashion_mnist.load_data`: shaped as `keras.datasets` returns it,
with a channel axis."""

import numpy as np
import pytest

from tests.helpers.marks import needs_fashion_mnist


@needs_fashion_mnist
def test_load_data_is_shaped_like_keras_datasets_with_a_channel_axis():
    from keras_preact.datasets import fashion_mnist

    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    assert x_train.shape == (60000, *fashion_mnist.IMAGE_SHAPE) and x_test.shape == (10000, 28, 28, 1)
    assert x_train.dtype == np.uint8 and y_train.shape == (60000,) and y_test.dtype == np.int64


def test_load_data_without_the_files_says_how_to_get_them(tmp_path):
    from keras_preact.datasets import fashion_mnist

    with pytest.raises(FileNotFoundError, match=r"apt-get install dataset-fashion-mnist"):
        fashion_mnist.load_data(str(tmp_path))
