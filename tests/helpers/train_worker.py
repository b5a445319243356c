"""Runs a tiny training for the distributed tests and saves the final weights.

    python tests/helpers/train_worker.py OUT.npz WORKDIR STRATEGY CPU_DEVICES [KEY=VALUE ...]

The config is `TINY` below with the overrides; the weights are saved in the order
of `model.weights`, with the last evaluation loss, on every worker (chief or not). The
chief also saves the weights of each checkpoint it kept, as OUT-<step>.npz.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))  # the repository

TINY = [
    "model=PreActResNet8",
    "dataset=synthetic_cifar",
    "batch_size=16",
    "reference_batch_size=16",
    "eval_batch_size=16",
    "warmup_steps=0",
    "boundaries=[]",
    "total_steps=8",
    "eval_every=1000",
    "checkpoint_every=2",
    "keep_checkpoints=4",
    "sync_bn=true",
]


def main(out, workdir, strategy, cpu_devices, *overrides):
    from keras_preact.training import recipes, trainer
    from keras_preact.training.config import apply_overrides
    from keras_preact.training.strategy import split_cpu

    if int(cpu_devices) > 1:
        split_cpu(int(cpu_devices))
    config = apply_overrides(recipes.get_recipe("smoke"), TINY + list(overrides))
    run = trainer.Trainer(config, workdir, strategy, verbose=0)
    results = run.train()
    import numpy as np

    np.savez(out, *[np.asarray(v) for v in run.model.weights], eval_loss=results.get("eval_loss", np.nan))
    if run.chief:
        for step, path in run.manager.checkpoints():
            run.checkpoint.read(os.path.join(path, "ckpt")).assert_existing_objects_matched()
            np.savez(out.replace(".npz", f"-{step}.npz"), *[np.asarray(v) for v in run.model.weights])
    print("status", results["status"], "step", results["step"])


if __name__ == "__main__":
    main(*sys.argv[1:])
