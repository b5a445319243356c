"""Per-stage feature maps for detection and segmentation: `pyramid_outputs` and
`feature_extractor`, keyed like keras-hub's backbones: level "Pn" is 2^n times smaller
than the input (stride 2^n).

The levels of a model, found by layer name (so `pyramid_outputs(model)` recovers them
from a model loaded from a `.keras` file too):

* ImageNet models: "P1" the stem's ReLU after conv1 (stride 2; conv1 itself with
  `stem_activation="none"`), "P2" ... "P5" the outputs of stages 1-4 (strides 4, 8,
  16, 32), as timm's `features_only` and keras-hub's ResNet backbones;
* CIFAR models: "P0", "P1", "P2" the outputs of stages 1-3 (strides 1, 2, 4): stage 1
  runs at the input's resolution, so by the stride rule it is level 0.

A stage output is that of its last unit, x_{l+1}: for v1 (post-activation) the ReLU
after the addition (`*_out_relu`), for v2 (full pre-activation) the addition itself,
an un-normalised sum (Eqn. 4 of [2]: the next unit's BN-ReLU normalises it). That
holds for the last level too, as in timm's `features_only` (`stages.3`) and keras-hub's
`ResNetBackbone`: the final BN-ReLU of a v2 model (`post_relu`, appendix of [2]), what
the classifier reads, is the output of the model built with `include_top=False`.
"""

import keras

from keras_preact.models.graph import check_model, unit_names
from keras_preact.utils.checks import check_names


def pyramid_layer_names(model):
    """The layer name of each level, {"P1": ..., ...} or {"P0": ..., ...} for CIFAR
    models (see the module docstring).

    Raises:
        ValueError: if `model` is not a `keras.Model` with the layers of a keras_preact
            ResNet.
    """
    units = unit_names(check_model(model))  # "stage1_unit1", ... in order
    if not units:
        raise ValueError(
            f"Received: model {model.name!r}, which has no 'stage<s>_unit<u>_*' layers; expected a "
            "keras_preact ResNet (a builder's model, or one loaded from its file)."
        )
    last_unit_of_stage = {unit.split("_")[0]: unit for unit in units}  # the later unit of a stage wins
    names = [layer.name for layer in model.layers]
    # topological order: a unit's output layer comes after its other layers
    outputs = [[name for name in names if name.startswith(unit + "_")][-1] for unit in last_unit_of_stage.values()]
    if "pool1" not in names:  # CIFAR: stage 1 runs at stride 1, level 0
        return {f"P{level}": name for level, name in enumerate(outputs)}
    # ImageNet: the stem's stride-2 activation is level 1, stage 1 (after the max-pool) level 2
    outputs.insert(0, "conv1_relu" if "conv1_relu" in names else "conv1")
    return {f"P{level}": name for level, name in enumerate(outputs, 1)}


def pyramid_outputs(model):
    """{"P1": symbolic tensor, ...} of `model` (see the module docstring).

    A model built with `include_top=False` carries them as `model.pyramid_outputs`; this
    recovers them from any keras_preact ResNet, with or without its classifier, also one
    loaded from its `.keras` file (which does not keep the attribute).

    Args:
        model: a keras_preact ResNet (a builder's model, or one loaded from its file).

    Raises:
        ValueError: as `pyramid_layer_names`.
    """
    return {level: model.get_layer(name).output for level, name in pyramid_layer_names(model).items()}


def feature_extractor(model, levels=None):
    """A `keras.Model` from `model`'s input to its feature pyramid, as a dict.

    Args:
        model: a keras_preact ResNet, with or without its classifier; built with
            `input_shape=(None, None, 3)` it takes any image size.
        levels: the levels to output, a list such as ["P3", "P4", "P5"] (CIFAR
            models: "P0", "P1", "P2"); None for all.

    Returns:
        A `keras.Model` sharing `model`'s layers and weights, whose output is a dict
        {level: feature map}.

    Raises:
        ValueError: for a `model` that is not a `keras.Model` with the layers of a
            keras_preact ResNet, or `levels` that are not a non-empty list of the
            model's levels (the message lists them).
    """
    outputs = pyramid_outputs(model)
    if levels is not None:
        levels = check_names("levels", levels, sorted(outputs))
        outputs = {level: outputs[level] for level in levels}
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, outputs, name=f"{model.name}_features")
