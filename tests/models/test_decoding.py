"""decode_predictions: the class names shipped as package data, the keras.applications
convention (top classes by descending score), and its argument errors."""

import configparser
import glob
import hashlib
import importlib.util
import json
import os
import re

import keras
import numpy as np
import pytest

import keras_preact
from keras_preact.models import decoding

from tests.helpers import ROOT

CLASSES = {"imagenet": 1000, "cifar10": 10, "cifar100": 100, "fashion_mnist": 10}
# The MD5 that keras.applications.imagenet_utils pins for its imagenet_class_index.json.
KERAS_IMAGENET_INDEX_MD5 = "c2c37ea517e94d9795004a39431a14cb"


def scores(dataset, batch=4, seed=0):
    logits = np.random.default_rng(seed).normal(size=(batch, CLASSES[dataset]))
    return (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype("float32")


@pytest.mark.parametrize("dataset", CLASSES)
def test_every_dataset_has_its_classes_once(dataset):
    names = decoding.class_names(dataset)
    assert len(names) == CLASSES[dataset] == len({class_id for class_id, _ in names})
    assert all(name and name == name.strip() for _, name in names)
    duplicated = {n for _, n in names if [m for _, m in names].count(n) > 1}
    # Keras' ImageNet names repeat two words of WordNet: crane (bird, machine), maillot.
    assert duplicated == ({"crane", "maillot"} if dataset == "imagenet" else set())


@pytest.mark.parametrize(
    "dataset, label, expected",
    [
        ("imagenet", 0, ("n01440764", "tench")),
        ("imagenet", 281, ("n02123045", "tabby")),
        ("imagenet", 999, ("n15075141", "toilet_tissue")),
        ("cifar10", 3, (3, "cat")),
        ("cifar10", 9, (9, "truck")),
        ("cifar100", 0, (0, "apple")),
        ("cifar100", 1, (1, "aquarium_fish")),
        ("cifar100", 99, (99, "worm")),
        ("fashion_mnist", 0, (0, "T-shirt/top")),
        ("fashion_mnist", 9, (9, "Ankle boot")),
    ],
)
def test_known_labels(dataset, label, expected):
    assert decoding.class_names(dataset)[label] == expected
    one_hot = np.eye(CLASSES[dataset], dtype="float32")[[label]]
    assert keras_preact.decode_predictions(one_hot, top=1, dataset=dataset) == [[(*expected, 1.0)]]


def test_imagenet_names_are_those_of_keras_applications():
    # keras.applications reads {"0": [wnid, name], ...} and checks the file's MD5: the
    # same JSON written from the shipped names has that MD5.
    index = {str(i): list(pair) for i, pair in enumerate(decoding.class_names("imagenet"))}
    assert hashlib.md5(json.dumps(index).encode()).hexdigest() == KERAS_IMAGENET_INDEX_MD5


def test_imagenet_wnids_are_in_the_label_order_of_tensorflow_datasets():
    spec = importlib.util.find_spec("tensorflow_datasets")
    if spec is None:
        pytest.skip("tensorflow-datasets is not installed")
    path = os.path.join(os.path.dirname(spec.origin), "datasets", "imagenet2012", "labels.txt")
    wnids = open(path).read().split()
    assert [wnid for wnid, _ in decoding.class_names("imagenet")] == wnids


@pytest.mark.parametrize("dataset, loader", [("cifar10", "cifar10"), ("fashion_mnist", "fashion_mnist")])
def test_names_match_the_keras_datasets_docstrings(dataset, loader):
    doc = getattr(keras.datasets, loader).load_data.__doc__
    table = [(int(label), name) for label, name in re.findall(r"\|\s+(\d+)\s+\|\s+(\S[^|]*?)\s+\|", doc)]
    assert table == list(decoding.class_names(dataset))


@pytest.mark.parametrize("dataset, top", [("imagenet", 5), ("cifar10", 3), ("cifar100", 100), ("fashion_mnist", 1)])
def test_top_classes_by_descending_score(dataset, top):
    preds = scores(dataset)
    decoded = keras_preact.decode_predictions(preds, top=top, dataset=dataset)
    names = decoding.class_names(dataset)
    assert len(decoded) == len(preds)
    for row, result in zip(preds, decoded):
        expected = np.argsort(row)[::-1][:top]
        assert [r[:2] for r in result] == [names[i] for i in expected]
        assert [r[2] for r in result] == [float(row[i]) for i in expected]
        assert all(type(r[2]) is float for r in result)


def test_ties_go_in_label_order_and_other_inputs_decode_alike():
    preds = np.array([[0.1, 0.3, 0.3, 0.0, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0]], "float32")
    decoded = keras_preact.decode_predictions(preds, top=4, dataset="cifar10")
    assert [class_id for class_id, _, _ in decoded[0]] == [1, 2, 4, 0]
    assert keras_preact.decode_predictions(preds.tolist(), top=4, dataset="cifar10") == decoded
    assert keras_preact.decode_predictions(keras.ops.convert_to_tensor(preds), top=4, dataset="cifar10") == decoded
    assert keras_preact.decode_predictions((preds * 10).astype("uint8"), top=1, dataset="cifar10")[0][0][0] == 1


def test_defaults_are_imagenet_and_top_five():
    decoded = keras_preact.decode_predictions(scores("imagenet", batch=2))
    assert [len(d) for d in decoded] == [5, 5] and decoded[0][0][0].startswith("n")


@pytest.mark.parametrize(
    "preds, dataset, match",
    [
        (np.zeros((2, 10)), "imagenet", r"preds of shape \(2, 10\).*expected numbers of shape \(batch, 1000\)"),
        (np.zeros(10), "cifar10", r"preds of shape \(10,\).*\(batch, 10\)"),
        (np.zeros((1, 2, 10)), "cifar10", r"preds of shape \(1, 2, 10\)"),
        (np.zeros((2, 1000)), "cifar100", r"preds of shape \(2, 1000\).*\(batch, 100\), .*dataset='cifar100'"),
        (np.full((1, 10), "a"), "fashion_mnist", r"preds of shape \(1, 10\) and dtype <U1; expected numbers"),
        (np.zeros((1, 10)), "mnist", r"Received: dataset='mnist'; expected one of \('imagenet', 'cifar10'"),
        (np.zeros((1, 10)), ["cifar10"], r"Received: dataset=\['cifar10'\]; expected one of"),
        (np.zeros((1, 10)), None, r"Received: dataset=None; expected one of"),
        (None, "cifar10", r"Received: preds=None; expected numbers of shape \(batch, 10\)"),
        ("scores", "cifar10", r"Received: preds='scores'; expected numbers"),
        ([[0.5] * 10, [0.5] * 9], "cifar10", r"Received: preds=\[\[0.5, .*\]\]; expected numbers"),
        ([[0.5] * 9], "cifar10", r"Received: preds=\[\[0.5, .*\]\]; expected numbers of shape \(batch, 10\)"),
    ],
)
def test_preds_and_dataset_errors(preds, dataset, match):
    with pytest.raises(ValueError, match=match):
        keras_preact.decode_predictions(preds, dataset=dataset)


@pytest.mark.parametrize("top", [0, -1, 11, 2.0, True, "3", None])
def test_top_errors(top):
    with pytest.raises(ValueError, match=rf"Received: top={re.escape(repr(top))}; expected an int from 1 to 10"):
        keras_preact.decode_predictions(scores("cifar10"), top=top, dataset="cifar10")


def test_exported_at_the_top_level():
    assert keras_preact.decode_predictions is keras_preact.models.decode_predictions
    assert "decode_predictions" in keras_preact.__all__ and "decode_predictions" in keras_preact.models.__all__


def test_class_name_files_are_package_data():
    """setup.cfg's package_data pattern for keras_preact.models covers every names file,
    so that an installed package (not only a checkout) decodes offline."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(os.path.join(ROOT, "setup.cfg"))
    patterns = [p.strip() for p in config["options.package_data"]["keras_preact.models"].split(",")]
    models_dir = os.path.join(ROOT, "keras_preact", "models")
    listed = {os.path.relpath(f, models_dir) for p in patterns for f in glob.glob(os.path.join(models_dir, p))}
    shipped = {os.path.relpath(f, models_dir) for f in glob.glob(os.path.join(decoding.CLASS_NAMES_DIR, "*"))}
    assert listed == shipped == {f"class_names/{dataset}.txt" for dataset in CLASSES}
