"""SIGTERM as a request to stop at the end of the current step (a preemption notice)."""

import signal

import tensorflow as tf


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

    def requested_on_any_worker(self, strategy):
        """Whether a SIGTERM reached any worker of `strategy` (every worker gets the same
        answer; the loop sums the flag in each step, this is for before the first)."""
        flags = strategy.run(lambda: tf.constant(float(self.requested)))
        return float(strategy.reduce(tf.distribute.ReduceOp.SUM, flags, axis=None)) > 0

    def _handle(self, signum, frame):
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
