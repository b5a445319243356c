"""What the training loop knows between steps: its step, the training window since
the last evaluation, and the checkpoint that has not yet shown it is good."""

import dataclasses

import numpy as np


class TrainWindow:
    """The training loss and accuracy since the last evaluation: float64 sums in step
    order. Their state goes into every checkpoint, so after a restart an evaluation's
    averages still cover every step since the previous one, as in an uninterrupted run;
    each history row names the steps it averages (`train_from_step`, `train_steps`)."""

    def __init__(self, step=0):
        self.reset(step)

    def reset(self, step):
        """Starts a window after `step`."""
        self.first, self.loss, self.accuracy, self.steps = step + 1, 0.0, 0.0, 0

    def add(self, loss, accuracy):
        self.loss += loss
        self.accuracy += accuracy
        self.steps += 1

    def state(self):
        return [self.loss, self.accuracy, float(self.steps)]

    def restore(self, state, step):
        """The window of a checkpoint of `step` (an older checkpoint without one: empty)."""
        self.loss, self.accuracy, steps = (float(v) for v in state)
        self.steps = int(steps)
        self.first = step - self.steps + 1

    def fields(self):
        mean = lambda total: total / self.steps if self.steps else None  # noqa: E731
        return {
            "train_from_step": self.first,
            "train_steps": self.steps,
            "train_loss": mean(self.loss),
            "train_accuracy": mean(self.accuracy),
        }


@dataclasses.dataclass
class Progress:
    """The loop's state between steps."""

    step: int
    start: int
    window: TrainWindow
    unverified: int = None  # the checkpoint step whose next step has not run yet
    status: str = "completed"
    last_evaluation: tuple = (None, None)  # (step, metrics)
    timed: list = dataclasses.field(default_factory=list)  # seconds of the steps after the first

    @classmethod
    def restored(cls, start, window_state):
        """The state at `start`: the restored checkpoint (if any) is unverified until its
        next step, and its training window continues."""
        window = TrainWindow(start)
        if start:
            window.restore(window_state, start)
        return cls(step=start, start=start, window=window, unverified=start or None)

    def images_per_second(self, batch_size, last=50):
        """The rate of the `last` timed steps (all of them for None); 0 before any."""
        timed = self.timed[-last:] if last else self.timed
        return batch_size / np.mean(timed) if timed else 0.0


class Console:
    """Prints the loop's messages on lines of their own beside Keras' progress bar, which
    redraws its line with a carriage return and ends it only at its last step."""

    def __init__(self):
        self.bar_open = False  # the bar's line awaits its end

    def print(self, message):
        if self.bar_open:
            print()
            self.bar_open = False
        print(message)
