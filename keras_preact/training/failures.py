"""How a training run ends when it cannot go on: the exit statuses of the command and
the errors behind them. Each error's message is one paragraph naming the path and the
cause, for the operator (docs/training.md, "Exit status")."""

import contextlib

import tensorflow as tf

from keras_preact.data.readers import DataError

EXIT_USAGE = 2  # bad arguments, config or data path; a workdir of another or a finished run
EXIT_NAN = 3  # a non-finite loss or weights: the run stopped without saving them
EXIT_STORAGE = 4  # the work directory cannot be written (read-only, full, no permission)
EXIT_DAMAGED = 5  # inputs that exist but cannot be read: data files, every checkpoint
EXIT_CODES = {
    0: "completed, preempted (SIGTERM: what could be saved is saved), or nothing to do",
    EXIT_USAGE: "bad arguments, config or data path; a workdir that holds another run or a finished one",
    EXIT_NAN: "stopped on a non-finite loss or non-finite weights; nothing of them was saved",
    EXIT_STORAGE: "the work directory cannot be written (read-only, full disk, no permission)",
    EXIT_DAMAGED: "data files or every checkpoint in the workdir are damaged or unreadable",
    143: "SIGTERM while Python was still importing TensorFlow, before the command ran; nothing was written",
}


class StorageError(RuntimeError):
    """Writing into the work directory failed; what was being written is not left
    half-written, and no earlier checkpoint was removed."""


class DamagedInputError(RuntimeError):
    """Something the run must read exists but cannot be read."""


def exit_status(error):
    """The exit status of an error that the commands report in one paragraph (the first
    match counts: a DataError is also a ValueError)."""
    for kind, status in _STATUSES:
        if isinstance(error, kind):
            return status
    raise TypeError(f"{type(error).__name__} is not one of the reported errors {REPORTED}")


@contextlib.contextmanager
def writing(path, what):
    """Turns a failed write of `what` at `path` into a `StorageError` that says so."""
    try:
        yield
    except (OSError, tf.errors.OpError) as e:
        cause = getattr(e, "strerror", None) or getattr(e, "message", None) or str(e)
        raise StorageError(
            f"Could not write {what} to {path}: {cause.strip().splitlines()[0]}. Nothing was left "
            "half-written and no earlier checkpoint was removed; free space or fix the permissions of "
            "the work directory (or use another one), then run the same command again to resume."
        ) from e


_STATUSES = (
    (DataError, EXIT_DAMAGED),
    (DamagedInputError, EXIT_DAMAGED),
    (StorageError, EXIT_STORAGE),
    (ValueError, EXIT_USAGE),
    (FileNotFoundError, EXIT_USAGE),
)
# The errors the commands (`keras-preact-train`, `keras-preact-demo`) report in one
# paragraph with `exit_status(error)`; anything else is a bug and keeps its traceback.
REPORTED = tuple(kind for kind, _ in _STATUSES)
