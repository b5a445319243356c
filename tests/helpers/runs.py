"""Training runs for the tests that run the trainer's commands."""

import os
import time


def synthetic_run(total_steps, checkpoint_every, boundary, eval_every=None):
    """Command-line arguments of a small synthetic training run (PreActResNet8 on synthetic
    CIFAR, batch 16, evaluated every `eval_every` steps, default at the end only) for tests
    that run the trainer's commands."""
    fields = {
        "model": "PreActResNet8",
        "dataset": "synthetic_cifar",
        "batch_size": 16,
        "reference_batch_size": 16,
        "total_steps": total_steps,
        "boundaries": f"[{boundary}]",
        "checkpoint_every": checkpoint_every,
        "eval_every": eval_every or total_steps,
        "eval_batch_size": 64,
    }
    return ["--recipe", "smoke", "--quiet", *(a for k, v in fields.items() for a in ("--set", f"{k}={v}"))]


def wait_for(path, process, timeout=180):
    """Polls until `path` exists, failing if `process` ends first or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert process.poll() is None, f"the process ended before {path} appeared"
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.005)
