"""The `tf.distribute` strategies: one device, MirroredStrategy over 2 logical CPUs and 2
worker processes on localhost ports train alike; two workers survive SIGTERM to one and
SIGKILL of either; and only the chief says what it wrote.

The runs are processes of tests/helpers/train_worker.py with hard timeouts (logical CPU
devices must be configured before TensorFlow starts).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from keras_preact.data import sources
from keras_preact.training import recipes, trainer
from keras_preact.training.config import apply_overrides

from tests.helpers import HELPERS, ROOT
from tests.helpers.runs import TINY

WORKER = os.path.join(HELPERS, "train_worker.py")
KILL_AT = os.path.join(HELPERS, "kill_at.py")
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT}
# Sync BN makes the two replicas compute the one-device batch statistics; what remains
# is float summation order, which after 4 steps has moved the weights by 5e-7. From
# step 6 on, a ReLU input within 1e-6 of zero can cross it (docs/training.md), so the
# one-device comparison stops at step 4.
MIRRORED_TOLERANCE = 1e-5
# A 2-worker run computes what a 2-replica MirroredStrategy run computes (each replica
# gets the same examples, the sums have two terms): measured bit-identical after 8 steps.
MULTI_WORKER_TOLERANCE = 1e-5


def _worker(out, workdir, strategy, cpu_devices, *overrides, env=None, wait=True, kill_at=None):
    """Runs tests/helpers/train_worker.py; `kill_at=(target, n)` SIGKILLs it at the n-th call of
    `target` (tests/helpers/kill_at.py)."""
    command = [sys.executable, WORKER, str(out), str(workdir), strategy, str(cpu_devices), *overrides]
    if kill_at:
        command[1:1] = [KILL_AT, kill_at[0], str(kill_at[1])]
    if not wait:
        return subprocess.Popen(command, env=env or ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    done = subprocess.run(command, env=env or ENV, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return np.load(out)


def _weights(npz):
    return [npz[f"arr_{i}"] for i in range(len([k for k in npz.files if k.startswith("arr_")]))]


def _max_difference(a, b):
    return max(float(np.max(np.abs(x - y))) for x, y in zip(_weights(a), _weights(b)))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _TwoWorkers(tuple):
    """(chief weights, other weights) of a 2-worker run, with its work directory."""

    workdir = None


def _start_workers(tmp_path, *overrides, kill_at=None):
    """Starts 2 worker processes on localhost ports; `kill_at=(index, target, n)` makes
    worker `index` SIGKILL itself at the n-th call of `target`."""
    workers = [f"127.0.0.1:{_free_port()}" for _ in range(2)]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = {**ENV, "TF_CONFIG": json.dumps(tf_config)}
        out = tmp_path / f"w{index}.npz"
        fault = kill_at[1:] if kill_at and kill_at[0] == index else None
        processes.append(
            _worker(out, tmp_path / "mw", "multi_worker", 1, *overrides, env=env, wait=False, kill_at=fault)
        )
    return processes


def _multi_worker_run(tmp_path, *overrides):
    processes = _start_workers(tmp_path, *overrides)
    try:
        outputs = [p.communicate(timeout=240)[0] for p in processes]
    finally:
        for p in processes:
            p.kill()
    assert [p.returncode for p in processes] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    run = _TwoWorkers((np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")))
    run.workdir = tmp_path / "mw"
    return run


@pytest.fixture(scope="session")
def two_worker_run(tmp_path_factory):
    """An uninterrupted 8-step run of 2 worker processes on localhost ports (session-scoped:
    a module-scoped one is run again when its worker has run other modules in between)."""
    return _multi_worker_run(tmp_path_factory.mktemp("two_workers"))


@pytest.mark.xdist_group("multi_worker")
@pytest.mark.slow
def test_one_device_mirrored_and_multi_worker_runs_agree(tmp_path, two_worker_run):
    """One device, MirroredStrategy over 2 logical CPUs, and 2 worker processes on
    localhost ports, all on the same global batches."""
    one = _worker(tmp_path / "one.npz", tmp_path / "one", "one_device", 1, "total_steps=4")
    mirrored = _worker(tmp_path / "m.npz", tmp_path / "m", "mirrored", 2)
    assert _max_difference(one, np.load(tmp_path / "m-4.npz")) < MIRRORED_TOLERANCE
    assert _max_difference(one, np.load(_initial_weights(tmp_path))) > 1e-3  # it did train

    chief, other = two_worker_run
    assert _max_difference(chief, other) == 0.0
    for step in (2, 4, 6, 8):
        at_step = np.load(two_worker_run.workdir.parent / f"w0-{step}.npz")
        assert _max_difference(at_step, np.load(tmp_path / f"m-{step}.npz")) < MULTI_WORKER_TOLERANCE
    assert _max_difference(chief, mirrored) < MULTI_WORKER_TOLERANCE
    assert abs(float(chief["eval_loss"]) - float(mirrored["eval_loss"])) < 1e-5
    # Only the chief's checkpoints remain; the other worker's temporary ones are gone.
    assert sorted(os.listdir(two_worker_run.workdir / "checkpoints")) == [f"step-{s:08d}" for s in (2, 4, 6, 8)]


def _faulty_two_worker_run(tmp_path, index, calls):
    """A 2-worker run in which worker `index` sends itself a signal at its `calls`-th
    training step ("N:SIGTERM"; a bare N is SIGKILL). After a SIGKILL the other worker
    hangs in the step's collective until the cluster manager (here, this function) kills
    it; returns both outputs."""
    processes = _start_workers(tmp_path, kill_at=(index, "keras_preact.training.trainer:Trainer._run_step", calls))
    try:
        outputs = [processes[index].communicate(timeout=240)[0]]
        if processes[index].returncode == -signal.SIGKILL:
            _wait_for_saves(tmp_path / "mw" / "checkpoints")  # the survivor hangs after its save
            processes[1 - index].kill()
        outputs.append(processes[1 - index].communicate(timeout=120)[0])
    finally:
        for p in processes:
            p.kill()
    return processes, outputs


def _wait_for_saves(directory, timeout=30):
    """Waits until no checkpoint is being written in `directory` (a `.tmp-step-*` folder),
    as a cluster manager kills a survivor once it hangs, not while it saves."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(n.startswith(".tmp-step-") for n in _listing(directory)):
        time.sleep(0.2)


