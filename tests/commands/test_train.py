"""`keras-preact-train` (`python -m keras_preact.commands.train`), run as an operator runs it: the
smoke recipe end to end, argument errors, `--list-recipes`; SIGKILL and a damaged
checkpoint (the rerun resumes and ends identical), SIGKILL between a checkpoint and its
evaluation, and SIGTERM (a checkpoint, exit 0). The fault tests run the command in
subprocesses with hard timeouts. (Exit statuses under hostile conditions:
test_train_failures.py.)
"""

import csv
import json
import os
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import HELPERS, ROOT
from tests.helpers.marks import needs_fashion_mnist
from tests.helpers.runs import signal_when, synthetic_run, wait_for

KILL_AT = os.path.join(HELPERS, "kill_at.py")
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT}
# A small synthetic run for the fault tests: 40 steps, a checkpoint every 5, an evaluation every 10.
FAULT_RUN = synthetic_run(total_steps=40, checkpoint_every=5, boundary=30, eval_every=10)


def _cli(args, timeout=240, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "keras_preact.commands.train", *args],
        env=ENV, capture_output=True, text=True, timeout=timeout, cwd=ROOT, **kwargs,
    )  # fmt: skip


@pytest.fixture(scope="module")
def uninterrupted_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("uninterrupted")
    done = _cli([*FAULT_RUN, "--workdir", str(workdir)])
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir


def _history(workdir):
    """history.csv and results.json's history, without the timing column; each step once."""
    with open(workdir / "history.csv") as f:
        rows = [{k: v for k, v in row.items() if k != "images_per_second"} for row in csv.DictReader(f)]
    recorded = json.loads((workdir / "results.json").read_text())["history"]
    assert [r["step"] for r in recorded] == [int(r["step"]) for r in rows]
    assert len({r["step"] for r in rows}) == len(rows)
    return rows


def _load_weights(workdir):
    model = keras.saving.load_model(os.path.join(workdir, "model.keras"))
    return [np.asarray(v) for v in model.weights]


