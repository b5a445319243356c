"""SIGTERM as a request to stop at the end of the current step (a preemption notice).

`Preemption` installs a Python SIGTERM handler that only sets a flag; the training loop
sums the flag over all replicas in every step, so every worker stops at the same step.

TensorFlow takes SIGTERM over in multi-worker runs. Creating a
`MultiWorkerMirroredStrategy` starts TensorFlow's coordination service, and as soon as
this process has connected to it, TensorFlow installs its own C++ SIGTERM handler (its
preemption notifier; with TensorFlow's logging on it logs `preemption_notifier.cc ...
SIGTERM caught`). It replaces Python's handler at the C level, while `signal.getsignal`
still names ours: a handler installed before the strategy was created never runs again.
TensorFlow's handler does not stop the process; its thread, which looks for a caught
signal once a second, writes the key `TF_DEFAULT_PREEMPTION_NOTICE_KEY` into the
coordination service, and the run trains on. TensorFlow's own
`tf.distribute.experimental.PreemptionCheckpointHandler` installs a Python handler over
TensorFlow's when it is created, too; it is not used here because it would take over the
checkpoints (its own manager and step count) from the trainer's verified ones. So:

* `take_back_sigterm` re-installs the Python handler; the trainer calls it as soon as it
  has the strategy, so from then on a SIGTERM reaches `Preemption`;
* a SIGTERM that TensorFlow's handler caught in between is not lost: for a few seconds
  after that (the notice appears up to a second late), `Preemption.flag` also reads
  TensorFlow's key, which every worker sees, and a worker that finds it stops as if the
  signal had reached it.
"""

import signal
import time

import tensorflow as tf
from tensorflow.python.eager import context

NOTICE_KEY = "TF_DEFAULT_PREEMPTION_NOTICE_KEY"  # where TensorFlow's handler leaves its notice
NOTICE_SECONDS = 3.0  # how long after take_back_sigterm the notice may still appear


class Preemption:
    """Remembers a SIGTERM until the loop reaches the end of its step."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # not the main thread: no handler
            self._previous = None
        return self

    def flag(self):
        """1.0 when this worker is asked to stop, else 0.0: a SIGTERM reached it, or
        TensorFlow's handler caught one before `take_back_sigterm` (see the module)."""
        if not self.requested and _notice.pending():
            self.requested = tensorflow_caught_sigterm()
        return float(self.requested)

    def requested_on_any_worker(self, strategy):
        """Whether a SIGTERM reached any worker of `strategy` (every worker gets the same
        answer; the loop sums the flag in each step, this is for before the first)."""
        local = self.flag()
        flags = strategy.run(lambda: tf.constant(local))
        return float(strategy.reduce(tf.distribute.ReduceOp.SUM, flags, axis=None)) > 0

    def _handle(self, signum, frame):
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


class _Notice:
    """When TensorFlow's notice of a SIGTERM its handler caught may still matter: from
    `take_back_sigterm` on, until one reading after NOTICE_SECONDS has passed."""

    def __init__(self):
        self.until = None

    def arm(self):
        self.until = time.monotonic() + NOTICE_SECONDS

    def pending(self):
        """Whether to read the notice now; the first reading after the window is the last."""
        if self.until is None:
            return False
        if time.monotonic() >= self.until:
            self.until = None
        return True


_notice = _Notice()


def take_back_sigterm(strategy):
    """Re-installs the Python SIGTERM handler (if any) over the one TensorFlow installed
    while `strategy` was created (a `MultiWorkerMirroredStrategy`; see the module), and
    has `Preemption.flag` read TensorFlow's notice for a while."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    handler = signal.getsignal(signal.SIGTERM)
    if callable(handler):
        try:
            signal.signal(signal.SIGTERM, handler)
        except ValueError:  # not the main thread
            pass
    _notice.arm()


def tensorflow_caught_sigterm():
    """Whether TensorFlow's SIGTERM handler has left its notice in the coordination
    service: a SIGTERM that reached a worker of this cluster while that handler was
    installed. False without a coordination service (a single-process run)."""
    try:
        context.context().get_config_key_value(NOTICE_KEY, timeout_in_ms=1)
    except tf.errors.OpError:  # not there (DeadlineExceeded), or no service (FailedPrecondition)
        return False
    return True
