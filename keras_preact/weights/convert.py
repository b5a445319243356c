"""Converting a released checkpoint into a Keras model of the builders: the library
function behind `keras-preact-convert` and behind the ported `weights=` names.

    model = convert_checkpoint("torchvision", "resnet50-0676ba61.pth", "ResNet50")
    convert_checkpoint("pytorchcv", "preresnet20_cifar10-0651-76cec68d.pth",
                       "PreActResNet20", output="preresnet20.weights.h5")

The model is built with the builder options the checkpoint's layout needs (its
publisher's record, `keras_preact.weights.publishers`), so it computes what the source model computes, on
the same preprocessed input, and every variable of it comes from the checkpoint.
"""

import io
import os
import re

import numpy as np

from keras_preact.models.registry import get_model, model_arguments
from keras_preact.models.specs import get_spec
from keras_preact.utils.files import atomic_write, atomic_write_bytes
from keras_preact.weights.formats.limits import CheckpointError, read_regular_file, reading, shorten
from keras_preact.weights.publishers import get_publisher

OUTPUT_SUFFIXES = (".keras", ".weights.h5")


def read_source(source, checkpoint):
    """The bytes of a publisher's checkpoint file, unpacked (`Publisher.unpack`: the
    .pth inside pytorchcv's release zip), read within the readers' bounds."""
    with reading(checkpoint, f"{source} checkpoint"):
        return get_publisher(source).unpack(read_regular_file(checkpoint), checkpoint)


def checkpoint_layers(source, checkpoint, model, data=None):
    """Reads a checkpoint and maps it onto the layers of the named model.

    Args:
        source: the publisher, one of `PUBLISHERS` ("torchvision", "timm",
            "pytorchcv", "fb.resnet.torch").
        checkpoint: the checkpoint file.
        model: a model name, e.g. "ResNet50", "PreActResNet20".
        data: the checkpoint's bytes if already read (`read_source`).

    Returns:
        ({Keras layer name: arrays}, the builder options its layout needs).

    Raises:
        ValueError: for an unknown publisher or a model it does not release;
            `CheckpointError` (a ValueError) for a file that is damaged, hostile or
            not such a checkpoint, or whose values no trained network holds.
    """
    publisher = get_publisher(source)
    arch = model_arguments(model)
    if (arch["family"], arch["version"]) not in publisher.models:
        kinds = ", ".join(f"version {v} {f}" for f, v in sorted(publisher.models))
        raise ValueError(
            f"Received: model={model!r} with source={source!r}; {publisher.name} checkpoints hold {kinds} models."
        )
    data = read_source(source, checkpoint) if data is None else data
    contents = publisher.read(data, checkpoint)
    with reading(checkpoint, f"{publisher.name} ResNet checkpoint"):
        try:
            layers, options = publisher.layers(contents, arch)
        except CheckpointError:
            raise
        except ValueError as e:  # the layout's own refusals, said of this file
            raise CheckpointError(checkpoint, str(e)) from None
        check_values(layers, checkpoint)
    return layers, options


def check_values(layers, checkpoint="checkpoint"):
    """Refuses non-finite weights and negative BN variances (a BN layer's fourth array),
    which no trained network holds and which would make every output NaN.

    Raises:
        CheckpointError: naming the layer and the variable.
    """
    for name, arrays in layers.items():
        for index, array in enumerate(arrays):
            if not np.all(np.isfinite(array)):
                raise CheckpointError(
                    checkpoint, f"layer {shorten(name)} variable {index} has non-finite values", "finite weights"
                )
        if "bn" in name and len(arrays) == 4 and np.any(arrays[3] < 0):
            raise CheckpointError(
                checkpoint, f"layer {shorten(name)} has a negative running variance", "variances >= 0"
            )


def _stage_units(layers):
    """(units per stage, convs per unit) of mapped layers, from their names."""
    units, convs = {}, 0
    for name in layers:
        match = re.match(r"stage(\d+)_unit(\d+)_conv(\d+)$", name)
        if match:
            stage, unit, conv = (int(g) for g in match.groups())
            units[stage], convs = max(units.get(stage, 0), unit), max(convs, conv)
    return tuple(units.get(s, 0) for s in range(1, max(units, default=0) + 1)), convs


def check_structure(layers, model, checkpoint="checkpoint"):
    """Checks the checkpoint's stages and units against the named model's depth table,
    before any model is built (a name can ask for a 60,002-layer net).

    Raises:
        CheckpointError: naming the model the checkpoint holds.
    """
    arch = model_arguments(model)
    spec = get_spec(arch["depth"], arch["family"], arch.get("block"))
    units, convs = _stage_units(layers)
    if units == tuple(spec.stage_units) and convs == (3 if spec.block == "bottleneck" else 2):
        return
    held = f"{'PreAct' if arch['version'] == 2 else ''}ResNet{convs * sum(units) + 2}"
    raise CheckpointError(
        checkpoint,
        f"holds units {units} of {convs} convs per stage (like {held}), not {model}'s {tuple(spec.stage_units)}",
        "--model of the checkpoint's depth",
    )


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
        source: the publisher: "torchvision", "timm", "pytorchcv" or
            "fb.resnet.torch" ("torch7", its older name here, is accepted).
        checkpoint: the file: a `.pth` (torchvision; pytorchcv, or its release
            `.pth.zip`; either layout of `torch.save`), a `.safetensors` or `.pth`
            (timm), a `.t7` (fb.resnet.torch).
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
    check_structure(layers, model, checkpoint)
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
        write_model(keras_model, output)
    return keras_model, options


def weights_h5_bytes(model):
    """The bytes of `model.save_weights(...)`'s `.weights.h5` file, built in memory.

    HDF5 does not recover from a write that fails midway (a full disk): h5py keeps
    retrying the flush and crashes the interpreter at exit. Building the file in
    memory, as Keras does for the weights inside a `.keras` archive, leaves the disk
    write to plain Python I/O, whose failure is one clean `OSError`.
    """
    from keras.src.saving import saving_lib  # save_weights_only's own store and walk

    buffer = io.BytesIO()
    store = saving_lib.H5IOStore(buffer, mode="w")
    try:
        saving_lib._save_state(model, weights_store=store, assets_store=None, inner_path="", visited_saveables=set())
    finally:
        store.close()
    return buffer.getvalue()


def save_weights_file(model, path):
    """Writes `model`'s `.weights.h5` file atomically, built in memory first
    (`weights_h5_bytes`): a failed write raises one OSError and leaves no file."""
    atomic_write_bytes(weights_h5_bytes(model), path)


class OutputError(OSError):
    """The converted model could not be written; nothing was left half-written."""


def write_model(model, output):
    """Writes `model` to `output` (".keras": the model; ".weights.h5": its weights)
    atomically: a failed write (a full or read-only disk) leaves no file behind.

    Raises:
        OutputError: one paragraph naming the file and the cause.
    """
    output = os.fspath(output)
    try:
        if output.endswith(".keras"):
            atomic_write(model.save, output)  # Keras builds the archive's HDF5 part in memory
        else:
            save_weights_file(model, output)
    except OSError as e:
        cause = os.strerror(e.errno) if e.errno else shorten(str(e).splitlines()[0] if str(e) else repr(e), 120)
        raise OutputError(
            f"Could not write {output}: {cause}. Nothing was left half-written; free space or fix the "
            "permissions of the folder (or choose another --output), then run the same command again.",
        ) from None
