"""Checkpoints that a reader never sees half-written, and that are verified on load.

`tf.train.CheckpointManager` writes its shards in place under the final name, and
Keras 3's `BackupAndRestore` resumes only at epoch boundaries. Here a checkpoint is a
directory `step-00001234/` written as `.tmp-step-00001234-<pid>/` (the
`tf.train.Checkpoint` files plus `manifest.json` with each file's size and SHA-256),
flushed to disk and renamed in one atomic step. Loading verifies the manifest; a
checkpoint damaged later (a truncated file) is skipped with a warning naming the file,
and the previous one is used. The temporary folders of saves that a killed run left
behind are removed when the next run starts.

A checkpoint is *good* once the step after it has given a finite loss from its weights
(the trainer calls `prune` then): only then do older ones beyond the last `max_to_keep`
go. One whose next step is non-finite (weights that are finite but exploded) is
`reject`ed: renamed `rejected-step-*`, so no restart resumes from it, and kept for
inspection.
"""

import json
import os
import re
import shutil
import tempfile
import warnings

from keras_preact.training.failures import DamagedInputError, writing
from keras_preact.utils.files import file_sha256, fsync_dir, remove_quietly

PREFIX = "ckpt"
_NAME = re.compile(r"^step-(\d{8,})$")
_TEMPORARY = re.compile(r"^\.tmp-step-\d{8,}-\d+$")


class CorruptCheckpointError(DamagedInputError):
    """Every checkpoint in a directory failed verification."""


class AtomicCheckpointManager:
    """Saves and restores a `tf.train.Checkpoint` atomically in `directory`.

    Args:
        checkpoint: the `tf.train.Checkpoint` to write and read.
        directory: where the `step-*` directories live.
        max_to_keep: how many good checkpoints `prune` keeps.
        is_chief: False on non-chief workers of a multi-worker run: they take part in
            the save (it may run collectives) but write to a private temporary folder
            outside `directory` that they remove, so only the chief's checkpoint remains.
    """

    def __init__(self, checkpoint, directory, max_to_keep=3, is_chief=True):
        self.checkpoint = checkpoint
        self.directory = directory
        self.max_to_keep = max_to_keep
        self.is_chief = is_chief
        with writing(directory, "the checkpoint directory"):
            os.makedirs(directory, exist_ok=True)
        if is_chief:
            self.removed_temporaries = self._remove_temporaries()

    def _remove_temporaries(self):
        """Removes the `.tmp-step-*` folders of saves that a killed run left half-written
        (only the chief writes into `directory`, and it has not started to); returns
        their names."""
        stale = sorted(name for name in os.listdir(self.directory) if _TEMPORARY.match(name))
        for name in stale:
            shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)
        return stale

    def checkpoints(self):
        """Complete checkpoint directories, oldest first, as (step, path)."""
        found = []
        for name in os.listdir(self.directory):
            match = _NAME.match(name)
            if match:
                found.append((int(match.group(1)), os.path.join(self.directory, name)))
        return sorted(found)

    def save(self, step):
        """Writes the checkpoint of `step`; returns its directory (None off the chief).

        Raises:
            StorageError: if it cannot be written; its temporary folder is removed.
        """
        if not self.is_chief:
            # A private folder: in a work directory shared between hosts, a name made of
            # the step and a process id could be the chief's own temporary folder.
            with writing(tempfile.gettempdir(), f"this worker's copy of the checkpoint of step {step}"):
                tmp = tempfile.mkdtemp(prefix=f"keras_preact-step-{step:08d}-")
                try:
                    self.checkpoint.write(os.path.join(tmp, PREFIX))
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
            return None
        final = os.path.join(self.directory, f"step-{step:08d}")
        tmp = os.path.join(self.directory, f".tmp-step-{step:08d}-{os.getpid()}")
        try:
            with writing(final, f"the checkpoint of step {step}"):
                self._write(tmp, step)
                if os.path.exists(final):  # a re-save of the same step (after a restore)
                    shutil.rmtree(final)
                os.rename(tmp, final)
                fsync_dir(self.directory)
        except BaseException:
            remove_quietly(tmp)
            raise
        return final

    def _write(self, tmp, step):
        """The checkpoint files and their manifest in `tmp`, flushed to disk."""
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        self.checkpoint.write(os.path.join(tmp, PREFIX))
        files = {}
        for name in sorted(os.listdir(tmp)):
            path = os.path.join(tmp, name)
            with open(path, "rb") as f:
                os.fsync(f.fileno())
            files[name] = {"bytes": os.path.getsize(path), "sha256": file_sha256(path)}
        with open(os.path.join(tmp, "manifest.json"), "w") as f:
            json.dump({"step": step, "files": files}, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        fsync_dir(tmp)

    def prune(self):
        """Removes all but the newest `max_to_keep` checkpoints (call it once the newest
        is known to be good)."""
        if self.is_chief:
            for _, old in self.checkpoints()[: -self.max_to_keep]:
                shutil.rmtree(old, ignore_errors=True)

    def reject(self, step):
        """Renames the checkpoint of `step` to `rejected-step-*` (a restart skips it);
        returns the new path, or None off the chief or if there is none."""
        path = os.path.join(self.directory, f"step-{step:08d}")
        if not self.is_chief or not os.path.isdir(path):
            return None
        rejected = os.path.join(self.directory, f"rejected-step-{step:08d}")
        with writing(rejected, f"the rejected checkpoint of step {step}"):
            remove_quietly(rejected)
            os.rename(path, rejected)
            fsync_dir(self.directory)
        return rejected

    def verify(self, path):
        """Returns None if the checkpoint at `path` is intact, else what is wrong."""
        try:
            with open(os.path.join(path, "manifest.json")) as f:
                manifest = json.load(f)
        except (OSError, ValueError) as e:
            return f"{os.path.join(path, 'manifest.json')}: {e}"
        for name, expected in manifest["files"].items():
            file = os.path.join(path, name)
            if not os.path.isfile(file):
                return f"{file} is missing"
            size = os.path.getsize(file)
            if size != expected["bytes"]:
                return f"{file} has {size} bytes, its manifest says {expected['bytes']} (truncated?)"
            if file_sha256(file) != expected["sha256"]:
                return f"{file} does not match the SHA-256 of its manifest"
        return None

    def restore_latest(self):
        """Restores the newest intact checkpoint; returns its step, or None if there
        is none. Damaged checkpoints are skipped with a warning naming the file.

        Raises:
            CorruptCheckpointError: if checkpoints exist but none is intact.
        """
        saved = self.checkpoints()
        problems = []
        for step, path in reversed(saved):
            problem = self.verify(path)
            if problem is None:
                self.checkpoint.read(os.path.join(path, PREFIX)).assert_existing_objects_matched()
                return step
            warnings.warn(f"Skipping damaged checkpoint: {problem}", stacklevel=2)
            problems.append(problem)
        if problems:
            raise CorruptCheckpointError(
                f"Every checkpoint in {self.directory} is damaged: " + "; ".join(problems) + ". Nothing was "
                "removed. Restore a good copy of a checkpoint, or move the checkpoints away to train from step 0."
            )
        return None
