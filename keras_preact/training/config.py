"""`TrainConfig`: everything a training run depends on, and its validation.

Step counts and the learning rate are stated for `reference_batch_size`. With
`lr_scaling="linear"` (the default) a different `batch_size` scales the learning
rates by batch_size / reference_batch_size and every step count by the inverse, so a
run covers the same epochs (Goyal et al., 2017): the schedule's (`warmup_steps`,
`boundaries`, `total_steps`) and the operational ones (`eval_every`,
`checkpoint_every`, `log_every`) alike, so that one config holds step counts in one
unit; `lr_scaling="none"` uses them as written. Field names are the `--set` keys of
the `keras-preact-train` command.
"""

import dataclasses
import json

from keras_preact.utils.checks import is_integer

# The --strategy names (`keras_preact.training.strategy.make_strategy`).
STRATEGIES = ("auto", "mirrored", "multi_worker", "one_device")
# The paper's CIFAR crops: padded by 4 pixels ([1] Sec. 4.2; keras_preact.data.augmentation).
CIFAR_PADDING = 4


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run depends on; saved as the run's config.json."""

    model: str = "PreActResNet110"
    dataset: str = "cifar10"
    data_dir: str = None
    manual_dir: str = None
    train_subset: int = None
    eval_subset: int = None
    batch_size: int = 128
    eval_batch_size: int = 500
    reference_batch_size: int = 128
    lr_scaling: str = "linear"
    base_lr: float = 0.1
    warmup_lr: float = 0.01
    warmup_steps: int = 400
    boundaries: tuple = (32_000, 48_000)
    total_steps: int = 64_000
    momentum: float = 0.9
    weight_decay: float = 1e-4
    seed: int = 0
    deterministic: bool = True
    mixed_precision: str = None
    sync_bn: bool = False
    remat: bool = False
    model_kwargs: dict = dataclasses.field(default_factory=dict)
    imagenet_augment: str = "scale"
    eval_crop: int = 224
    crop_padding: int = CIFAR_PADDING
    eval_every: int = 2000
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    log_every: int = 50

    def validate(self):
        """Checks every field's type, range and shape (`keras_preact.training.validation`).

        Returns:
            The config itself.

        Raises:
            ValueError: naming the first bad field, its value and the allowed values.
        """
        from keras_preact.training import validation  # Keras and TensorFlow: after --help and --list-recipes

        return validation.validate(self)

    def scaled(self):
        """The learning rates and every step count after `lr_scaling`, as a dict."""
        factor = self.batch_size / self.reference_batch_size if self.lr_scaling == "linear" else 1.0

        def steps(n):
            return max(1, round(n / factor)) if n else 0

        return {
            "base_lr": self.base_lr * factor,
            "warmup_lr": None if self.warmup_lr is None else self.warmup_lr * factor,
            "warmup_steps": steps(self.warmup_steps),
            "boundaries": [steps(b) for b in self.boundaries],
            "total_steps": steps(self.total_steps),
            "eval_every": steps(self.eval_every),
            "checkpoint_every": steps(self.checkpoint_every),
            "log_every": steps(self.log_every),
            "factor": factor,
        }

    def to_dict(self):
        data = dataclasses.asdict(self)
        data["boundaries"] = list(self.boundaries)
        return data


def apply_overrides(config, overrides, validate=True):
    """Applies "key=value" strings (values parsed as JSON, else taken as strings);
    `validate=False` leaves the checks of the result to the caller.

    Raises:
        ValueError: for a malformed override or an unknown key (listing the keys),
            or with `validate`, a field outside its allowed values.
    """
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    changes = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"Received: --set {item!r}; expected key=value.")
        if key not in fields:
            raise ValueError(f"Received: --set {key}=...; unknown key. Expected one of {sorted(fields)}.")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        if key == "boundaries" and isinstance(value, list):
            value = tuple(value)
        elif isinstance(getattr(config, key), float) and is_integer(value):
            value = float(value)  # --set momentum=0
        changes[key] = value
    config = dataclasses.replace(config, **changes)
    return config.validate() if validate else config
