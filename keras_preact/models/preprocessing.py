"""Input preprocessing: per-channel mean/std normalisation of images in [0, 255].

The statistics are those of the authors' Torch code (fb.resnet.torch `datasets/`):
ImageNet mean/std of [0, 1] images scaled by 255, and the CIFAR-10 / CIFAR-100
per-channel statistics of the training sets. Fashion-MNIST's are of its 60,000
training images. The training pipelines call this same function, so a model trained
here sees at serving time exactly what it saw in training.
"""

import warnings

import numpy as np
from keras import backend, layers, ops

from keras_preact.models.graph import all_layers, check_model
from keras_preact.utils.checks import check_choice, check_type, shown

# dataset: (per-channel mean, per-channel std), on the 0-255 scale.
DATASET_STATS = {
    "imagenet": ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375)),
    "cifar10": ((125.3, 123.0, 113.9), (63.0, 62.1, 66.7)),
    "cifar100": ((129.3, 124.1, 112.4), (68.2, 65.4, 70.4)),
    "fashion_mnist": ((72.94,), (90.02,)),
    # The statistics of ported weights whose publishers normalise otherwise: timm's
    # "a1h" ResNetV2 weights (mean = std = 0.5 on [0, 1], i.e. [-1, 1]) and pytorchcv's
    # CIFAR-10 and CIFAR-100 weights (0.4914, 0.4822, 0.4465) / (0.2023, 0.1994, 0.2010).
    "imagenet_inception": ((127.5, 127.5, 127.5), (127.5, 127.5, 127.5)),
    "cifar_pytorchcv": ((125.307, 122.961, 113.8575), (51.5865, 50.847, 51.255)),
}


class _DefaultDataset(str):
    """`preprocess_input`'s default dataset, "imagenet", told apart from one passed."""


DEFAULT_DATASET = _DefaultDataset("imagenet")
NORMALIZATION_LAYER = "input_normalization"
DATA_FORMATS = ("channels_last", "channels_first")


def channel_count(dataset):
    """The number of channels the statistics of `dataset` (a key of `DATASET_STATS`) have."""
    return len(DATASET_STATS[dataset][0])


def datasets_with_channels(channels):
    """The datasets whose statistics have `channels` channels."""
    return [name for name in DATASET_STATS if channel_count(name) == channels]


def _is_numeric(dtype):
    try:
        return backend.standardize_dtype(dtype).startswith(("float", "int", "uint", "bfloat"))
    except (TypeError, ValueError):  # strings, objects
        return False


def _as_images(x):
    """`x` as an array or tensor of numbers; ValueError for None, strings, ragged lists."""
    images = x
    if not (hasattr(x, "shape") and hasattr(x, "dtype")):
        try:
            images = np.asarray(x)
        except ValueError:  # ragged nested lists
            images = None
    if not (hasattr(images, "dtype") and _is_numeric(images.dtype)):
        raise ValueError(f"Received: x={shown(x)}; expected images: a NumPy array or tensor of numbers.")
    return images


def _known_shape(x):
    """`x.shape` as a tuple, or None where its rank is unknown (a graph tensor)."""
    try:
        return tuple(x.shape)
    except (TypeError, ValueError):
        return None


def check_channels(received, shape, dataset, data_format):
    """Raises ValueError unless `shape` (of images, one or a batch, or a model's
    `input_shape`) has as many channels as the statistics of `dataset`.

    Args:
        received: what the message says was received, e.g. "x of shape (1, 8, 8, 3)"
            or "input_shape=(8, 8, 3), include_preprocessing=True".
        shape: the shape, a tuple; an unknown channel count (None) passes (it
            broadcasts at run time).
        dataset: a key of `DATASET_STATS`.
        data_format: "channels_last" or "channels_first".
    """
    rank = len(shape)
    if rank < 3:
        raise ValueError(f"Received: {received}; expected images of rank 3 (one image) or 4 (a batch).")
    axis = -1 if data_format == "channels_last" else rank - 3
    channels, expected = shape[axis], channel_count(dataset)
    if channels is not None and channels != expected:
        raise ValueError(
            f"Received: {received} and dataset={dataset!r}: images with {channels} channel(s) "
            f"(data_format={data_format!r}), but the statistics of {dataset!r} have {expected}; expected "
            f"{expected}-channel images, or a dataset with {channels}-channel statistics: "
            f"{datasets_with_channels(channels) or 'none'}."
        )


def registered_weights(model, weights):
    """The `WeightsInfo` of a registered (model, weights) pair.

    Raises:
        ValueError: naming `model` or `weights` when the pair is not registered.
    """
    from keras_preact.models.pretrained import get_weights_info  # it imports this module

    check_type("model", model, str, "a registered model name, e.g. 'PreActResNet50'")
    check_type("weights", weights, str, "a registered weights name, e.g. 'imagenet'")
    info = get_weights_info(model, weights)
    if info is None:
        raise ValueError(
            f"Received: model={model!r}, weights={weights!r}; expected a registered pair, e.g. "
            "model='PreActResNet50', weights='imagenet' (keras_preact.list_weights() lists them)."
        )
    return info


