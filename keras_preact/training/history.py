"""The run's records in its work directory: config.json, history.csv and results.json.

Every file is written atomically (a reader never sees half of one), and only by the
chief of a multi-worker run.
"""

import csv
import json
import os
import platform
import sys

import keras
import numpy as np
import tensorflow as tf

from keras_preact.utils.files import atomic_write, atomic_write_text
from keras_preact.utils.version import __version__

# Config fields a resumed run may change: where the data is and how often to report.
OPERATIONAL_FIELDS = {"data_dir", "manual_dir", "eval_every", "checkpoint_every", "keep_checkpoints", "log_every"}
HISTORY_FIELDS = (
    "step", "epoch", "lr", "train_loss", "train_accuracy", "eval_loss", "eval_accuracy", "images_per_second",
)  # fmt: skip


def check_config_file(workdir, config, write):
    """Refuses a workdir that holds a run of another config; records `config` there.

    Raises:
        ValueError: naming the fields that differ from the saved config.json.
    """
    path = os.path.join(workdir, "config.json")
    current = json.loads(json.dumps(config.to_dict()))
    if os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
        keys = (set(saved) | set(current)) - OPERATIONAL_FIELDS
        # A field missing from the saved config did not exist yet: the run used its default.
        defaults = json.loads(json.dumps(type(config)().to_dict()))
        changed = sorted(k for k in keys if saved.get(k, defaults.get(k)) != current.get(k))
        if changed:
            raise ValueError(
                f"{workdir} holds a run with another config (differs in {changed}); resume it with the "
                "same recipe and --set values, or use a new workdir."
            )
    if write:
        atomic_write_text(json.dumps(current, indent=2), path)


class History:
    """history.csv: one row per evaluation, cut back to the restored step on resume."""

    def __init__(self, workdir, start_step, write):
        self.path = os.path.join(workdir, "history.csv")
        self.write = write
        self.rows = []
        if os.path.exists(self.path):
            with open(self.path) as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["step"]) <= start_step]

    def append(self, row):
        self.rows.append(row)
        if not self.write:
            return

        def save(tmp):
            with open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, HISTORY_FIELDS)
                writer.writeheader()
                writer.writerows(self.rows)

        atomic_write(save, self.path)


def read_results(workdir):
    """The results.json of a finished run, or None."""
    path = os.path.join(workdir, "results.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def finished_run(workdir, start, total):
    """The results of a run that finished in `workdir`, or None if it has not finished.

    Args:
        start: the step of the newest intact checkpoint (0 without one).
        total: the run's step count.

    Raises:
        ValueError: if results.json says the run finished but no checkpoint of its last
            step is left (deleted or damaged): training again would silently replace its
            results, so the operator decides.
    """
    results = read_results(workdir)
    if results is None or start >= total:
        return results
    raise ValueError(
        f"{workdir} holds the results of a finished run (results.json, step {results.get('step')}) but no "
        f"checkpoint of its last step (the newest intact one is of step {start}). To train again, move "
        "results.json away; or use a new workdir."
    )


def write_results(workdir, results):
    atomic_write_text(json.dumps(results, indent=2, default=str), os.path.join(workdir, "results.json"))


def versions():
    """The versions a run's results record."""
    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_preact": __version__,
        "numpy": np.__version__,
        "platform": sys.platform,
    }