@pytest.mark.xdist_group("faults")
@pytest.mark.slow
def test_killed_run_resumes_at_its_checkpoint_and_ends_identical(tmp_path, uninterrupted_run):
    workdir = tmp_path / "run"
    command = [sys.executable, "-m", "keras_preact.commands.train", *FAULT_RUN, "--workdir", str(workdir)]
    process = subprocess.Popen(command, env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(workdir / "checkpoints" / "step-00000015", process)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    saved = sorted(os.listdir(workdir / "checkpoints"))
    assert saved[-1] < "step-00000040" and not (workdir / "results.json").exists()
    # Damage the newest checkpoint on disk: the restart must fall back to the one before.
    newest = workdir / "checkpoints" / saved[-1]
    data = next(p for p in newest.iterdir() if p.name.startswith("ckpt.data"))
    data.write_bytes(data.read_bytes()[:100])
    done = _cli([*FAULT_RUN, "--workdir", str(workdir)])
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{newest.name}/{data.name} has 100 bytes" in done.stderr
    results = json.loads((workdir / "results.json").read_text())
    previous = int(saved[-2].split("-")[1])
    assert results["resumed_from"] == previous and 0 < previous < 40 and results["step"] == 40
    for a, b in zip(_load_weights(workdir), _load_weights(uninterrupted_run)):
        np.testing.assert_array_equal(a, b)
    assert _history(workdir) == _history(uninterrupted_run)


@pytest.mark.xdist_group("faults")
@pytest.mark.slow
def test_a_kill_between_a_checkpoint_and_its_evaluation_loses_no_history_row(tmp_path, uninterrupted_run):
    """SIGKILL right after the checkpoint of step 20, as its evaluation starts: the
    resumed run evaluates step 20 first, and its averages still cover steps 11-20."""
    workdir = tmp_path / "run"
    killed = subprocess.run(
        [sys.executable, KILL_AT, "keras_preact.training.evaluation:evaluate", "2", "-m", "keras_preact.commands.train",
         *FAULT_RUN, "--workdir", str(workdir)],
        env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert sorted(os.listdir(workdir / "checkpoints"))[-1] == "step-00000020"
    assert [line.split(",")[0] for line in (workdir / "history.csv").read_text().splitlines()] == ["step", "10"]
    done = _cli([*FAULT_RUN, "--workdir", str(workdir)])
    assert done.returncode == 0, done.stderr[-3000:]
    rows = _history(workdir)
    assert rows == _history(uninterrupted_run)
    assert [(r["step"], r["train_from_step"], r["train_steps"]) for r in rows] == [
        (str(s), str(s - 9), "10") for s in (10, 20, 30, 40)
    ]


@pytest.mark.xdist_group("faults")
@pytest.mark.slow
def test_sigterm_saves_and_exits_cleanly(tmp_path):
    workdir = tmp_path / "run"
    command = [sys.executable, "-m", "keras_preact.commands.train", *FAULT_RUN, "--workdir", str(workdir)]
    process = subprocess.Popen(command, env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = signal_when(workdir / "checkpoints" / "step-00000005", process)
    assert process.returncode == 0, err[-3000:]
    assert "SIGTERM: saved the checkpoint of step" in out
    stopped_at = json.loads(out.strip().splitlines()[-1])["step"]
    assert json.loads(out.strip().splitlines()[-1])["status"] == "preempted" and 5 <= stopped_at < 40
    assert f"step-{stopped_at:08d}" in os.listdir(workdir / "checkpoints")
    assert not (workdir / "results.json").exists()


@needs_fashion_mnist
@pytest.mark.slow
def test_cli_runs_the_smoke_recipe_end_to_end(tmp_path, capsys):
    """In this process (the console script runs the recipe in tests/test_docs.py, and
    python -m in tests/test_entry_points.py)."""
    from keras_preact.commands.train import main

    assert main(["--recipe", "smoke", "--workdir", str(tmp_path), "--quiet"]) == 0
    assert "Wrote model.keras" in capsys.readouterr().out
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "completed" and results["step"] == 32 and results["eval_images"] == 1000
    assert results["eval_accuracy"] > 0.15 and results["images_per_second"] > 0
    assert results["versions"]["tensorflow"] == tf.__version__
    history = (tmp_path / "history.csv").read_text().splitlines()
    assert history[0].startswith("step,epoch,lr") and len(history) == 2
    assert any(f.startswith("events") for f in os.listdir(tmp_path / "tensorboard"))
    model = keras.saving.load_model(tmp_path / "model.keras")
    assert model.output_shape == (None, 10)
    assert main(["--recipe", "smoke", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "nothing to do" in out and "Wrote" not in out  # nothing was written
    # A config written before a field existed (here crop_padding) means that field's default.
    saved = json.loads((tmp_path / "config.json").read_text())
    del saved["crop_padding"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert main(["--recipe", "smoke", "--workdir", str(tmp_path)]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert main(["--recipe", "smoke", "--workdir", str(tmp_path), "--set", "crop_padding=2"]) == 2
    assert "differs in ['crop_padding']" in capsys.readouterr().err
    assert main(["--recipe", "smoke", "--workdir", str(tmp_path), "--set", "seed=1"]) == 2
    assert "differs in ['seed']" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_errors_name_the_bad_value(tmp_path, capsys):
    done = _cli(["--recipe", "smoke", "--workdir", str(tmp_path), "--cpu-devices", "2", "--strategy", "mirrored",
                 "--set", "batch_size=7", "--set", "dataset=synthetic_cifar"])  # fmt: skip
    assert done.returncode == 2 and "batch_size=7, not divisible by the 2 replicas" in done.stderr
    from keras_preact.commands.train import main

    assert main(["--recipe", "smoke", "--workdir", str(tmp_path / "b"), "--set", "data_dir=/nonexistent"]) == 2
    assert "/nonexistent" in capsys.readouterr().err
    assert not (tmp_path / "b" / "config.json").exists()  # a corrected command can start there
    for option, value in (("--strategy", "tpu"), ("--cpu-devices", "-1")):
        with pytest.raises(SystemExit) as stopped:  # argparse: one line on stderr, exit 2
            main(["--recipe", "smoke", "--workdir", str(tmp_path / "c"), option, value])
        assert stopped.value.code == 2 and option in capsys.readouterr().err
    assert main(["--recipe", "cifar", "--workdir", str(tmp_path / "c")]) == 2
    assert "recipe='cifar'" in capsys.readouterr().err
    assert main(["--list-recipes"]) == 0 and capsys.readouterr().out.count("cifar10_resnet") == 6


def test_list_recipes_prints_every_recipe(capsys):
    from keras_preact.commands import train as cli
    from keras_preact.training import recipes

    assert cli.main(["--list-recipes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == sorted(recipes.RECIPES)
