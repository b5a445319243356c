"""The training command under hostile conditions, run as an operator runs it: exploded
weights, a full or read-only disk, an unwritable workdir, damaged checkpoints and data,
SIGTERM during start-up; each ends with a one-paragraph message and a documented status.

Most run `keras_preact.commands.train.main` in this process (the command's code, without a
TensorFlow start-up per case); the signal tests start the command as a process. The disk
tests mount small tmpfs file systems, which needs root (as in CI here); elsewhere they skip.
"""

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from keras_preact.commands import train as cli
from keras_preact.training import failures
from keras_preact.training.checkpoints import AtomicCheckpointManager

from tests.helpers import ROOT
from tests.helpers.runs import signal_when

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT}
FIELDS = {"model": "PreActResNet8", "dataset": "synthetic_cifar", "batch_size": 16, "reference_batch_size": 16,
          "eval_batch_size": 64, "total_steps": 4, "eval_every": 4, "checkpoint_every": 1, "warmup_steps": 0,
          "boundaries": "[]", "keep_checkpoints": 10}  # fmt: skip


def _args(workdir, **fields):
    fields = {**FIELDS, **fields}
    return ["--recipe", "smoke", "--workdir", str(workdir), "--quiet",
            *(a for k, v in fields.items() for a in ("--set", f"{k}={v}"))]  # fmt: skip


def _run(capsys, workdir, **fields):
    status = cli.main(_args(workdir, **fields))
    out, err = capsys.readouterr()
    return status, out, err


def _paragraph(err):
    """The command's error: one paragraph (no traceback) after the program name."""
    assert "Traceback" not in err
    message = err.strip().splitlines()[-1]
    assert message.startswith("keras-preact-train: error: ")
    return message


def _steps(workdir):
    return [name for name in sorted(os.listdir(workdir / "checkpoints")) if not name.startswith(".")]


@pytest.fixture
def tmpfs(tmp_path):
    """Mounts a tmpfs of the given size at a fresh folder; unmounts it after the test."""
    mounted = []

    def mount(size, name="disk"):
        path = tmp_path / name
        path.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_checkpoint_whose_next_step_explodes_is_rejected_and_the_rerun_starts_before_it(tmp_path, capsys):
    """From step 4 the rate is 1e25: step 4's update is finite but exploded and lands on
    a checkpoint; step 5 makes the weights non-finite. The run rejects checkpoint 4, and
    every rerun starts from checkpoint 3, whose next step is finite."""
    explode = dict(total_steps=8, eval_every=8, warmup_steps=3, warmup_lr=0.01, base_lr=1e25)
    for attempt in range(2):
        status, out, _ = _run(capsys, tmp_path, **explode)
        assert status == failures.EXIT_NAN
        assert "the first step from the checkpoint of step 4" in out and "rejected-step-00000004" in out
        assert "the next run resumes from step 3" in out
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["status"] == "nan" and summary["step"] == 5
        assert summary["resumed_from"] == (0 if attempt == 0 else 3)
        assert _steps(tmp_path) == ["rejected-step-00000004", *(f"step-{s:08d}" for s in (1, 2, 3))]


def test_a_failed_start_leaves_the_workdir_free_for_the_corrected_command(tmp_path, capsys):
    for bad in ({"eval_every": 0}, {"total_steps": True}, {"dataset": "fashion_mnist", "data_dir": "/nonexistent"}):
        status, _, err = _run(capsys, tmp_path, **bad)
        assert status == failures.EXIT_USAGE and next(iter(bad)) in _paragraph(err)
        assert not (tmp_path / "config.json").exists()
    status, out, _ = _run(capsys, tmp_path)
    assert status == 0 and json.loads(out.strip().splitlines()[-2])["status"] == "completed"


