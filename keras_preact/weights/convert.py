"""Converting a released checkpoint into a Keras model of the builders: the library
function behind `keras-preact-convert` and behind the ported `weights=` names.

    model = convert_checkpoint("torchvision", "resnet50-0676ba61.pth", "ResNet50")
    convert_checkpoint("pytorchcv", "preresnet20_cifar10-0651-76cec68d.pth",
                       "PreActResNet20", output="preresnet20.weights.h5")

The model is built with the builder options the checkpoint's layout needs
(`keras_preact.weights.sources`), so it computes what the source model computes, on
the same preprocessed input, and every variable of it comes from the checkpoint.
"""

import os

from keras_preact.models.registry import get_model, model_arguments
from keras_preact.utils.files import atomic_write
from keras_preact.weights.sources import SOURCES, read_checkpoint, share_stem_activation, state_dict_layers
from keras_preact.weights.torch7_layout import torch7_layers

# source -> the (family, version) of the models its checkpoints hold
SOURCE_MODELS = {
    "torchvision": {("imagenet", 1)},
    "timm": {("imagenet", 2)},
    "pytorchcv": {("cifar", 1), ("cifar", 2)},
    "torch7": {("imagenet", 2)},
}
OUTPUT_SUFFIXES = (".keras", ".weights.h5")


def checkpoint_layers(source, checkpoint, model):
    """Reads a checkpoint and maps it onto the layers of the named model.

    Args:
        source: one of `SOURCES`.
        checkpoint: the checkpoint file.
        model: a model name, e.g. "ResNet50", "PreActResNet20".

    Returns:
        ({Keras layer name: arrays}, the builder options its layout needs).

    Raises:
        ValueError: for an unknown source, a model the source does not release, a
            file that is not such a checkpoint, or an unsafe file.
    """
    if source not in SOURCES:
        raise ValueError(f"Received: source={source!r}; expected one of {SOURCES}.")
    arch = model_arguments(model)
    if (arch["family"], arch["version"]) not in SOURCE_MODELS[source]:
        kinds = ", ".join(f"version {v} {f}" for f, v in sorted(SOURCE_MODELS[source]))
        raise ValueError(f"Received: model={model!r} with source={source!r}; {source} checkpoints hold {kinds} models.")
    contents = read_checkpoint(source, checkpoint)
    if source == "torch7":
        return torch7_layers(contents)
    layers = state_dict_layers(source, contents, arch["version"])
    if arch["version"] == 1:
        return layers, {}
    # The source's first unit pre-activates itself. With a projection and no max-pool
    # before it, that equals the paper's shared stem activation exactly.
    if arch["family"] == "cifar" and "stage1_unit1_shortcut_conv" in layers:
        return share_stem_activation(layers), {}
    return layers, {"stem_activation": "none"}


def check_layers_fit(model, layers, source="checkpoint"):
    """Checks that `layers` holds exactly the weights of `model`'s weighted layers.

    Returns:
        {layer name: layer} of the model's weighted layers.

    Raises:
        ValueError: if a layer of the model has no weights in `layers`, `layers` has
            a layer the model lacks, or a shape differs (the message names them).
    """
    weighted = {layer.name: layer for layer in model.layers if layer.weights}
    missing, extra = sorted(set(weighted) - set(layers)), sorted(set(layers) - set(weighted))
    problems = [f"no weights for {len(missing)} of its layers, e.g. {missing[:3]}"] if missing else []
    problems += [f"{len(extra)} layers it lacks, e.g. {extra[:3]}"] if extra else []
    if problems:
        raise ValueError(f"The {source} weights do not fit {model.name!r}: {'; '.join(problems)}.")
    for name, arrays in layers.items():
        expected = [tuple(v.shape) for v in weighted[name].weights]
        found = [tuple(a.shape) for a in arrays]
        if expected != found:
            raise ValueError(
                f"The {source} weights do not fit {model.name!r}: layer {name!r} has shapes {expected}, "
                f"the checkpoint {found}."
            )
    return weighted


def assign_layers(model, layers, source="checkpoint"):
    """Sets every weighted layer of `model` from `layers`, refusing any partial fit
    (`check_layers_fit`)."""
    weighted = check_layers_fit(model, layers, source)
    for name, arrays in layers.items():
        weighted[name].set_weights(arrays)


def builder_call(model, output, options, classifier_activation="softmax"):
    """The Python call that builds `model` with a converted `.weights.h5` file."""
    arguments = [f"weights={output!r}", *(f"{k}={v!r}" for k, v in options.items())]
    if classifier_activation != "softmax":
        arguments.append(f"classifier_activation={classifier_activation!r}")
    return f"keras_preact.{model}({', '.join(arguments)})"


def convert_checkpoint(source, checkpoint, model, output=None, classifier_activation="softmax", **build_options):
    """Converts a released checkpoint into a Keras model of the builders.

    Args:
        source: "torchvision", "timm", "pytorchcv" or "torch7".
        checkpoint: the file: a `.pth` (torchvision, pytorchcv; either layout of
            `torch.save`), a `.safetensors` or `.pth` (timm), a `.t7` (torch7).
        model: the model name, e.g. "ResNet50", "PreActResNet200".
        output: None, or a path ending in ".keras" (the whole model) or
            ".weights.h5" (its weights; `builder_call` gives the call that loads them).
        classifier_activation: of the returned model: "softmax" (the builders'
            default) or None for logits, as the source models return.
        **build_options: other arguments of the named builder, e.g. input_shape
            (the weights fit any size) or norm.

    Returns:
        (the Keras model, the builder options the layout needs).

    Raises:
        ValueError: see `checkpoint_layers` and `assign_layers`; also for an output
            path with another suffix.
    """
    if output is not None and not str(output).endswith(OUTPUT_SUFFIXES):
        raise ValueError(f"Received: output={output!r}; expected a path ending in one of {OUTPUT_SUFFIXES}.")
    layers, options = checkpoint_layers(source, checkpoint, model)
    classes = layers["predictions"][1].shape[0] if "predictions" in layers else None
    keras_model = get_model(
        model,
        weights=None,
        classes=classes,
        classifier_activation=classifier_activation,
        **build_options,
        **options,
    )
    assign_layers(keras_model, layers, source)
    if output is not None:
        output = os.fspath(output)
        save = keras_model.save if output.endswith(".keras") else keras_model.save_weights
        atomic_write(save, output)
    return keras_model, options
