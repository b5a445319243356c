"""fb.resnet.torch pre-activation models, read from the module tree of a `.t7` file.

The tree of `models/preresnet.lua` (ImageNet):

    nn.Sequential
      conv 7x7/2, BN, ReLU, SpatialMaxPooling 3x3/2       -> conv1, conv1_bn
      4 x nn.Sequential of units (the stages)
        unit: nn.Sequential [BN, ReLU]? (ConcatTable (residual, shortcut)), CAddTable
          residual: nn.Sequential [BN, ReLU]? conv, BN, ReLU, conv, (BN, ReLU, conv)
          shortcut: nn.Identity, or a conv, or nn.Sequential (conv, [BN]?)
      [nn.Copy], BN, ReLU, SpatialAveragePooling, View, Linear -> post_bn, predictions

A unit's pre-activation sits either before the split ("both_preact": both paths read
it) or at the start of the residual branch (the shortcut reads the unit input). The
current code gives the paper's layout: the first unit takes the stem's activation,
the first unit of later stages pre-activates before the split, the others inside the
branch, and projections have no BN. The code of April 2016, in which the released
`resnet-200.t7` was trained, pre-activates every unit inside its branch and follows
each projection with BN. Which layout a file has is read from the file, and the
builder options that reproduce it exactly are returned with its weights.

Modules are named by class (`nn.`, `cudnn.` or `fbnn.` prefixes alike). Convolutions
must have no bias or a zero bias. A BN with more features than its input channels (the
April 2016 typo `SBatchNorm(n * 4)` after the 3x3 conv) uses its first channels, as
Torch's kernels did.
"""

import numpy as np

from keras_preact.weights.formats.torch7 import TorchObject
from keras_preact.weights.layout import BN_EPSILON, conv_kernel, dense_weights

APRIL_2016_LAYOUT = {"stem_activation": "separate", "downsample_shortcut": "input_projection"}
SKIPPED = ("ReLU", "SpatialMaxPooling", "SpatialAveragePooling", "View", "Copy", "Dropout", "Reshape")


def _kind(module):
    name = module.class_name.rsplit(".", 1)[-1] if isinstance(module, TorchObject) else type(module).__name__
    if name.startswith("SpatialConvolution"):
        return "conv"
    if name.endswith("BatchNormalization"):
        return "bn"
    return {"Linear": "linear", "Sequential": "sequential", "ConcatTable": "concat", "CAddTable": "add"}.get(
        name, "identity" if name == "Identity" else ("skip" if name in SKIPPED else name)
    )


def _children(module):
    modules = module.get("modules") or {}
    return [modules[i] for i in sorted(modules)]


def _conv(module, path):
    bias = module.get("bias")
    if bias is not None and np.size(bias) and np.any(bias != 0):
        raise ValueError(f"{path}: the conv has a non-zero bias, which the builders' bias-free convs cannot hold.")
    weight = np.asarray(module["weight"], "float32")
    if weight.ndim == 2:  # SpatialConvolutionMM keeps (out, in * kh * kw)
        weight = weight.reshape(module["nOutputPlane"], module["nInputPlane"], module["kH"], module["kW"])
    return [conv_kernel(weight)], weight.shape[0]


def _bn(module, channels):
    mean = np.asarray(module["running_mean"], "float32")
    if module.get("running_var") is not None:
        var = np.asarray(module["running_var"], "float32")
    else:  # nn before 2016 kept 1 / sqrt(var + eps); a variance of 0 may round below it
        std = np.asarray(module["running_std"], "float32")
        var = np.maximum(1.0 / np.square(std) - module.get("eps", BN_EPSILON), 0.0)
    arrays = [module["weight"], module["bias"], mean, var]
    return [np.asarray(a, "float32")[:channels] for a in arrays]


