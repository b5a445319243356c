"""Decoding classifier outputs into class names, as `keras.applications` does.

`decode_predictions(preds, top, dataset)` follows
`keras.applications.imagenet_utils.decode_predictions`: for each sample, the `top`
classes as `(class_id, class_name, score)` tuples by descending score. For ImageNet,
`class_id` is the WordNet id ("n01440764") and `class_name` Keras' short name ("tench"),
the pairs of Keras' `imagenet_class_index.json`. CIFAR-10, CIFAR-100 and Fashion-MNIST
have no ids other than their labels, so there `class_id` is the integer label (0-9 or
0-99), the value the datasets' label arrays hold.

The names ship with the package (`class_names/<dataset>.txt`, one class a line in label
order, lines starting with "#" name the file's source and license), so decoding works
offline.
"""

import functools
import os

import numpy as np
from keras import ops

from keras_preact.utils.checks import check_choice, is_integer, shown

CLASS_NAMES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "class_names")
DATASETS = ("imagenet", "cifar10", "cifar100", "fashion_mnist")


def class_names(dataset):
    """The classes of a dataset in label order.

    Args:
        dataset: one of `DATASETS`.

    Returns:
        A tuple of `(class_id, class_name)` pairs: the WordNet id for "imagenet", the
        integer label for the other datasets.

    Raises:
        ValueError: for an unknown dataset.
    """
    check_choice("dataset", dataset, DATASETS)
    return _read_class_names(dataset)


@functools.cache
def _read_class_names(dataset):
    with open(os.path.join(CLASS_NAMES_DIR, f"{dataset}.txt"), encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f if not line.startswith("#")]
    if dataset == "imagenet":
        return tuple(tuple(line.split("\t")) for line in lines)
    return tuple(enumerate(lines))


def _as_scores(preds, classes, dataset):
    """`preds` as a NumPy array of numbers of shape (batch, classes).

    Raises:
        ValueError: for anything else; it echoes the shape and dtype of an array or
            tensor, else the value (None, a string, ragged lists).
    """
    try:
        scores = np.asarray(ops.convert_to_numpy(preds))
    except Exception:  # whatever the backend raises for ragged lists or objects
        scores = None
    if scores is None or scores.ndim != 2 or scores.shape[1] != classes or not np.issubdtype(scores.dtype, np.number):
        shaped = scores is not None and hasattr(preds, "shape")
        received = f"preds of shape {scores.shape} and dtype {scores.dtype}" if shaped else f"preds={shown(preds)}"
        raise ValueError(
            f"Received: {received}; expected numbers of shape (batch, {classes}), one score per class of "
            f"dataset={dataset!r}."
        )
    return scores


def decode_predictions(preds, top=5, dataset="imagenet"):
    """The `top` classes of each sample of a batch of classifier outputs.

    Args:
        preds: probabilities or scores of shape `(batch, classes)`: a NumPy array,
            a tensor or nested lists; `classes` is the dataset's class count (1000,
            10, 100, 10).
        top: how many classes to return per sample, from 1 to `classes`.
        dataset: "imagenet", "cifar10", "cifar100" (the 100 fine labels) or
            "fashion_mnist".

    Returns:
        A list with one list per sample of `top` tuples `(class_id, class_name, score)`
        by descending score (ties in label order); `class_id` is the WordNet id for
        "imagenet" and the integer label otherwise, `score` a Python float.

    Raises:
        ValueError: for an unknown dataset, `preds` that are not numbers of shape
            `(batch, classes)`, or `top` outside 1..classes.
    """
    names = class_names(dataset)
    preds = _as_scores(preds, len(names), dataset)
    if not (is_integer(top) or isinstance(top, np.integer)) or not 1 <= top <= len(names):
        raise ValueError(f"Received: top={top!r}; expected an int from 1 to {len(names)} (dataset={dataset!r}).")
    order = np.argsort(-preds.astype("float64"), axis=1, kind="stable")[:, :top]  # float64: no unsigned wrap
    return [[(*names[i], float(row[i])) for i in indices] for row, indices in zip(preds, order)]
