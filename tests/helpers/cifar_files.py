"""CIFAR-10/100 files in the official binary format, for the readers' and pipelines' tests."""

import os

import numpy as np

from keras_preact.data import readers


def write_cifar(root, name, records_per_file=20, seed=0):
    """Writes CIFAR files in the official binary format; returns the labels of each split."""
    folder, files, label_bytes, label_index, classes = readers.CIFAR_BINARY[name]
    os.makedirs(os.path.join(root, folder), exist_ok=True)
    rng = np.random.default_rng(seed)
    written = {}
    for split, names in files.items():
        images, labels = [], []
        for file in names:
            label = rng.integers(0, classes, (records_per_file, label_bytes), dtype=np.uint8)
            image = rng.integers(0, 256, (records_per_file, 3, 32, 32), dtype=np.uint8)
            record = np.concatenate([label, image.reshape(records_per_file, -1)], axis=1)
            record.tofile(os.path.join(root, folder, file))
            images.append(image.transpose(0, 2, 3, 1))
            labels.append(label[:, label_index])
        written[split] = np.concatenate(images), np.concatenate(labels)
    return written
