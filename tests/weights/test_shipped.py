"""The curated artifacts (saved_models/ and the package's weights): checksums, sizes, and
their accuracy on the real test set."""

import hashlib
import json
import os
import shutil

import numpy as np
import pytest

import keras_preact
from keras_preact import export
from keras_preact.data import readers
from keras_preact.models import pretrained
from keras_preact.weights.shipped import shipped_weights

from tests.helpers import ROOT
from tests.helpers.marks import needs_fashion_mnist

BASE = os.path.join(ROOT, "saved_models")
with open(os.path.join(BASE, "manifest.json")) as _f:
    MANIFEST = json.load(_f)
ARTIFACTS = {entry["path"]: entry for entry in MANIFEST["artifacts"]}
WEIGHTS = next(e for e in MANIFEST["artifacts"] if e["format"] == "keras_weights")
MAX_BYTES = 20 * 1024 * 1024
TOLERANCE = 0.001  # 0.1 percentage point


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture(scope="module")
def test_set():
    images, labels = readers.load_fashion_mnist("test")
    return np.asarray(keras_preact.preprocess_input(images.astype("float32"), "fashion_mnist")), labels


# The int8 TFLite file's accuracy tests are `slow` (the checksums are quick).
INT8 = [path for path, entry in ARTIFACTS.items() if entry["format"] == "tflite_int8"]


def _paths(paths):
    return [pytest.param(path, marks=pytest.mark.slow) if path in INT8 else path for path in paths]


@pytest.mark.parametrize("path", list(ARTIFACTS))
def test_artifacts_match_their_checksums_and_stay_small(path):
    entry = ARTIFACTS[path]
    files = entry.get("files") or {path: entry["sha256"]}
    for name, digest in files.items():
        assert _sha256(os.path.join(BASE, name)) == digest, name
    assert sum(os.path.getsize(os.path.join(BASE, name)) for name in files) == entry["bytes"] <= MAX_BYTES


def test_the_package_index_and_the_manifest_agree_on_the_weights():
    (entry,) = [w for w in shipped_weights() if (w["model"], w["name"]) == (WEIGHTS["model"], WEIGHTS["weights_name"])]
    assert os.path.samefile(entry["path"], os.path.join(BASE, WEIGHTS["path"]))
    for key in ("sha256", "bytes", "input_shape", "classes", "preprocessing", "test_accuracy"):
        assert entry[key] == WEIGHTS[key], key


@needs_fashion_mnist
def test_shipped_weights_load_offline_and_reach_the_manifest_accuracy(test_set, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # an empty cache: fetched from file:// and checked
    model = getattr(keras_preact, WEIGHTS["model"])(weights="fashion_mnist", input_shape=(28, 28, 1), classes=10)
    images, labels = test_set
    accuracy = np.mean(export.keras_logits(model, images).argmax(-1) == labels)
    assert abs(accuracy - WEIGHTS["test_accuracy"]) <= TOLERANCE
    assert accuracy >= 0.940  # the shipped 60-epoch weights reach 94.63%


@needs_fashion_mnist
@pytest.mark.parametrize("path", _paths(p for p, e in ARTIFACTS.items() if e["format"].startswith("tflite")))
def test_shipped_tflite_reaches_the_manifest_accuracy(test_set, path):
    images, labels = test_set
    accuracy = np.mean(export.run_tflite(os.path.join(BASE, path), images).argmax(-1) == labels)
    assert abs(accuracy - ARTIFACTS[path]["test_accuracy"]) <= TOLERANCE


def test_a_modified_weights_file_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "cache"))
    tampered = tmp_path / "tampered.weights.h5"
    shutil.copyfile(os.path.join(BASE, WEIGHTS["path"]), tampered)
    with open(tampered, "r+b") as f:
        f.seek(-100, os.SEEK_END)
        byte = f.read(1)
        f.seek(-100, os.SEEK_END)
        f.write(bytes([byte[0] ^ 0xFF]))
    keras_preact.register_weights(
        WEIGHTS["model"], "tampered", url=tampered.as_uri(), sha256=WEIGHTS["sha256"],
        input_shape=WEIGHTS["input_shape"], classes=10, preprocessing="fashion_mnist",
    )  # fmt: skip
    try:
        with pytest.raises(ValueError, match="do not match their SHA-256"):
            getattr(keras_preact, WEIGHTS["model"])(weights="tampered", input_shape=(28, 28, 1), classes=10)
    finally:
        pretrained.unregister_weights(WEIGHTS["model"], "tampered")
