"""The top-level `training/` scripts, run as an operator runs them: the recipes, the
local multi-worker launcher, its signals (SIGTERM to it or to either worker in the middle
of training, SIGHUP and SIGKILL of it) and its limit on the number of workers."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from tests.helpers import HELPERS, ROOT
from tests.helpers.runs import synthetic_run

LAUNCH = os.path.join(ROOT, "training", "launch.py")
LAUNCH_WORKERS = os.path.join(ROOT, "training", "launch_workers.sh")
KILL_AT = os.path.join(HELPERS, "kill_at.py")
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT, "PYTHON": sys.executable}
# Two workers of one replica each: a global batch of 16, 4 steps, checkpoints at 2 and 4.
TINY = synthetic_run(total_steps=4, checkpoint_every=2, boundary=3)
# Long enough to signal in the middle (a step takes ~30 ms here, and a signal stops the
# run a step or two later); a checkpoint every 5 steps shows how far it got. With the bar.
LONG_STEPS = 100
LONG = [a for a in synthetic_run(total_steps=LONG_STEPS, checkpoint_every=5, boundary=60) if a != "--quiet"]


def _run(command, timeout=300):
    return subprocess.run(command, env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_launch_lists_the_recipes():
    done = _run([sys.executable, LAUNCH, "--list-recipes"], timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    names = [line.split()[0] for line in done.stdout.splitlines() if line.strip()]
    assert {"smoke", "demo", "cifar10_resnet1001_v2", "imagenet_resnet200_v2"} <= set(names)


def _print_logs(workdir):
    """The end of the workers' logs, for a failure or a timeout."""
    for i in range(2):
        log = workdir / f"worker-{i}.log"
        print(f"--- {log}:\n" + (log.read_text(errors="replace")[-3000:] if log.exists() else "(none)"))


def _launch_workers(workdir, *extra):
    """Runs launch_workers.sh 2 with the LONG run to its end."""
    try:
        done = _run([LAUNCH_WORKERS, "2", *LONG, "--workdir", str(workdir), *extra])
    finally:
        _print_logs(workdir)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((workdir / "results.json").read_text())


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory):
    """An uninterrupted LONG run of 2 local workers (session-scoped: a module-scoped one is
    run again when its xdist worker has run other modules in between)."""
    workdir = tmp_path_factory.mktemp("reference") / "mw"
    return workdir, _launch_workers(workdir)


@pytest.mark.slow
@pytest.mark.xdist_group("launch")
def test_launch_workers_runs_two_local_workers(reference_run):
    workdir, results = reference_run
    assert (results["status"], results["step"], results["replicas"]) == ("completed", LONG_STEPS, 2)
    for name in ("checkpoints", "history.csv", "worker-0.log", "worker-1.log"):
        assert (workdir / name).exists(), name


def _start(workdir, *extra):
    """Starts launch_workers.sh 2 with the LONG run; returns it and its workers' pids, read
    from its first line ("started 2 workers (pids P0 P1) ...")."""
    command = [LAUNCH_WORKERS, "2", *LONG, "--workdir", str(workdir), *extra]
    process = subprocess.Popen(command, env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = process.stdout.readline()
    started = re.search(r"started 2 workers \(pids (\d+) (\d+)\)", first)
    if not started:
        process.kill()
        pytest.fail(f"the launcher did not start the workers: {first}{process.communicate()[1]}")
    return process, [int(pid) for pid in started.groups()]


def _newest_checkpoint(workdir):
    names = os.listdir(workdir / "checkpoints") if (workdir / "checkpoints").is_dir() else []
    return max((int(n.split("-")[1]) for n in names if n.startswith("step-")), default=0)


def _wait_for_checkpoint(workdir, step, process, timeout=300):
    """Polls until a checkpoint of `step` or later exists, failing if the launcher ends first."""
    deadline = time.monotonic() + timeout
    while _newest_checkpoint(workdir) < step:
        assert process.poll() is None, f"the run ended before the checkpoint of step {step}"
        assert time.monotonic() < deadline, f"no checkpoint of step {step} after {timeout} s"
        time.sleep(0.01)


def _summaries(workdir):
    """(status, step, resumed_from) of each worker, from the JSON line the command prints last."""
    summaries = []
    for i in range(2):
        lines = (workdir / f"worker-{i}.log").read_text(errors="replace").splitlines()
        summary = json.loads(next(line for line in reversed(lines) if line.startswith('{"status"')))
        summaries.append((summary["status"], summary["step"], summary["resumed_from"]))
    return summaries


def _weights(path):
    """Every array in a .weights.h5 file, by its path in the file."""
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: arrays.update({name: item[()]}) if isinstance(item, h5py.Dataset) else None)
    return arrays