def _unit(unit, path):
    """(pre-activation position, residual layers, shortcut layers) of one unit."""
    parts = [m for m in _children(unit) if _kind(m) != "skip"]
    preact = None
    if parts and _kind(parts[0]) == "bn":
        preact, parts = ("block", parts[0]), parts[1:]
    if [_kind(m) for m in parts] != ["concat", "add"]:
        raise ValueError(f"{path}: expected [BN, ReLU]? ConcatTable, CAddTable; found {[_kind(m) for m in parts]}.")
    residual, shortcut = _children(parts[0])
    branch = [m for m in _children(residual) if _kind(m) != "skip"]
    if branch and _kind(branch[0]) == "bn":
        if preact is not None:
            raise ValueError(f"{path}: the unit pre-activates twice.")
        preact, branch = ("residual", branch[0]), branch[1:]
    shortcut_modules = _children(shortcut) if _kind(shortcut) == "sequential" else [shortcut]
    return preact, branch, [m for m in shortcut_modules if _kind(m) not in ("identity", "skip")]


def _unit_layers(prefix, preact, branch, shortcut, channels, path):
    layers = {}
    if preact is not None:
        layers[f"{prefix}_preact_bn"] = _bn(preact[1], channels)
    conv_count = 0
    for module in branch:
        if _kind(module) == "conv":
            conv_count += 1
            layers[f"{prefix}_conv{conv_count}"], channels = _conv(module, path)
        elif _kind(module) == "bn":
            layers[f"{prefix}_bn{conv_count + 1}"] = _bn(module, channels)
        else:
            raise ValueError(f"{path}: unexpected {module.class_name} in the residual branch.")
    if shortcut:
        layers[f"{prefix}_shortcut_conv"], out = _conv(shortcut[0], path)
        if len(shortcut) > 1:
            layers[f"{prefix}_shortcut_bn"] = _bn(shortcut[1], out)
    return layers, channels


def _layout(units):
    """The builder options of the units' layout, or ValueError if it is neither."""
    where = [preact[0] if preact else None for preact, _, _ in units]
    projection = [len(shortcut) for _, _, shortcut in units]  # 0 identity, 1 conv, 2 conv and BN
    if (
        where[0] is None
        and all(w == ("block" if p else "residual") for w, p in zip(where[1:], projection[1:]))
        and set(projection) <= {0, 1}
    ):
        return {}  # the paper's: no options beyond the defaults
    if all(w == "residual" for w in where) and set(projection) <= {0, 2}:
        return APRIL_2016_LAYOUT
    raise ValueError(
        "The Torch7 model's units fit neither fb.resnet.torch layout: the paper's (the first unit takes the stem's "
        "activation, projections read the pre-activation, no BN after them) nor the April 2016 one (every unit "
        "pre-activates inside its residual branch, projections have BN). Found pre-activations "
        f"{where[:4]}... and shortcut layers {projection[:4]}..."
    )


def torch7_layers(model):
    """Maps a fb.resnet.torch pre-activation model (the root `TorchObject`) onto the
    builders' layer names.

    Returns:
        ({Keras layer name: arrays}, the builder options of the file's layout).

    Raises:
        ValueError: if the tree is not such a model (the message names the module).
    """
    if not isinstance(model, TorchObject) or _kind(model) != "sequential":
        raise ValueError("The Torch7 file does not hold an nn.Sequential model.")
    layers, units, channels, stage = {}, [], 3, 0
    for index, module in enumerate(_children(model), 1):
        kind, path = _kind(module), f"model[{index}] ({getattr(module, 'class_name', '?')})"
        if kind == "conv" and "conv1" not in layers:
            layers["conv1"], channels = _conv(module, path)
        elif kind == "bn":
            layers["post_bn" if stage else "conv1_bn"] = _bn(module, channels)
        elif kind == "sequential":
            stage += 1
            for u, unit in enumerate(_children(module), 1):
                parsed = _unit(unit, f"{path}[{u}]")
                units.append(parsed)
                unit_layers, channels = _unit_layers(f"stage{stage}_unit{u}", *parsed, channels, f"{path}[{u}]")
                layers.update(unit_layers)
        elif kind == "linear":
            layers["predictions"] = dense_weights(np.asarray(module["weight"]), np.asarray(module["bias"]))
        elif kind != "skip":
            raise ValueError(f"{path}: unexpected module in a fb.resnet.torch ResNet.")
    if not units:
        raise ValueError("The Torch7 model has no residual units.")
    return layers, dict(_layout(units))
