"""Fashion-MNIST (Xiao et al. 2017) from the IDX files installed on this machine, as
`keras.datasets.fashion_mnist` returns it, with the channel axis the models take.

Debian's `dataset-fashion-mnist` package (apt-get install dataset-fashion-mnist)
installs the files into /usr/share/datasets/fashion-mnist/; nothing is downloaded.
"""

from keras_preact.data import readers

CLASSES = 10
IMAGE_SHAPE = (28, 28, 1)


def load_data(data_dir=None):
    """Loads the Fashion-MNIST training and test splits.

    Args:
        data_dir: the folder of the four IDX gz files; default
            `/usr/share/datasets/fashion-mnist` (Debian's `dataset-fashion-mnist`).

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 images in [0, 255] of shape
        (60000, 28, 28, 1) and (10000, 28, 28, 1) (`keras.datasets` gives (N, 28, 28);
        the models take 28x28x1), and int64 labels 0-9 of shape (60000,) and (10000,).

    Raises:
        FileNotFoundError: if the files are missing; the message says how to install them.
        ValueError: if a file is truncated or corrupt (naming it).
    """
    return readers.load_fashion_mnist("train", data_dir), readers.load_fashion_mnist("test", data_dir)