@pytest.mark.slow
@pytest.mark.xdist_group("launch")
def test_sigterm_to_the_launcher_or_either_worker_stops_both_at_one_checkpoint(tmp_path, reference_run):
    """Three runs of one workdir, each sent SIGTERM in the middle of training: to the
    launcher (which forwards it), then to worker 0 only, then to worker 1 only. Each time
    both workers save the checkpoint of the same step, after the signal, and exit 0, as does
    the launcher; the message starts a line of its own after the progress bar. Each re-run
    resumes there, and the last one ends bit-identical to the uninterrupted run."""
    workdir, stopped = tmp_path / "mw", 0
    for target, extra in (("launcher", ["--oversubscribe"]), (0, []), (1, [])):
        process, pids = _start(workdir, *extra)  # --oversubscribe: the launcher's own flag
        try:
            signal_at = max(10, stopped + 5)
            _wait_for_checkpoint(workdir, signal_at, process)
            os.kill(process.pid if target == "launcher" else pids[target], signal.SIGTERM)
            out, err = process.communicate(timeout=240)
        finally:
            process.kill()
            _print_logs(workdir)
        assert process.returncode == 0, out + err
        (status, step, resumed), other = _summaries(workdir)
        assert (status, resumed) == ("preempted", stopped) and other == (status, step, resumed)
        assert signal_at <= step < LONG_STEPS and _newest_checkpoint(workdir) == step
        chief_log, stopped = (workdir / "worker-0.log").read_text(errors="replace"), step
        assert f"\nSIGTERM: saved the checkpoint of step {step} and stopped" in chief_log  # not after the bar
        assert ("got SIGTERM; sending SIGTERM to the workers" in err) == (target == "launcher")
    results = _launch_workers(workdir)
    assert (results["status"], results["resumed_from"], results["step"]) == ("completed", stopped, LONG_STEPS)
    resumed, reference = _weights(workdir / "model.weights.h5"), _weights(reference_run[0] / "model.weights.h5")
    assert resumed.keys() == reference.keys() and len(reference) > 10
    for name, array in reference.items():
        np.testing.assert_array_equal(resumed[name], array, err_msg=name)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
@pytest.mark.xdist_group("launch")
def test_a_sigterm_that_tensorflow_caught_still_stops_both_workers(tmp_path):
    """SIGTERM to worker 1 after its MultiWorkerMirroredStrategy installed TensorFlow's
    SIGTERM handler, before the trainer took SIGTERM back (tests/helpers/kill_at.py): TensorFlow's
    notice of it stops both workers at the same step (before the first, or soon after),
    and both exit 0."""
    workdir = tmp_path / "mw"
    workdir.mkdir()
    cluster = [f"localhost:{port}" for port in _free_ports(2)]
    processes = []
    for i in range(2):
        command = [sys.executable, LAUNCH, *TINY, "--workdir", str(workdir), "--strategy", "multi_worker"]
        if i == 1:
            command[1:1] = [KILL_AT, "keras_preact.training.trainer:take_back_sigterm", "1:SIGTERM"]
        tf_config = json.dumps({"cluster": {"worker": cluster}, "task": {"type": "worker", "index": i}})
        with open(workdir / f"worker-{i}.log", "w") as log:
            env = {**ENV, "TF_CONFIG": tf_config}
            processes.append(subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
    try:
        statuses = [p.wait(timeout=300) for p in processes]
    finally:
        for p in processes:
            p.kill()
        _print_logs(workdir)
    assert statuses == [0, 0]
    (status, step, resumed), other = _summaries(workdir)
    assert status == "preempted" and step < 4 and other == (status, step, resumed)


def _running(pid):
    """Whether process `pid` exists and is not a zombie (an orphan's zombie waits for init)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
@pytest.mark.xdist_group("launch")
@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGKILL], ids=["SIGHUP", "SIGKILL"])
def test_no_worker_outlives_the_launcher(tmp_path, signum):
    """SIGHUP reaches the workers as SIGTERM and the launcher waits for them; after a
    SIGKILL of the launcher each worker gets SIGTERM from Linux (its parent-death signal).
    Sent as the workers start, which stops them soonest."""
    process, pids = _start(tmp_path / "mw")
    try:
        process.send_signal(signum)
        out, err = process.communicate(timeout=120)
        deadline = time.monotonic() + 60
        while any(map(_running, pids)) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.kill()
        for pid in filter(_running, pids):
            os.kill(pid, signal.SIGKILL)
    assert not [pid for pid in pids if _running(pid)], f"workers still running 60 s after the launcher's {signum!r}"
    if signum == signal.SIGHUP:
        assert "got SIGHUP; sending SIGTERM to the workers" in err
        # Its status is the workers': 0, or 143 when SIGTERM came while Python imported TensorFlow.
        assert process.returncode in (0, 143), out + err
    else:
        assert process.returncode == -signal.SIGKILL


@pytest.mark.parametrize("n", ["0", "two"])
def test_launch_workers_rejects_a_bad_worker_count(tmp_path, n):
    done = _run([LAUNCH_WORKERS, n, *TINY, "--workdir", str(tmp_path / "mw")], timeout=30)
    assert done.returncode == 2
    assert "N (the number of workers)" in done.stderr and "1 to 999" in done.stderr and repr(n) in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "mw").exists()


def test_launch_workers_refuses_more_workers_than_the_machine_has(tmp_path):
    done = _run([LAUNCH_WORKERS, "999", *TINY, "--workdir", str(tmp_path / "mw")], timeout=30)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    assert re.fullmatch(
        r"launch_workers.sh: error: N=999 workers is more than this machine's \d+ "
        r"(CPU cores \(nproc\)|GPUs \(nvidia-smi -L\)); pass --oversubscribe to start them anyway\n",
        done.stderr,
    ), done.stderr
    assert not (tmp_path / "mw").exists()  # nothing started


def test_oversubscribe_lifts_the_limit(tmp_path):
    """--oversubscribe passes the check; what stops 999 workers here is a later one."""
    command = [LAUNCH_WORKERS, "999", "--oversubscribe", *TINY, "--workdir", str(tmp_path / "mw")]
    done = _run([*command, "--base-port", "65000"], timeout=30)
    assert done.returncode == 2 and "more than this machine" not in done.stderr
    assert "--base-port must be from 1024 to 64537 for 999 workers; received '65000'" in done.stderr
    assert not (tmp_path / "mw").exists()
