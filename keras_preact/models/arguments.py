"""Validation of the builder arguments: every check names the argument, echoes the
value received and lists the allowed values."""

import numbers
import os

import keras

from keras_preact.models import preprocessing, pretrained, units
from keras_preact.models.names import model_name
from keras_preact.utils.checks import check_bool, check_choice, check_rate, check_real, check_type, is_integer, shown

POOLINGS = (None, "avg", "max")
# Where a pre-activation net's first activation sits (`build_resnet`'s stem_activation).
STEM_ACTIVATIONS = ("shared", "none", "separate")
DEFAULT_INPUT_SIZE = {"imagenet": 224, "cifar": 32}
# Smallest input each family's stride plan turns into at least 1x1 features.
MIN_INPUT_SIZE = {"imagenet": 32, "cifar": 4}
DEFAULT_CLASSES = {"imagenet": 1000, "cifar": 10}

# The builder arguments of the unit variants, with their defaults.
UNIT_DEFAULTS = {
    "activation_order": None,
    "shortcut": "identity",
    "shortcut_options": None,
    "downsample_shortcut": "projection",
    "stride_on": "3x3",
}
# The check of each value of `shortcut_options` (`units.SHORTCUTS` has the kinds' keys).
SHORTCUT_OPTION_CHECKS = {
    "scale": check_real,
    "scale_residual": check_bool,
    "gate_bias": check_real,
    "rate": check_rate,
}


def resolve_unit_options(spec, version, activation_order, shortcut, shortcut_options, downsample_shortcut, stride_on):
    """Validates the unit variants; returns the keyword arguments of the unit function."""
    if not is_integer(version) or version not in (1, 2):
        raise ValueError(f"Received: version={version!r}; expected 1 (post-activation) or 2 (pre-activation).")
    if activation_order is None:
        activation_order = units.DEFAULT_ORDER[version]
    check_choice("activation_order", activation_order, units.ACTIVATION_ORDERS)
    order_version = units.ACTIVATION_ORDERS[activation_order].version
    if order_version != version:
        allowed = [k for k, o in units.ACTIVATION_ORDERS.items() if o.version == version]
        raise ValueError(
            f"Received: activation_order={activation_order!r} with version={version}; "
            f"{activation_order!r} is a version-{order_version} order. Version {version} "
            f"orders: {allowed}."
        )
    options = resolve_shortcut_options(shortcut, shortcut_options)
    check_choice("downsample_shortcut", downsample_shortcut, units.DOWNSAMPLE_SHORTCUTS)
    if downsample_shortcut == "input_projection" and order_version != 2:
        raise ValueError(
            f"Received: downsample_shortcut='input_projection' with version {version}; it moves a "
            "pre-activation unit's projection before the pre-activation, so it applies to version 2 "
            "(version 1 projections already read the unit input, with BN)."
        )
    check_choice("stride_on", stride_on, units.STRIDE_POSITIONS)
    resolved = {
        "activation_order": activation_order,
        "shortcut": shortcut,
        "shortcut_options": options,
        "downsample_shortcut": downsample_shortcut,
    }
    if spec.block == "bottleneck":
        resolved["stride_on"] = stride_on
    elif stride_on != "3x3":
        raise ValueError(
            f"Received: stride_on={stride_on!r} for basic units; only bottleneck units have a 1x1 conv to stride."
        )
    return resolved


def resolve_shortcut_options(shortcut, shortcut_options):
    """`units.resolve_shortcut_options`, after checking that `shortcut_options` is None or
    a dict and each of its values has the type of its option."""
    if shortcut_options is not None:
        check_type("shortcut_options", shortcut_options, dict, "None or a dict such as {'rate': 0.5}")
    options = units.resolve_shortcut_options(shortcut, shortcut_options)
    for key, value in options.items():
        SHORTCUT_OPTION_CHECKS[key](f"shortcut_options['{key}']", value)
    return options


