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
