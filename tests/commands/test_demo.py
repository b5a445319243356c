"""The README's main command (`make demo`, i.e. `keras-preact-demo`): the `demo`
recipe through the package's trainer, then the SavedModel and TFLite exports with their
parity check. Run as an operator would, on a shortened schedule of the real data."""

import csv
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_preact.data import readers
from keras_preact.models import preprocess_input

from tests.helpers import ROOT
from tests.helpers.marks import needs_fashion_mnist

# The module-scoped run is shared by its tests: keep them on one xdist worker.
pytestmark = pytest.mark.xdist_group("demo")

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT}
# One checkpoint at step 16, a final one at 24, one evaluation on all 10,000 test images.
SHORT = ["--set", "train_subset=3072", "--set", "total_steps=24", "--set", "checkpoint_every=16", "--quiet"]


def _demo(workdir, *extra):
    command = [sys.executable, "-m", "keras_preact.commands.demo", "--workdir", str(workdir), *extra]
    return subprocess.run(command, env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    done = _demo(workdir, *SHORT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return workdir, done.stdout


@pytest.mark.slow
@needs_fashion_mnist
def test_demo_runs_the_trainer_and_writes_what_every_run_writes(demo_run):
    workdir, _ = demo_run
    for name in ("config.json", "history.csv", "results.json", "model.keras", "model.weights.h5"):
        assert (workdir / name).is_file(), name
    checkpoints = sorted(os.listdir(workdir / "checkpoints"))
    assert checkpoints == ["step-00000016", "step-00000024"]
    config = json.loads((workdir / "config.json").read_text())
    assert (config["model"], config["dataset"], config["total_steps"]) == ("PreActResNet20", "fashion_mnist", 24)
    results = json.loads((workdir / "results.json").read_text())
    assert (results["status"], results["step"], results["eval_images"]) == ("completed", 24, 10_000)
    assert results["eval_accuracy"] > 0.2  # chance is 0.1; 0.299 measured after these 24 steps
    with open(workdir / "history.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert int(row["step"]) == 24 and float(row["eval_accuracy"]) == pytest.approx(results["eval_accuracy"])


@pytest.mark.slow
@needs_fashion_mnist
def test_demo_exports_match_keras_and_the_saved_model_reloads(demo_run):
    workdir, stdout = demo_run
    report = json.loads((workdir / "export.json").read_text())
    assert os.path.isfile(os.path.join(report["saved_model"]["path"], "saved_model.pb"))
    assert os.path.isfile(report["tflite"]["path"])
    for kind in ("saved_model", "tflite"):
        assert report[kind]["max_abs_diff"] <= 1e-4 and report[kind]["top1_agreement"] == 1.0, kind
    assert "top-1 agreement 100.00%" in stdout
    model = keras.saving.load_model(workdir / "model.keras")
    images, labels = readers.load_fashion_mnist("test")
    accuracy = np.mean(np.argmax(model.predict(preprocess_input(images, "fashion_mnist"), verbose=0), -1) == labels)
    results = json.loads((workdir / "results.json").read_text())
    assert accuracy == pytest.approx(results["eval_accuracy"], abs=1e-4)


def test_demo_errors_are_one_line_with_their_exit_status(tmp_path, capsys):
    from keras_preact.commands import (
        demo,  # in this process: an unreported error would fail the test with its traceback
    )

    assert demo.main(["--workdir", str(tmp_path / "w"), "--data-dir", str(tmp_path / "missing"), "--quiet"]) == 2
    assert "Fashion-MNIST train files not found" in capsys.readouterr().err
    assert demo.main(["--workdir", str(tmp_path / "w"), "--set", "total_steps=0", "--quiet"]) == 2
    assert "total_steps=0" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (tmp_path / "bad" / name).write_bytes(b"not gzip")
    assert demo.main(["--workdir", str(tmp_path / "w"), "--data-dir", str(tmp_path / "bad"), "--quiet"]) == 5
    assert "train-images-idx3-ubyte.gz is corrupt" in capsys.readouterr().err.splitlines()[-1]
