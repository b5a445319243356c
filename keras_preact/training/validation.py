"""Strict checks of every `TrainConfig` field: type, range and shape.

Each check raises a ValueError that names the field, echoes the value and states what
is allowed. Types are strict: a boolean is not an integer, a string is not a number, and
a float field takes an integer but never NaN or infinity. `TrainConfig.validate` runs
them all before a run touches its work directory. `validate_values` holds the checks
that need no Keras or TensorFlow (the model and dataset names among them): the training
command runs them before it loads TensorFlow, so most bad values answer at once.
"""

import math

from keras_preact.utils.checks import check_choice, is_integer

LR_SCALINGS = ("linear", "none")
MIXED_PRECISION = (None, "mixed_float16", "mixed_bfloat16")
MAX_SEED = 2**63 - 1


def _fail(field, value, allowed):
    raise ValueError(f"Received: {field}={value!r}; expected {allowed}.")


def integer(field, value, minimum, maximum=None, optional=False):
    """An int (not a bool) in [minimum, maximum], or None when `optional`."""
    if optional and value is None:
        return
    if not is_integer(value) or value < minimum or (maximum is not None and value > maximum):
        bound = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
        _fail(field, value, f"{'None or ' if optional else ''}an integer {bound}")


def number(field, value, minimum, maximum=None, below_maximum=False, above_minimum=False, optional=False):
    """A finite int or float (not a bool) within the bounds, or None when `optional`."""
    if optional and value is None:
        return
    ok = (is_integer(value) or isinstance(value, float)) and math.isfinite(value)
    ok = ok and (value > minimum if above_minimum else value >= minimum)
    if ok and maximum is not None:
        ok = value < maximum if below_maximum else value <= maximum
    if not ok:
        low = f"{'>' if above_minimum else '>='} {minimum}"
        high = "" if maximum is None else f" and {'<' if below_maximum else '<='} {maximum}"
        _fail(field, value, f"{'None or ' if optional else ''}a finite number {low}{high}")


def boolean(field, value):
    if not isinstance(value, bool):
        _fail(field, value, "true or false")


def path(field, value):
    if value is not None and (not isinstance(value, str) or not value):
        _fail(field, value, "None or a non-empty path")


def boundaries(field, value):
    """Step numbers > 0 in increasing order (a list or tuple, possibly empty)."""
    steps = list(value) if isinstance(value, (list, tuple)) else None
    if steps is None or not all(is_integer(s) and s > 0 for s in steps) or steps != sorted(set(steps)):
        _fail(field, value, "a list of increasing step numbers > 0, e.g. [32000, 48000]")


def model_kwargs(field, value, model):
    """A dict of the builder's unit options and `norm`, each valid for `model` (checked
    without building it, so that a bad option fails before the run starts)."""
    from keras_preact.models import arguments, specs
    from keras_preact.models.layers import NORMS
    from keras_preact.models.names import model_arguments

    allowed = (*arguments.UNIT_DEFAULTS, "norm")
    if not isinstance(value, dict) or not set(value) <= set(allowed) or not all(isinstance(k, str) for k in value):
        _fail(field, value, f"a dict of builder arguments, keys from {allowed}")
    arch = model_arguments(model)
    spec = specs.get_spec(arch["depth"], arch["family"], arch["block"])
    options = {**arguments.UNIT_DEFAULTS, **{k: v for k, v in value.items() if k != "norm"}}
    try:
        arguments.resolve_unit_options(spec, arch["version"], **options)
        check_choice("norm", value.get("norm", "fused"), NORMS)
    except ValueError as e:
        raise ValueError(f"Received: {field}={value!r}, which {model} does not take: {e}") from None


def validate_values(config):
    """The checks of `validate` that need no Keras or TensorFlow: the model and dataset
    names, and the types, ranges and shapes of the fields other than the unit options
    and the augmentation's.

    Raises:
        ValueError: for the first field outside its allowed values.
    """
    from keras_preact.data.catalog import DATASETS  # TensorFlow-free
    from keras_preact.models.names import model_arguments  # Keras-free

    if not isinstance(config.model, str):
        _fail("model", config.model, "a model name such as 'PreActResNet110'")
    model_arguments(config.model)
    check_choice("dataset", config.dataset, DATASETS)
    path("data_dir", config.data_dir)
    path("manual_dir", config.manual_dir)
    for field in ("train_subset", "eval_subset"):
        integer(field, getattr(config, field), 1, optional=True)
    for field in ("batch_size", "eval_batch_size", "reference_batch_size", "total_steps", "eval_every"):
        integer(field, getattr(config, field), 1)
    for field in ("checkpoint_every", "keep_checkpoints", "log_every"):
        integer(field, getattr(config, field), 1)
    integer("warmup_steps", config.warmup_steps, 0)
    integer("seed", config.seed, 0, MAX_SEED)
    check_choice("lr_scaling", config.lr_scaling, LR_SCALINGS)
    number("base_lr", config.base_lr, 0, above_minimum=True)
    number("warmup_lr", config.warmup_lr, 0, above_minimum=True, optional=True)
    if config.warmup_steps and config.warmup_lr is None:
        _fail("warmup_lr", None, f"a learning rate > 0 with warmup_steps={config.warmup_steps} (or warmup_steps=0)")
    boundaries("boundaries", config.boundaries)
    number("momentum", config.momentum, 0, 1, below_maximum=True)
    number("weight_decay", config.weight_decay, 0)
    for field in ("deterministic", "sync_bn", "remat"):
        boolean(field, getattr(config, field))
    check_choice("mixed_precision", config.mixed_precision, MIXED_PRECISION)
    return config


def validate(config):
    """Checks every field of `config`; returns it.

    Raises:
        ValueError: for the first field outside its allowed values.
    """
    from keras_preact.data import augmentation
    from keras_preact.data.catalog import DATASETS

    validate_values(config)
    model_kwargs("model_kwargs", config.model_kwargs, config.model)
    check_choice("imagenet_augment", config.imagenet_augment, augmentation.IMAGENET_AUGMENTS)
    if not is_integer(config.eval_crop):
        _fail("eval_crop", config.eval_crop, f"one of {tuple(augmentation.IMAGENET_EVAL_RESIZE)}")
    check_choice("eval_crop", config.eval_crop, tuple(augmentation.IMAGENET_EVAL_RESIZE))
    augmentation.check_crop_padding(config.crop_padding, DATASETS[config.dataset].image_shape[0])
    return config
