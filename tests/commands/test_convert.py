"""What the converter refuses after reading a checkpoint, and how its command ends:
non-finite weights and negative variances, a `--model` of another depth (before any
model is built), and an output that cannot be written (exit 4, nothing left behind)."""

import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from keras_preact.weights import cli  # noqa: E402
from keras_preact.weights.convert import convert_checkpoint  # noqa: E402
from keras_preact.weights.formats.limits import CheckpointError  # noqa: E402

from tests.helpers import ROOT  # noqa: E402
from tests.helpers.peer_checkpoints import peer_model  # noqa: E402


@pytest.fixture(scope="module")
def resnet20_state():
    return peer_model("pytorchcv", "resnet20_cifar10").state_dict()


def _saved(state, path, **changes):
    state = {k: v.clone() for k, v in state.items()}
    for key, (index, value) in changes.items():
        state[key.replace("__", ".")].view(-1)[index] = value
    torch.save(state, path, _use_new_zipfile_serialization=False)
    return str(path)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"features__stage2__unit1__body__conv1__conv__weight": (5, float("nan"))}, "stage2_unit1_conv1.*non-finite"),
        ({"output__bias": (3, float("inf"))}, "predictions.*non-finite"),
        ({"features__stage1__unit2__body__conv2__bn__running_var": (0, -1.0)}, "stage1_unit2_bn2.*negative"),
    ],
    ids=["nan", "inf", "negative_variance"],
)
def test_non_finite_weights_and_negative_variances_are_refused(resnet20_state, tmp_path, change, message):
    path = _saved(resnet20_state, tmp_path / "bad.pth", **change)
    with pytest.raises(CheckpointError, match=message):
        convert_checkpoint("pytorchcv", path, "ResNet20", output=tmp_path / "out.weights.h5")
    assert os.listdir(tmp_path) == ["bad.pth"]


def test_a_model_of_another_depth_is_refused_before_it_is_built(resnet20_state, tmp_path, capsys):
    path = _saved(resnet20_state, tmp_path / "r20.pth")
    start = time.perf_counter()
    with pytest.raises(SystemExit) as status:
        cli.run(["--source", "pytorchcv", "--checkpoint", path, "--model", "ResNet60002", "--output", "x.keras"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert status.value.code == 2 and "ResNet20" in err and "ResNet60002" in err and len(err) < 300
    assert time.perf_counter() - start < 10  # building the 60,002-layer net would take many minutes


def _mount_tmpfs(directory, size):
    directory.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")


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
    path = _saved(resnet20_state, tmp_path / "r20.pth")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "keras_preact.weights.cli",
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
    path = _saved(resnet20_state, tmp_path / "r20.pth")
    argv = ["--source", "pytorchcv", "--checkpoint", path, "--model", "ResNet20"]
    assert cli.run([*argv, "--output", str(full_disk / "r20.keras")]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0] and os.listdir(full_disk) == []


def test_the_converted_weights_file_equals_keras_own(resnet20_state, tmp_path):
    """The `.weights.h5` built in memory loads as the one `save_weights` writes."""
    path = _saved(resnet20_state, tmp_path / "r20.pth")
    model, _ = convert_checkpoint("pytorchcv", path, "ResNet20", output=tmp_path / "ours.weights.h5")
    model.save_weights(tmp_path / "keras.weights.h5")
    for name in ("ours", "keras"):
        reloaded = model.__class__.from_config(model.get_config())
        reloaded.load_weights(tmp_path / f"{name}.weights.h5")
        for a, b in zip(model.get_weights(), reloaded.get_weights()):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_a_read_only_disk_returns_4_with_one_line(resnet20_state, tmp_path, read_only_disk, suffix, capsys):
    path = _saved(resnet20_state, tmp_path / "r20.pth")
    argv = ["--source", "pytorchcv", "--checkpoint", path, "--model", "ResNet20"]
    assert cli.run([*argv, "--output", str(read_only_disk / f"r20{suffix}")]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Read-only file system" in err[0] and os.listdir(read_only_disk) == []