def check_stem_activation(stem_activation, unit_options):
    """Validates a resolved `stem_activation` against the units."""
    check_choice("stem_activation", stem_activation, STEM_ACTIVATIONS)
    if stem_activation != "shared" and units.ACTIVATION_ORDERS[unit_options["activation_order"]].version != 2:
        raise ValueError(
            f"Received: stem_activation={stem_activation!r} with activation_order="
            f"{unit_options['activation_order']!r}; only pre-activation units (version 2) share the stem's "
            "activation, so only they take another stem_activation than 'shared'."
        )


def resolve_regularization(drop_path_rate, zero_init_residual, shortcut):
    """Validates the training options beyond the paper; returns (rate, zero_init).

    They change no variable, layer position or name, so weights files of the model
    without them load (registered weights included).
    """
    rate = units.check_drop_path(drop_path_rate, shortcut)
    if not isinstance(zero_init_residual, bool):
        raise ValueError(f"Received: zero_init_residual={zero_init_residual!r}; expected True or False.")
    return rate, zero_init_residual


def resolve_weights(weights, spec, version):
    """The weights of a build, looked up once: (WeightsInfo or None, local path or None).

    Raises:
        ValueError: for a name not registered for the model and not an existing
            `.weights.h5` file.
    """
    if weights is None:
        return None, None
    name = model_name(spec.depth, version)
    info = pretrained.get_weights_info(name, weights) if isinstance(weights, str) else None
    if info is not None:
        return info, None
    path = os.fspath(weights) if isinstance(weights, os.PathLike) else weights
    if isinstance(path, str) and path.endswith(".weights.h5") and os.path.isfile(path):
        return None, path
    raise ValueError(
        f"Received: weights={weights!r}; expected None, a registered name for {name} "
        f"({pretrained.list_weights(name) or 'none registered'}), or the path of an "
        "existing '.weights.h5' file."
    )


def merge_builder_options(info, explicit):
    """The layout options of a build: {their defaults (`pretrained.BUILDER_OPTION_DEFAULTS`), the
    registered weights' `builder_options`, the explicit arguments}, later ones winning.

    `explicit` maps each option to its argument (None: not given). The one conflict
    check: an explicit argument that differs from what the weights need.
    """
    defaults = pretrained.BUILDER_OPTION_DEFAULTS
    needed = {} if info is None else {**defaults, **info.builder_options}  # weights fix every option
    for key, value in explicit.items():
        if value is not None and key in needed and value != needed[key]:
            raise ValueError(
                f"Received: {key}={value!r} with weights={info.name!r} of {info.model}, which need "
                f"{key}={needed[key]!r} (the layout of their source, {info.source}); leave it out."
            )
    return {key: needed.get(key, defaults[key]) if value is None else value for key, value in explicit.items()}


def check_standard_units(info, spec, version, unit_options):
    """Registered weights fit the standard units (with their `builder_options`):
    refuses the ablation variants (Tables 1 and 2 of [2]) with them."""
    if info is None:
        return
    needed = {k: v for k, v in info.builder_options.items() if k in UNIT_DEFAULTS}
    standard = resolve_unit_options(spec, version, **{**UNIT_DEFAULTS, **needed})
    changed = {k: v for k, v in unit_options.items() if v != standard[k]}
    if changed:
        raise ValueError(
            f"Received: weights={info.name!r} with {changed}; the registered weights {info.name!r} of "
            f"{info.model} are for its standard units{' with ' + str(needed) if needed else ''}."
        )


def resolve_preprocessing(include_preprocessing, dataset, spec, info):
    """The dataset whose statistics the model normalises with, or None.

    With `include_preprocessing=True`: the statistics of the weights given, else of
    `dataset`, else of ImageNet for the ImageNet family; a CIFAR-family model without
    weights must name its dataset.
    """
    if not isinstance(include_preprocessing, bool):
        raise ValueError(f"Received: include_preprocessing={include_preprocessing!r}; expected True or False.")
    if dataset is not None:
        check_choice("dataset", dataset, preprocessing.DATASET_STATS)
    if not include_preprocessing:
        if dataset is not None:
            raise ValueError(
                f"Received: dataset={dataset!r} with include_preprocessing=False; dataset names the "
                "statistics a model with include_preprocessing=True normalises with."
            )
        return None
    if info is not None:
        if dataset not in (None, info.preprocessing):
            raise ValueError(
                f"Received: dataset={dataset!r} with weights={info.name!r}, which were trained on "
                f"{info.preprocessing!r} statistics; leave dataset out, or pass dataset={info.preprocessing!r}."
            )
        return info.preprocessing
    if dataset is None and spec.family == "cifar":
        raise ValueError(
            "Received: include_preprocessing=True without weights or dataset; a CIFAR-family model must "
            f"name the statistics to normalise with: dataset= one of {sorted(preprocessing.DATASET_STATS)}."
        )
    return dataset or "imagenet"


