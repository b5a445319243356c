"""The 10,000 Fashion-MNIST test images as an ImageFolder of PNG files (one subfolder
per class, "0_t-shirt_top" ... "9_ankle_boot": sorted order is the label), for the
evaluate and predict commands' tests."""

import os
import re

from PIL import Image


def folder_names():
    """The class subfolder names in label order."""
    from keras_preact.models.decoding import class_names

    return [f"{i}_{re.sub(r'[^a-z0-9]+', '_', name.lower())}" for i, name in class_names("fashion_mnist")]


def write_image_folder(root, count=None):
    """Writes the test split (its first `count` images) under `root`; returns (paths,
    images, labels) in the order written."""
    from keras_preact.datasets.fashion_mnist import load_data

    _, (images, labels) = load_data()
    images, labels = images[:count], labels[:count]
    names = folder_names()
    for name in names:
        os.makedirs(os.path.join(root, name), exist_ok=True)
    paths = []
    for index, (image, label) in enumerate(zip(images, labels)):
        path = os.path.join(root, names[label], f"{index:05d}.png")
        Image.fromarray(image[:, :, 0], mode="L").save(path, compress_level=1)
        paths.append(path)
    return paths, images, labels


def write_tfds_dataset(data_dir, count, name="fashion_mnist"):
    """Writes the first `count` test images as the prepared tfds dataset `name` (split
    "test") under `data_dir`, as `tfds build` leaves it (for "fashion_mnist", the
    registered builder's version, so that `tfds.builder` reads it as its own); returns
    (images, labels)."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from keras_preact.datasets.fashion_mnist import load_data

    _, (images, labels) = load_data()
    images, labels = images[:count], labels[:count].astype("int64")
    features = tfds.features.FeaturesDict(
        {"image": tfds.features.Image(shape=(28, 28, 1)), "label": tfds.features.ClassLabel(num_classes=10)}
    )
    stream = tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})
    tfds.dataset_builders.store_as_tfds_dataset(
        name=name, version="3.0.1", features=features, split_datasets={"test": stream}, data_dir=str(data_dir)
    )
    return images, labels