def _listing(directory):
    return os.listdir(directory) if os.path.isdir(directory) else []


def _checkpoint_steps(workdir):
    """The steps of the finished checkpoints (a worker killed while saving leaves a
    `.tmp-step-*` folder, which the next run removes)."""
    names = sorted(os.listdir(workdir / "checkpoints"))
    return [int(name.split("-")[1]) for name in names if name.startswith("step-")]


@pytest.mark.xdist_group("multi_worker")
@pytest.mark.slow
def test_two_workers_survive_sigkill_of_either(tmp_path, two_worker_run):
    """One run of two workers, 8 steps, a checkpoint every 2, through two faults: SIGKILL
    of worker 0 as it starts step 5; after a restart, SIGKILL of worker 1 as it starts
    step 7. Each restart resumes at the newest checkpoint, and the last one ends
    bit-identical to an uninterrupted 2-worker run. (SIGTERM to either worker or to the
    launcher, mid-training: tests/commands/test_launch.py.)"""
    for killed, calls, newest in ((0, 5, 4), (1, 3, 6)):  # steps 1-5 | 5, 6, 7
        processes, outputs = _faulty_two_worker_run(tmp_path, killed, calls)
        assert processes[killed].returncode == -signal.SIGKILL, outputs[0][-3000:]
        assert _checkpoint_steps(tmp_path / "mw")[-1] == newest
    chief, other = _multi_worker_run(tmp_path)
    assert json.loads((tmp_path / "mw" / "results.json").read_text())["resumed_from"] == 6
    for resumed in (chief, other):
        assert _max_difference(resumed, two_worker_run[0]) == 0.0


def _initial_weights(tmp_path):
    keras.utils.set_random_seed(0)
    model = trainer.build_model(apply_overrides(recipes.get_recipe("smoke"), TINY), sources.DATASETS["synthetic_cifar"])
    path = tmp_path / "initial.npz"
    np.savez(path, *[np.asarray(v) for v in model.weights])
    return path


@pytest.mark.parametrize(
    "tf_config, chief",
    [
        (None, True),
        ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}, True),
        ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}, False),
        ({"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]}, "task": {"type": "worker", "index": 1}}, False),
        ({"cluster": {"chief": ["a:1"], "worker": ["b:1"]}, "task": {"type": "chief", "index": 0}}, True),
    ],
)
def test_only_the_chief_says_what_it_wrote(tf_config, chief, monkeypatch):
    """The task that writes the outputs (`strategy.is_chief`: the chief or worker 0) is the
    one whose command prints "Wrote ..."."""
    from keras_preact.training import strategy

    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    assert strategy.is_chief_task() is chief
