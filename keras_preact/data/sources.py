"""Dataset sources: what each dataset name means, and its examples as a `Source`.

`load_source(name, split)` reads a split through `keras_preact.data.readers` into a
`Source`: in-memory images (Fashion-MNIST, CIFAR, synthetic), image file paths (an
ImageNet folder) or an ordered stream of encoded records (tfds ImageNet).
`keras_preact.data.pipelines` turns a `Source` into batches.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from keras_preact.data import readers
from keras_preact.data.catalog import DATASETS, DatasetInfo  # noqa: F401 (re-exported)
from keras_preact.utils.checks import check_choice


@dataclasses.dataclass
class Source:
    """Examples addressable by index: in-memory `images`, or image file `paths`; or a
    `stream` of (encoded bytes, label) that can only be read in order (tfds ImageNet)."""

    labels: np.ndarray = None
    images: np.ndarray = None
    paths: list = None
    stream: tf.data.Dataset = None
    size: int = 0

    def __post_init__(self):
        if not self.size:
            self.size = len(self.labels)


def get_dataset_info(name):
    check_choice("dataset", name, DATASETS)
    return DATASETS[name]


def load_source(name, split="train", data_dir=None, subset=None, seed=0, manual_dir=None, synthetic_size=1024):
    """Reads a dataset split into a `Source`.

    Args:
        name: one of `DATASETS`.
        split: "train" or "test" ("validation" is accepted for ImageNet's).
        data_dir: the dataset's directory (see `keras_preact.data.readers`); for
            ImageNet a folder of class sub-directories, or tfds's data_dir when
            `manual_dir` is given. None: CIFAR through tfds, Fashion-MNIST from
            Debian's directory.
        subset: keep this many examples (a seeded random choice), for quick runs.
        manual_dir: tfds imagenet2012's manual download directory.
        synthetic_size: examples of the synthetic readers.
    """
    info = get_dataset_info(name)
    if split not in ("train", "test", "validation"):
        raise ValueError(f"Received: split={split!r}; expected 'train' or 'test'.")
    if name.startswith("synthetic"):
        seed_offset = 0 if split == "train" else 1
        images, labels = readers.synthetic_images(synthetic_size, info.image_shape, info.classes, seed + seed_offset)
        source = Source(labels, images=images)
    elif name == "fashion_mnist":
        source = Source(*reversed(readers.load_fashion_mnist(_train_or_test(split), data_dir)))
    elif name in readers.CIFAR_BINARY:
        images, labels = readers.load_cifar(name, _train_or_test(split), data_dir)
        source = Source(labels, images=images)
    elif manual_dir is not None:
        tfds_split = "train" if split == "train" else "validation"
        stream, size = readers.load_imagenet_tfds(tfds_split, data_dir, manual_dir)
        return Source(stream=stream, size=size)
    else:
        if data_dir is None:
            raise ValueError("dataset='imagenet' needs data_dir (an image folder) or manual_dir (tfds imagenet2012).")
        paths, labels, _ = readers.list_image_folder(data_dir)
        source = Source(labels, paths=paths)
    if subset is not None and subset < source.size:
        keep = np.sort(np.random.default_rng(seed).permutation(source.size)[:subset])
        source = Source(
            source.labels[keep],
            images=None if source.images is None else source.images[keep],
            paths=None if source.paths is None else [source.paths[i] for i in keep],
        )
    return source


def _train_or_test(split):
    return "train" if split == "train" else "test"
