"""Training runs for the tests: the command-line arguments of a small synthetic run, a
tiny run of the trainer in the test process, and waiting for a run's files."""

import os
import signal
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


# Overrides of the smoke recipe for a tiny run: PreActResNet8 on synthetic CIFAR, 2 steps
# of batch 16, a checkpoint every step, an evaluation at the end.
TINY = ["model=PreActResNet8", "dataset=synthetic_cifar", "batch_size=16", "reference_batch_size=16",
        "eval_batch_size=64", "total_steps=2", "eval_every=2", "checkpoint_every=1", "deterministic=false"]  # fmt: skip


def tiny_trainer(workdir, *overrides):
    """A one-device, silent Trainer of the TINY run in `workdir`, with `overrides`."""
    from keras_preact.training import recipes, trainer
    from keras_preact.training.config import apply_overrides

    config = apply_overrides(recipes.get_recipe("smoke"), TINY + list(overrides))
    return trainer.Trainer(config, str(workdir), "one_device", verbose=0)


def signal_when(path, process, signum=signal.SIGTERM, timeout=180):
    """Sends `signum` to `process` once `path` exists; returns its (stdout, stderr)
    once it has ended (killed if it has not within 120 s)."""
    try:
        wait_for(path, process, timeout)
        process.send_signal(signum)
        return process.communicate(timeout=120)
    finally:
        process.kill()
