"""The top-level `training/` scripts, run as an operator runs them."""

import json
import os
import subprocess
import sys

import pytest

from conftest import synthetic_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCH = os.path.join(ROOT, "training", "launch.py")
LAUNCH_WORKERS = os.path.join(ROOT, "training", "launch_workers.sh")
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT, "PYTHON": sys.executable}
# Two workers of one replica each: a global batch of 16, 4 steps, checkpoints at 2 and 4.
TINY = synthetic_run(total_steps=4, checkpoint_every=2, boundary=3)


def _run(command, timeout=300):
    return subprocess.run(command, env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_launch_lists_the_recipes():
    done = _run([sys.executable, LAUNCH, "--list-recipes"], timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    names = [line.split()[0] for line in done.stdout.splitlines() if line.strip()]
    assert {"smoke", "demo", "cifar10_resnet1001_v2", "imagenet_resnet200_v2"} <= set(names)


@pytest.mark.slow
@pytest.mark.xdist_group("launch")
def test_launch_workers_runs_two_local_workers(tmp_path):
    workdir = tmp_path / "mw"
    try:
        done = _run([LAUNCH_WORKERS, "2", *TINY, "--workdir", str(workdir)])
    finally:  # the workers' logs, on failure or timeout
        for i in range(2):
            log = workdir / f"worker-{i}.log"
            print(f"--- {log}:\n" + (log.read_text()[-3000:] if log.exists() else "(none)"))
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((workdir / "results.json").read_text())
    assert (results["status"], results["step"], results["replicas"]) == ("completed", 4, 2)
    for name in ("checkpoints", "history.csv", "worker-0.log", "worker-1.log"):
        assert (workdir / name).exists(), name


@pytest.mark.parametrize("n", ["0", "two"])
def test_launch_workers_rejects_a_bad_worker_count(tmp_path, n):
    done = _run([LAUNCH_WORKERS, n, *TINY, "--workdir", str(tmp_path / "mw")], timeout=30)
    assert done.returncode == 2
    assert "N (the number of workers)" in done.stderr and "1 to 999" in done.stderr and repr(n) in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "mw").exists()