def test_a_full_disk_ends_with_exit_4_and_the_run_resumes_once_there_is_space(tmpfs, capsys):
    disk = tmpfs("2m")
    workdir = disk / "run"
    status, _, err = _run(capsys, workdir, total_steps=12, eval_every=12)
    assert status == failures.EXIT_STORAGE
    message = _paragraph(err)
    assert str(workdir) in message and "No space left on device" in message
    saved = _steps(workdir)
    assert saved and not any(name.startswith(".tmp") for name in os.listdir(workdir / "checkpoints"))
    manager = AtomicCheckpointManager(None, str(workdir / "checkpoints"))
    assert all(manager.verify(path) is None for _, path in manager.checkpoints())  # nothing half-written
    subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
    status, out, _ = _run(capsys, workdir, total_steps=12, eval_every=12)
    summary = json.loads(out.strip().splitlines()[-2])
    assert status == 0 and summary["status"] == "completed" and summary["step"] == 12
    assert summary["resumed_from"] == int(saved[-1].split("-")[1]) > 0


def test_a_read_only_disk_or_unwritable_workdir_ends_with_exit_4(tmpfs, tmp_path, capsys):
    disk = tmpfs("1m")
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    status, _, err = _run(capsys, disk / "run")
    assert status == failures.EXIT_STORAGE
    assert str(disk / "run") in _paragraph(err) and "Read-only file system" in err
    (tmp_path / "a-file").write_text("")
    status, _, err = _run(capsys, tmp_path / "a-file" / "run")
    assert status == failures.EXIT_STORAGE and "Not a directory" in _paragraph(err)


def test_every_checkpoint_damaged_ends_with_exit_5_and_removes_nothing(tmp_path, capsys):
    status, _, _ = _run(capsys, tmp_path, checkpoint_every=2)
    assert status == 0
    (tmp_path / "results.json").unlink()
    for name in _steps(tmp_path):
        data = next(p for p in (tmp_path / "checkpoints" / name).iterdir() if p.name.startswith("ckpt.data"))
        data.write_bytes(data.read_bytes()[:10])
    with pytest.warns(UserWarning, match="Skipping damaged checkpoint"):
        status, _, err = _run(capsys, tmp_path, checkpoint_every=2)
    assert status == failures.EXIT_DAMAGED
    message = _paragraph(err)
    assert "step-00000002/ckpt.data" in message and "step-00000004/ckpt.data" in message
    assert _steps(tmp_path) == ["step-00000002", "step-00000004"]


def test_unreadable_data_ends_with_exit_5_and_writes_nothing(tmp_path, capsys):
    data = tmp_path / "fashion"
    data.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (data / name).write_bytes(gzip.compress(b"\0\0\x08\x03" + b"\0" * 40)[:30])  # cut mid-stream
    status, _, err = _run(capsys, tmp_path / "run", dataset="fashion_mnist", data_dir=str(data))
    assert status == failures.EXIT_DAMAGED
    assert re.search(r"fashion/train-images-idx3-ubyte.gz is (truncated or )?corrupt", _paragraph(err))
    assert not (tmp_path / "run").exists()


def _start(workdir):
    command = [sys.executable, "-m", "keras_preact.commands.train", *_args(workdir)]
    return subprocess.Popen(command, env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_sigterm_during_start_up_exits_0_or_143_and_saves_nothing(tmp_path):
    """Before the command runs (Python importing TensorFlow) SIGTERM ends the process as
    the signal does (143 in a shell); from then to the first step, status 0."""
    early = _start(tmp_path / "early")
    time.sleep(0.5)
    early.send_signal(signal.SIGTERM)
    early.communicate(timeout=60)
    assert early.returncode == -signal.SIGTERM and not (tmp_path / "early").exists()

    process = _start(tmp_path / "run")
    out, err = signal_when(tmp_path / "run" / "config.json", process, timeout=120)  # the trainer is starting
    assert process.returncode == 0, err[-3000:]
    assert "SIGTERM before the first step: nothing new to save (step 0)" in out
    assert json.loads(out.strip().splitlines()[-1])["status"] == "preempted"
    assert _steps(tmp_path / "run") == [] and not (tmp_path / "run" / "results.json").exists()


def test_every_exit_status_is_documented():
    with open(os.path.join(ROOT, "docs", "training.md")) as f:
        table = f.read().split("## Exit status")[1].split("\n## ")[0]
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    for status in failures.EXIT_CODES:
        assert f"\n| {status} | " in table, f"docs/training.md's exit-status table lacks {status}"
        assert re.search(rf"\b{status} \(", readme), f"README.md does not list exit status {status}"
