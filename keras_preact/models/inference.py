"""A model ready to classify images, with the evaluation transform its weights take:
registered weights (the publisher's transform), a model name with a `.weights.h5`
file, or a `.keras` file (both with the statistics named, `preprocessing=`).
`keras-preact-predict` and `keras-preact-evaluate` load their models here.

For a weights or `.keras` file, ImageNet statistics ("imagenet", "imagenet_inception")
mean torchvision's transform (resize the shorter side to size / 0.875, bilinear,
center crop); the others take images at the input size (a shorter-side resize to it
and a center crop); "none" leaves out the normalisation, for a model that normalises
its [0, 255] inputs itself (`include_preprocessing=True`).
"""

import math
import os

DEFAULT_SIZES = {"fashion_mnist": 28, "cifar10": 32, "cifar100": 32, "cifar_pytorchcv": 32}  # others: 224
DEFAULT_CLASSES = {"cifar100": 100, "cifar10": 10, "fashion_mnist": 10, "cifar_pytorchcv": 10}  # others: 1000


def inference_model(model, weights=None, preprocessing=None, size=None, classes=None):
    """(Keras model, its evaluation transform, its WeightsInfo).

    Args:
        model: a registered model name, or the path of a `.keras` file.
        weights: registered weights of `model`, or a `.weights.h5` file; None with
            a `.keras` file.
        preprocessing: the statistics of a weights or `.keras` file (a key of
            `DATASET_STATS`, or "none"); None with registered weights, which carry theirs.
        size: the side of the square input; None for the weights' own.
        classes: classifier outputs of a `.weights.h5` file (default: the
            preprocessing dataset's).

    Raises:
        ValueError: for an unknown model or weights, or a file that does not fit.
    """
    if weights is not None and not weights.endswith(".weights.h5"):
        return _registered(model, weights, size)
    import keras

    from keras_preact.models.pretrained import WeightsInfo
    from keras_preact.models.registry import get_model
    from keras_preact.models.transforms import transform_of

    if weights is None:
        loaded = keras.saving.load_model(model)
        if None not in (loaded.input_shape[1], size) and loaded.input_shape[1] != size:
            raise ValueError(f"--size {size}: {model} takes inputs of size {loaded.input_shape[1]}")
        size = loaded.input_shape[1] or size or DEFAULT_SIZES.get(preprocessing, 224)
        channels, classes = loaded.input_shape[-1], loaded.output_shape[-1]
    else:
        size = size or DEFAULT_SIZES.get(preprocessing, 224)
        channels = 1 if preprocessing == "fashion_mnist" else 3
        classes = classes or DEFAULT_CLASSES.get(preprocessing, 1000)
        loaded = get_model(model, weights=weights, input_shape=(size, size, channels), classes=classes)
    imagenet = preprocessing.startswith("imagenet")
    info = WeightsInfo(
        model,
        os.path.basename(weights or model),
        url="",
        sha256=None,
        input_shape=(size, size, channels),
        classes=classes,
        preprocessing=preprocessing,
        resize_size=math.floor(size / 0.875) if imagenet else None,
        interpolation="bilinear" if imagenet else None,
        crop_pct=0.875 if imagenet else None,
    )
    return loaded, transform_of(info, None, normalize=preprocessing != "none"), info


def _registered(model, weights, size):
    from keras_preact.models.pretrained import get_weights_info, list_weights
    from keras_preact.models.registry import get_model, model_arguments
    from keras_preact.models.transforms import transform_of

    model_arguments(model)  # an unknown name: its message
    info = get_weights_info(model, weights)
    if info is None:
        known = list_weights(model)
        raise ValueError(f"--weights {weights}: not registered for {model} ({known or 'none are'})")
    shape = None if size is None else (size, size, info.input_shape[2])
    loaded = get_model(model, weights=weights, input_shape=shape)
    return loaded, transform_of(info, size), info


def decoding_dataset(info):
    """The `decode_predictions` dataset of `info`'s classes, or None if unknown."""
    known = {"imagenet": 1000, "imagenet_inception": 1000, "cifar10": 10, "cifar100": 100, "fashion_mnist": 10}
    if known.get(info.preprocessing) == info.classes:
        return "imagenet" if info.classes == 1000 else info.preprocessing
    if info.preprocessing == "cifar_pytorchcv" and info.classes in (10, 100):
        return f"cifar{info.classes}"
    return None
