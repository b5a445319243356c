"""Dataset sources: arrays or file lists read from the standard formats.

* Fashion-MNIST: the IDX gz files. Debian's `dataset-fashion-mnist` package installs
  them into `/usr/share/datasets/fashion-mnist/` (`apt-get install dataset-fashion-mnist`).
* CIFAR-10 / CIFAR-100: the official *binary* version (`cifar-10-batches-bin/`,
  `cifar-100-binary/`), or `tensorflow-datasets` when no directory is given. The
  official "python" version is pickled and is not read: unpickling runs code.
* ImageNet: a folder of class sub-directories of JPEG/PNG files (listed here, decoded
  in the pipeline), or tfds `imagenet2012` prepared from its manual download dir.
* Synthetic images for benchmarks.

Loaders of small datasets return `(images uint8 NHWC, labels int64)`; the ImageNet
loaders return file lists or a tf.data source, decoded later by `keras_preact.data.pipelines`.
"""

import gzip
import os

import numpy as np

from keras_preact.data.tfds_failures import tfds_failure
from keras_preact.utils.checks import check_choice

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_IDX_DTYPES = {0x08: np.uint8}


class DataError(ValueError):
    """A data file exists but cannot be read or is not what its format says (truncated,
    corrupt, unreadable); the message names the file."""


