"""Input preprocessing: per-channel mean/std normalisation of images in [0, 255].

The statistics are those of the authors' Torch code (fb.resnet.torch `datasets/`):
ImageNet mean/std of [0, 1] images scaled by 255, and the CIFAR-10 / CIFAR-100
per-channel statistics of the training sets. Fashion-MNIST's are of its 60,000
training images. The training pipelines call this same function, so a model trained
here sees at serving time exactly what it saw in training.
"""

import numpy as np
from keras import backend, layers, ops

from keras_preact.models.graph import all_layers
from keras_preact.utils.checks import check_choice

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


NORMALIZATION_LAYER = "input_normalization"


def preprocess_input(x, dataset="imagenet", data_format=None):
    """Normalises images with the per-channel statistics of a dataset.

    Not `keras.applications.resnet_v2.preprocess_input`, which maps [0, 255] to
    [-1, 1]: the weights here were trained on `(x - mean) / std` with the dataset's
    statistics, and Keras' scaling silently costs accuracy (on the shipped
    Fashion-MNIST weights, 74.5% instead of 94.6%). A model built with
    `include_preprocessing=True` takes images in [0, 255] and does this inside.

    Args:
        x: images with values in [0, 255]: a NumPy array or a tensor, with the
            channel axis last (`"channels_last"`) or after the batch axis.
        dataset: one of `DATASET_STATS`: "imagenet", "cifar10", "cifar100",
            "fashion_mnist", or the statistics of ported weights,
            "imagenet_inception" (timm) and "cifar_pytorchcv" (pytorchcv). The
            `preprocessing` of registered weights (`get_weights_info`) names theirs.
        data_format: "channels_last" or "channels_first"; None reads
            `keras.config.image_data_format()`.

    Returns:
        float32 `(x - mean) / std`: a NumPy array for NumPy input, else a tensor.

    Raises:
        ValueError: for an unknown dataset or data format, or when the channel
            count of `x` differs from the dataset's.
    """
    check_choice("dataset", dataset, DATASET_STATS)
    data_format = data_format or backend.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"Received: data_format={data_format!r}; expected 'channels_last' or 'channels_first'.")
    mean, std = (np.asarray(v, "float32") for v in DATASET_STATS[dataset])
    channel_axis = -1 if data_format == "channels_last" else 1
    channels = x.shape[channel_axis] if len(x.shape) >= 3 else None
    if channels is not None and channels != mean.size:
        raise ValueError(
            f"Received: images with {channels} channels (shape {tuple(x.shape)}); "
            f"dataset={dataset!r} has {mean.size} and data_format={data_format!r}."
        )
    if data_format == "channels_first":
        mean, std = mean[:, None, None], std[:, None, None]
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
    in a fine-tuning model), was built with include_preprocessing=True."""
    return any(layer.name == NORMALIZATION_LAYER for layer in all_layers(model))