def _dataset_of(dataset, model, weights):
    """The statistics `preprocess_input` applies: those of the registered weights
    when `model` and `weights` are given (`dataset`, if also given, must agree)."""
    if model is None and weights is None:
        return dataset
    if model is None or weights is None:
        raise ValueError(
            f"Received: model={model!r}, weights={weights!r}; expected both (a registered pair) or neither."
        )
    needed = registered_weights(model, weights).preprocessing
    if dataset is not DEFAULT_DATASET and dataset != needed:
        raise ValueError(
            f"Received: dataset={shown(dataset)} with model={model!r}, weights={weights!r}, whose inputs "
            f"need {needed!r}; expected dataset={needed!r}, or no dataset."
        )
    return needed


def _warn_of_the_default():
    warnings.warn(
        "preprocess_input(x) without a dataset normalises with ImageNet's mean/std, which torchvision's and "
        "fb.resnet.torch's weights need, but not timm's (PreActResNet50/101 weights='imagenet': "
        "'imagenet_inception', [-1, 1]) nor pytorchcv's ('cifar_pytorchcv'). Pass dataset=..., or "
        "model=... and weights=... for the statistics of registered weights.",
        UserWarning,
        stacklevel=3,
    )


def preprocess_input(x, dataset=DEFAULT_DATASET, data_format=None, *, model=None, weights=None):
    """Normalises images with the per-channel statistics of a dataset, or of
    registered weights.

        x = preprocess_input(images, model="PreActResNet50", weights="imagenet")  # timm's: [-1, 1]

    Not `keras.applications.resnet_v2.preprocess_input`, which maps [0, 255] to
    [-1, 1]: the weights here were trained on `(x - mean) / std` with the dataset's
    statistics, and Keras' scaling silently costs accuracy (on the shipped
    Fashion-MNIST weights, 74.5% instead of 94.6%). A model built with
    `include_preprocessing=True` takes images in [0, 255] and does this inside.

    Args:
        x: images with values in [0, 255]: a NumPy array (or nested lists, read
            as one) or a tensor, one image or a batch, with the channel axis last
            (`"channels_last"`) or first in each image (`"channels_first"`).
        dataset: one of `DATASET_STATS`: "imagenet", "cifar10", "cifar100",
            "fashion_mnist", or the statistics of ported weights,
            "imagenet_inception" (timm) and "cifar_pytorchcv" (pytorchcv). The
            `preprocessing` of registered weights (`get_weights_info`) names theirs.
            Without `dataset`, `model` or `weights` it is "imagenet", with a
            warning: the keras.applications habit `preprocess_input(x)` is wrong
            for timm's and pytorchcv's ported weights.
        data_format: "channels_last" or "channels_first"; None reads
            `keras.config.image_data_format()`.
        model, weights: a registered model name and weights name (both or
            neither), e.g. "PreActResNet50", "imagenet": their statistics
            (`get_weights_info(model, weights).preprocessing`), as timm's
            `resolve_data_config` gives a pretrained model's mean/std.

    Returns:
        float32 `(x - mean) / std`: a NumPy array for NumPy input, else a tensor.

    Raises:
        ValueError: for an unknown dataset or data format, `x` that is not an array
            or tensor of numbers of rank 3 or more, when the channel count of `x`
            differs from the dataset's, for an unregistered (model, weights) pair or
            a `dataset` that disagrees with it.
    """
    default = dataset is DEFAULT_DATASET and model is None and weights is None
    dataset = _dataset_of(dataset, model, weights)
    check_choice("dataset", dataset, DATASET_STATS)
    data_format = backend.image_data_format() if data_format is None else data_format
    check_choice("data_format", data_format, DATA_FORMATS)
    x = _as_images(x)
    shape = _known_shape(x)
    if shape is not None:  # a graph tensor of unknown rank broadcasts at run time
        check_channels(f"x of shape {shape}", shape, dataset, data_format)
    mean, std = (np.asarray(v, "float32") for v in DATASET_STATS[dataset])
    if data_format == "channels_first":
        mean, std = mean[:, None, None], std[:, None, None]
    if default:
        _warn_of_the_default()
    if isinstance(x, np.ndarray):
        return ((x.astype("float32") - mean) / std).astype("float32")
    return (ops.cast(x, "float32") - mean) / std


def normalization_layer(dataset, data_format=None):
    """Keras' `Normalization` layer computing `preprocess_input(x, dataset)`: the first
    layer of a model built with `include_preprocessing=True`, which then takes images in
    [0, 255]. A standard Keras layer, so saved models keep loading with Keras alone."""
    check_choice("dataset", dataset, DATASET_STATS)
    mean, std = (np.asarray(v, "float32") for v in DATASET_STATS[dataset])
    axis = -1 if (data_format or backend.image_data_format()) == "channels_last" else 1
    return layers.Normalization(axis=axis, mean=mean, variance=np.square(std), name=NORMALIZATION_LAYER)


def includes_preprocessing(model):
    """Whether `model` normalises its input itself: it, or a model nested in it (a base
    in a fine-tuning model), was built with include_preprocessing=True.

    Raises:
        ValueError: if `model` is not a `keras.Model`.
    """
    return any(layer.name == NORMALIZATION_LAYER for layer in all_layers(check_model(model)))