def read_idx(path):
    """Reads an IDX file (optionally gzipped) into a NumPy array.

    Raises:
        FileNotFoundError: if `path` does not exist.
        DataError: if the file is not IDX, is truncated or too long, or unreadable.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such IDX file: {path}")
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path} is corrupt, truncated or unreadable: {e}") from None
    if len(data) < 4 or data[0:2] != b"\0\0" or data[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file of unsigned bytes (magic {data[:4].hex()}).")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise DataError(
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
    check_choice("split", split, FASHION_MNIST_FILES)
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
        raise DataError(f"{paths}: expected N images of HxW and N labels, got {images.shape} and {labels.shape}.")
    if labels.size and labels.max() > 9:
        raise DataError(f"{paths[1]} has label {labels.max()}; Fashion-MNIST labels are 0-9.")
    return images[..., None], labels.astype("int64")


# name: (directory inside data_dir, {split: files}, label bytes, label byte used, classes)
CIFAR_BINARY = {
    "cifar10": (
        "cifar-10-batches-bin",
        {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]},
        1,
        0,
        10,
    ),
    "cifar100": ("cifar-100-binary", {"train": ["train.bin"], "test": ["test.bin"]}, 2, 1, 100),
}
CIFAR_URLS = {
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    "cifar100": "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
}
CIFAR_IMAGE_BYTES = 32 * 32 * 3
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
SPLITS = ("train", "test")


def read_cifar_binary(path, label_bytes=1, label_index=0, classes=10):
    """Reads one file of the official CIFAR binary format.

    Each record is `label_bytes` label bytes (CIFAR-100: coarse, then fine) and
    3,072 pixel bytes: the 1,024 red, then green, then blue values of a 32x32 image,
    row by row.

    Returns:
        images (N, 32, 32, 3) uint8 and labels (N,) int64.

    Raises:
        DataError: if the file size is not a whole number of records, or a label
            is not below `classes`; the message names the file.
    """
    record = label_bytes + CIFAR_IMAGE_BYTES
    try:
        data = np.fromfile(path, np.uint8)
    except OSError as e:
        raise DataError(f"{path} is unreadable: {e}") from None
    if data.size == 0 or data.size % record:
        raise DataError(
            f"{path} is truncated or not a CIFAR binary file: {data.size} bytes is not a "
            f"whole number of {record}-byte records."
        )
    data = data.reshape(-1, record)
    labels = data[:, label_index].astype("int64")
    bad = np.flatnonzero(labels >= classes)
    if bad.size:
        raise DataError(f"{path}: record {bad[0]} has label {labels[bad[0]]}; expected 0 to {classes - 1}.")
    images = data[:, label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def load_cifar(name="cifar10", split="train", data_dir=None, tfds_data_dir=None):
    """Loads CIFAR-10 or CIFAR-100 (fine labels) as uint8 NHWC images and int64 labels.

    Args:
        name: "cifar10" or "cifar100".
        split: "train" (50,000 images) or "test" (10,000).
        data_dir: directory holding the official binary version (the extracted
            `cifar-10-batches-bin/` / `cifar-100-binary/`, or that folder itself).
            None loads through `tensorflow-datasets`, which downloads it when online.
        tfds_data_dir: tfds's data directory, when `data_dir` is None.

    Raises:
        FileNotFoundError: when the files are missing (the message names the path
            looked at and where to get the data) or tfds cannot obtain them.
        ValueError: for an unknown name or split, or corrupt files.
    """
    check_choice("name", name, CIFAR_BINARY)
    check_choice("split", split, SPLITS)
    if data_dir is None:
        return _load_tfds_arrays(name, split, tfds_data_dir)
    folder, files, label_bytes, label_index, classes = CIFAR_BINARY[name]
    root = data_dir if os.path.basename(os.path.normpath(data_dir)) == folder else os.path.join(data_dir, folder)
    paths = [os.path.join(root, f) for f in files[split]]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(
            f"{name} {split} files not found: {missing}. Download and extract the binary "
            f"version ({CIFAR_URLS[name]}) into {data_dir}, or pass data_dir=None to load "
            "it through tensorflow-datasets (needs internet once)."
        )
    parts = [read_cifar_binary(p, label_bytes, label_index, classes) for p in paths]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _load_tfds_arrays(name, split, tfds_data_dir):
    import tensorflow_datasets as tfds

    try:
        dataset = tfds.load(name, split=split, as_supervised=True, data_dir=tfds_data_dir)
        batches = list(tfds.as_numpy(dataset.batch(1 << 16)))
        images = np.concatenate([b[0] for b in batches])
        labels = np.concatenate([b[1] for b in batches])
    except Exception as e:  # tfds raises many types for "not downloadable here".
        hint = (
            f"Offline, download the binary version ({CIFAR_URLS.get(name, 'see the tfds catalog')}) elsewhere, "
            "extract it and pass its folder as data_dir (keras-preact-train: --set data_dir=DIR)."
        )
        raise tfds_failure(name, tfds_data_dir, e, hint) from e
    return np.asarray(images, np.uint8), np.asarray(labels, np.int64)


def list_image_folder(data_dir):
    """Lists a folder of class sub-directories of images (the ImageNet "train/" layout).

    Classes are the sorted sub-directory names; labels index that list.

    Returns:
        paths (list of str), labels (int64 array), class names (list of str).

    Raises:
        FileNotFoundError: if `data_dir` is missing or holds no images.
    """
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(
            f"Image folder not found: {data_dir}. Expected one sub-directory of JPEG/PNG "
            "files per class (e.g. ILSVRC2012 train/n01440764/*.JPEG)."
        )
    classes = sorted(d.name for d in os.scandir(data_dir) if d.is_dir())
    paths, labels = [], []
    for label, name in enumerate(classes):
        folder = os.path.join(data_dir, name)
        files = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))
        paths += [os.path.join(folder, f) for f in files]
        labels += [label] * len(files)
    if not paths:
        raise FileNotFoundError(f"No {IMAGE_EXTENSIONS} images in class sub-directories of {data_dir}.")
    return paths, np.asarray(labels, np.int64), classes


def load_imagenet_tfds(split="train", data_dir=None, manual_dir=None):
    """tfds `imagenet2012` as a tf.data source of (encoded image bytes, label), in
    the deterministic order of its files (shuffled by the pipeline).

    Args:
        split: "train" or "validation".
        data_dir: tfds's data directory.
        manual_dir: where ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar are,
            to prepare the dataset on first use.

    Raises:
        FileNotFoundError: when the dataset is neither prepared nor preparable.
    """
    import tensorflow_datasets as tfds

    builder = tfds.builder("imagenet2012", data_dir=data_dir)
    try:
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
        ds = builder.as_dataset(split=split, shuffle_files=False, decoders={"image": tfds.decode.SkipDecoding()})
    except Exception as e:
        hint = (
            f"Put ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar (from image-net.org) in "
            f"manual_dir (now {manual_dir!r}), or use an image folder."
        )
        raise tfds_failure("imagenet2012", data_dir, e, hint) from e
    ds = ds.map(lambda ex: (ex["image"], ex["label"]))
    try:
        size = builder.info.splits[split].num_examples
    except KeyError:  # tfds.testing.mock_data has no split metadata
        size = int(ds.cardinality())
        size = size if size >= 0 else sum(1 for _ in ds)
    return ds, size


def synthetic_images(count, shape, classes, seed=0):
    """Random uint8 images and labels, for benchmarks."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, *shape), dtype=np.uint8), rng.integers(0, classes, count).astype("int64")
