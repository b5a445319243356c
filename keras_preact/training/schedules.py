"""The paper's step learning-rate schedule, with its warm-up ([2], Sec. 4 and appendix).

CIFAR ([2], appendix): lr 0.1, divided by 10 at 32k and 48k iterations, 64k in all,
after a warm-up at 0.01 for the first 400 iterations (used for ResNet-110 in [1] and
for every CIFAR run in [2]). ImageNet: lr 0.1 divided by 10 at epochs 30 and 60.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_preact")
class StepSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """lr(step) = warmup_lr for step < warmup_steps, else base_lr * 0.1**k, where k
    is the number of `boundaries` <= step. Steps count from 0, so with boundaries
    (32000, 48000) step 31999 is the last at 0.1 and step 32000 the first at 0.01.
    """

    def __init__(self, base_lr, boundaries=(), warmup_lr=None, warmup_steps=0, decay=0.1):
        if list(boundaries) != sorted(boundaries):
            raise ValueError(f"Received: boundaries={boundaries!r}; expected increasing step numbers.")
        if warmup_steps and warmup_lr is None:
            raise ValueError(f"Received: warmup_steps={warmup_steps} without warmup_lr.")
        self.base_lr = float(base_lr)
        self.boundaries = [int(b) for b in boundaries]
        self.warmup_lr = None if warmup_lr is None else float(warmup_lr)
        self.warmup_steps = int(warmup_steps)
        self.decay = float(decay)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        passed = sum(ops.cast(step >= b, "float32") for b in self.boundaries) if self.boundaries else 0.0
        lr = self.base_lr * ops.power(self.decay, passed)
        if self.warmup_steps:
            lr = ops.where(step < self.warmup_steps, self.warmup_lr, lr)
        return lr

    def get_config(self):
        return {
            "base_lr": self.base_lr,
            "boundaries": self.boundaries,
            "warmup_lr": self.warmup_lr,
            "warmup_steps": self.warmup_steps,
            "decay": self.decay,
        }
