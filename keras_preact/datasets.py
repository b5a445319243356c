"""Local dataset files: Fashion-MNIST in its IDX gz format.

Debian's `dataset-fashion-mnist` package installs the four files into
`/usr/share/datasets/fashion-mnist/` (`apt-get install dataset-fashion-mnist`).
"""

import gzip
import os

import numpy as np

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_IDX_DTYPES = {0x08: np.uint8}


def read_idx(path):
    """Reads an IDX file (optionally gzipped) into a NumPy array.

    Raises:
        FileNotFoundError: if `path` does not exist.
        ValueError: if the file is not IDX, or is truncated or too long.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such IDX file: {path}")
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"{path} is corrupt or truncated: {e}") from None
    if len(data) < 4 or data[0:2] != b"\0\0" or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (magic {data[:4].hex()}).")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise ValueError(
            f"{path} is truncated or corrupt: its header says shape {shape} "
            f"({expected} bytes), the file has {len(data)} bytes."
        )
    return np.frombuffer(data, _IDX_DTYPES[data[2]], offset=header).reshape(shape)


def load_fashion_mnist(split="train", data_dir=None):
    """Loads Fashion-MNIST images (N, 28, 28, 1) uint8 and labels (N,) int64.

    Args:
        split: "train" (60,000 images) or "test" (10,000).
        data_dir: directory with the IDX gz files; default `FASHION_MNIST_DIR`.

    Raises:
        ValueError: for an unknown split, corrupt files or out-of-range labels.
        FileNotFoundError: if the files are missing; the message says how to get them.
    """
    if split not in FASHION_MNIST_FILES:
        raise ValueError(f"Received: split={split!r}; expected one of {tuple(FASHION_MNIST_FILES)}.")
    data_dir = data_dir or FASHION_MNIST_DIR
    paths = [os.path.join(data_dir, f) for f in FASHION_MNIST_FILES[split]]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST {split} files not found: {missing}. Install Debian's package "
            "(apt-get install dataset-fashion-mnist) or pass the directory holding the IDX "
            "gz files as data_dir."
        )
    images, labels = (read_idx(p) for p in paths)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{paths}: expected N images of HxW and N labels, got {images.shape} and {labels.shape}.")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{paths[1]} has label {labels.max()}; Fashion-MNIST labels are 0-9.")
    return images[..., None], labels.astype("int64")