def _is_size(value):
    """Whether `value` is a positive integer (a NumPy one too), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0


def check_input_shape(input_shape, data_format):
    """Returns `input_shape` as a tuple of 3 dimensions, each a positive int or None.

    Raises:
        ValueError: for anything else (a string, nested lists, floats, 2 dimensions).
    """
    layout = "height, width, channels" if data_format == "channels_last" else "channels, height, width"
    dims = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else ()
    if len(dims) != 3 or not all(d is None or _is_size(d) for d in dims):
        raise ValueError(
            f"Received: input_shape={shown(input_shape)}; expected 3 dimensions ({layout}), each a "
            "positive int or None."
        )
    return tuple(None if d is None else int(d) for d in dims)


def resolve_input_shape(input_shape, input_tensor, spec, info, data_format):
    """The model's input shape (without the batch axis): `input_shape`, else that of
    `input_tensor`, else the weights', else the family's default.

    Raises:
        ValueError: for a shape that is not 3 dimensions of positive ints or None, that
            disagrees with `input_tensor`, whose channel count is unknown or not the
            weights', or whose height or width is below the family's minimum.
    """
    if input_shape is not None:
        input_shape = check_input_shape(input_shape, data_format)
    default_size = DEFAULT_INPUT_SIZE[spec.family]
    if info is not None:
        default = tuple(info.input_shape)
    else:
        default = (default_size, default_size, 3)
    if input_tensor is not None:
        tensor_shape = tuple(input_tensor.shape[1:])
        if input_shape is not None and tuple(input_shape) != tensor_shape:
            raise ValueError(
                f"Received: input_shape={input_shape!r} and input_tensor of shape "
                f"{tuple(input_tensor.shape)}; they disagree. Pass one of them."
            )
        input_shape = tensor_shape
    if input_shape is None:
        shape = default if data_format == "channels_last" else (default[2], *default[:2])
        return shape
    shape = check_input_shape(input_shape, data_format)
    channels, spatial = (shape[2], shape[:2]) if data_format == "channels_last" else (shape[0], shape[1:])
    if info is not None and channels != info.input_shape[2]:
        raise ValueError(
            f"Received: input_shape={input_shape!r} with {channels} channels; the weights "
            f"{info.name!r} take {info.input_shape[2]} channels."
        )
    if channels is None or channels < 1:
        raise ValueError(f"Received: input_shape={input_shape!r}; the channel count must be known.")
    small = [d for d in spatial if d is not None and d < MIN_INPUT_SIZE[spec.family]]
    if small:
        raise ValueError(
            f"Received: input_shape={input_shape!r}; {spec.family} models need height and "
            f"width of at least {MIN_INPUT_SIZE[spec.family]}."
        )
    return shape


def resolve_head(include_top, pooling, classes, classifier_activation, spec, info):
    """Validates the head arguments; returns the number of classes.

    With `include_top=True`, `pooling` is checked but not used (the classifier reads
    global average pooling, [1]), as keras.applications ignores it there.
    """
    check_bool("include_top", include_top)
    check_choice("pooling", pooling, POOLINGS)
    if classes is None:
        classes = info.classes if info is not None else DEFAULT_CLASSES[spec.family]
    if not is_integer(classes) or classes < 1:
        raise ValueError(f"Received: classes={classes!r}; expected a positive int.")
    if include_top and classifier_activation is not None:
        try:
            keras.activations.get(classifier_activation)
        except (TypeError, ValueError):
            raise ValueError(
                f"Received: classifier_activation={shown(classifier_activation)}; expected None or a "
                "Keras activation such as 'softmax'."
            ) from None
    return classes
