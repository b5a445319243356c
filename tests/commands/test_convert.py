"""`keras-preact-convert`: a released checkpoint converted to a `.keras` or `.weights.h5`
file, with the builder call to load it; `--list`; and how the command ends on what it
refuses: a `--model` of another depth (before any model is built), bad arguments (one
line, exit 2), and an output that cannot be written (exit 4, nothing left behind). What
the conversion itself refuses: tests/weights/test_convert.py."""

import os
import re
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

pytest.importorskip("torch")

import keras_preact  # noqa: E402
from keras_preact.commands import convert as cli  # noqa: E402

from tests.helpers import ROOT, peer_checkpoints  # noqa: E402
from tests.helpers.peer_checkpoints import peer_model, save_state  # noqa: E402


@pytest.fixture(scope="module")
def pytorchcv_release(tmp_path_factory):
    """preresnet20_cifar10 with random weights, released as pytorchcv releases it."""
    return peer_checkpoints.pytorchcv_release(tmp_path_factory.mktemp("release"))


@pytest.fixture(scope="module")
def resnet20_state():
    return peer_model("pytorchcv", "resnet20_cifar10").state_dict()


def test_a_model_of_another_depth_is_refused_before_it_is_built(resnet20_state, tmp_path, capsys):
    path = save_state(resnet20_state, tmp_path / "r20.pth")
    start = time.perf_counter()
    with pytest.raises(SystemExit) as status:
        cli.run(["--source", "pytorchcv", "--checkpoint", path, "--model", "ResNet60002", "--output", "x.keras"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert status.value.code == 2 and "ResNet20" in err and "ResNet60002" in err and len(err) < 300
    assert time.perf_counter() - start < 10  # building the 60,002-layer net would take many minutes


# TensorFlow's C++ start-up notices ("I0000 00:00:...") are not the command's output.
TF_NOTICE = re.compile(r"^[IWE]\d{4} |^WARNING: All log messages before absl")


def _tmpfs(directory, options):
    """Mounts a tmpfs with `options` at `directory`; yields it, unmounts it after."""
    directory.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    yield directory
    subprocess.run(["umount", str(directory)], check=True)


@pytest.fixture
def full_disk(tmp_path):
    """A 200 KB tmpfs (the converted ResNet-20 takes about 1.1 MB)."""
    yield from _tmpfs(tmp_path / "full", "size=200k")


@pytest.fixture
def read_only_disk(tmp_path):
    yield from _tmpfs(tmp_path / "read-only", "ro")


@pytest.mark.slow
def test_a_full_disk_while_writing_weights_ends_with_exit_4_and_one_paragraph(resnet20_state, tmp_path, full_disk):
    """In a process of its own: HDF5 crashed the interpreter at exit after a failed write."""
    path = save_state(resnet20_state, tmp_path / "r20.pth")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "keras_preact.commands.convert",
            "--source",
            "pytorchcv",
            "--checkpoint",
            path,
            "--model",
            "ResNet20",
            "--output",
            str(full_disk / "r20.weights.h5"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT},
    )
    lines = [line for line in done.stderr.splitlines() if not TF_NOTICE.search(line)]
    assert done.returncode == 4, done.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("keras-preact-convert: error: Could not write"), lines
    assert "No space left on device" in lines[0] and "Nothing was left half-written" in lines[0]
    assert os.listdir(full_disk) == []


def test_a_full_disk_while_writing_a_keras_file_returns_4(resnet20_state, tmp_path, full_disk, capsys):
    path = save_state(resnet20_state, tmp_path / "r20.pth")
    argv = ["--source", "pytorchcv", "--checkpoint", path, "--model", "ResNet20"]
    assert cli.run([*argv, "--output", str(full_disk / "r20.keras")]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0] and os.listdir(full_disk) == []


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_a_read_only_disk_returns_4_with_one_line(resnet20_state, tmp_path, read_only_disk, suffix, capsys):
    path = save_state(resnet20_state, tmp_path / "r20.pth")
    argv = ["--source", "pytorchcv", "--checkpoint", path, "--model", "ResNet20"]
    assert cli.run([*argv, "--output", str(read_only_disk / f"r20{suffix}")]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Read-only file system" in err[0] and os.listdir(read_only_disk) == []


def test_convert_command_writes_weights_and_prints_the_builder_call(pytorchcv_release, tmp_path, capsys):
    output = str(tmp_path / "preresnet20.weights.h5")
    argv = ["--source", "pytorchcv", "--checkpoint", pytorchcv_release["pth"], "--model", "PreActResNet20"]
    assert cli.main([*argv, "--output", output]) == 0
    printed = capsys.readouterr().out
    assert f"keras_preact.PreActResNet20(weights={output!r}, stem_activation='none')" in printed
    model = keras_preact.PreActResNet20(weights=output, stem_activation="none", classifier_activation=None)
    x = pytorchcv_release["x"]
    np.testing.assert_allclose(np.asarray(model(x, training=False)), pytorchcv_release["logits"], atol=1e-4)
    keras_file = str(tmp_path / "preresnet20.keras")
    assert cli.main([*argv, "--output", keras_file, "--classifier-activation", "none"]) == 0
    loaded = keras.saving.load_model(keras_file)
    np.testing.assert_allclose(np.asarray(loaded(x, training=False)), pytorchcv_release["logits"], atol=1e-4)


def test_convert_command_takes_pytorchcvs_release_zip_as_it_is(pytorchcv_release, tmp_path):
    """The .pth.zip a pytorchcv release downloads converts without unzipping by hand."""
    output = str(tmp_path / "from-zip.weights.h5")
    argv = ["--source", "pytorchcv", "--checkpoint", pytorchcv_release["zip"], "--model", "PreActResNet20"]
    assert cli.main([*argv, "--output", output]) == 0
    model = keras_preact.PreActResNet20(weights=output, stem_activation="none", classifier_activation=None)
    x = pytorchcv_release["x"]
    np.testing.assert_allclose(np.asarray(model(x, training=False)), pytorchcv_release["logits"], atol=1e-4)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"--model": "ResNet50"}, "pytorchcv checkpoints hold version 1 cifar, version 2 cifar models"),
        ({"--model": "ResNet20"}, "The pytorchcv weights do not fit 'resnet20': no weights for"),
        ({"--output": "out.h5"}, r"expected a path ending in one of \('.keras', '.weights.h5'\)"),
        ({"--checkpoint": "missing.pth"}, "No such file or directory"),
        ({"--source": "caffe"}, "invalid choice: 'caffe'"),
    ],
)
def test_convert_command_errors_are_one_line(change, message, pytorchcv_release, tmp_path, capsys):
    args = {"--source": "pytorchcv", "--checkpoint": pytorchcv_release["pth"], "--model": "PreActResNet20"}
    args = {**args, "--output": str(tmp_path / "out.weights.h5"), **change}
    with pytest.raises(SystemExit) as done:
        cli.main([v for item in args.items() for v in item])
    assert done.value.code == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error
    last = error.strip().splitlines()[-1]  # argparse: the usage, then the message on one line
    assert last.startswith("keras-preact-convert: error: ")
    assert re.search(message, last), error


def test_convert_list_shows_every_registered_weight(capsys):
    assert cli.main(["--list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 + len(keras_preact.list_weights())
    row = next(line for line in lines if line.startswith("PreActResNet200 "))
    assert "fb.resnet.torch" in row and "21.66%" in row and "BSD-3-Clause" in row
