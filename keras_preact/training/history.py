"""The run's records in its work directory: config.json, history.csv, results.json and
the TensorBoard logs.

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

from keras_preact.training.failures import writing
from keras_preact.utils.files import atomic_write, atomic_write_text
from keras_preact.utils.version import __version__

# Config fields a resumed run may change: where the data is and how often to report.
OPERATIONAL_FIELDS = {"data_dir", "manual_dir", "eval_every", "checkpoint_every", "keep_checkpoints", "log_every"}
HISTORY_FIELDS = (
    "step", "epoch", "lr", "train_from_step", "train_steps", "train_loss", "train_accuracy", "eval_loss",
    "eval_accuracy", "images_per_second",
)  # fmt: skip
_INTEGER_FIELDS = {"step", "train_from_step", "train_steps"}


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
        with writing(path, "the run's config"):
            atomic_write_text(json.dumps(current, indent=2), path)


class History:
    """history.csv: one row per evaluation, cut back to the restored step on resume."""

    def __init__(self, workdir, start_step, write):
        self.path = os.path.join(workdir, "history.csv")
        self.write = write
        self.rows = []
        if os.path.exists(self.path):
            with open(self.path) as f:
                rows = [_typed(r) for r in csv.DictReader(f)]
            self.rows = [r for r in rows if r["step"] <= start_step]

    def has(self, step):
        return any(row["step"] == step for row in self.rows)

    def append(self, row):
        self.rows.append(row)
        if not self.write:
            return

        def save(tmp):
            with open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, HISTORY_FIELDS)
                writer.writeheader()
                writer.writerows(self.rows)

        with writing(self.path, "the history"):
            atomic_write(save, self.path)


class TensorBoard:
    """The run's TensorBoard scalars in workdir/tensorboard (nothing off the chief)."""

    def __init__(self, workdir, write):
        path = os.path.join(workdir, "tensorboard")
        self.writer = None
        if write:
            with writing(path, "the TensorBoard logs"):
                self.writer = tf.summary.create_file_writer(path)

    def scalars(self, step, values):
        if self.writer:
            with self.writer.as_default(step=step):
                for name, value in values.items():
                    tf.summary.scalar(name, value)


def _typed(row):
    """A history.csv row with numbers as numbers (a column an older run lacks: None)."""
    typed = {}
    for field in HISTORY_FIELDS:
        value = row.get(field)
        if value in (None, ""):
            typed[field] = None
        else:
            typed[field] = int(value) if field in _INTEGER_FIELDS else float(value)
    return typed


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
    path = os.path.join(workdir, "results.json")
    with writing(path, "the results"):
        atomic_write_text(json.dumps(results, indent=2, default=str), path)


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
