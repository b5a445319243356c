"""The released checkpoints' layouts, mapped onto the builders' layer names.

Each source turns its checkpoint into `{Keras layer name: arrays in the layer's
variable order}` and the builder options its layout needs (docs/pretrained-weights.md
compares the layouts):

* "torchvision": `torchvision.models.resnet*` state dicts (v1, ImageNet): the
  builders' v1 layout, stride on the 3x3 conv.
* "timm": `timm` ResNetV2 (`resnetv2_50`, `resnetv2_101`; v2, ImageNet). Its stem has
  no BN and the first unit pre-activates after the max-pool: `stem_activation="none"`.
* "pytorchcv": `resnet*_cifar*` (v1) and `preresnet*_cifar*` (v2) state dicts. Its
  PreResNets' stem is conv1 alone and the first unit pre-activates itself. Where that
  unit has a projection (the bottleneck nets) that equals the paper's stem, and its
  BN loads as "conv1_bn"; where it has an identity shortcut (the basic nets), which
  then carries conv1's raw output, the model needs `stem_activation="none"`.
* "torch7": fb.resnet.torch's `preresnet.lua` models, read from the module tree the
  file holds. Its current code is the paper's layout; the code of April 2016, in which
  the released ResNet-200 was trained, pre-activates every unit inside its residual
  branch and puts BN after projections that read the unit input
  (`stem_activation="separate"`, `downsample_shortcut="input_projection"`).

Conversions are exact or refused: conv kernels are transposed from (out, in, kh, kw)
to (kh, kw, in, out), dense kernels from (out, in) to (in, out), BN keeps its four
arrays, and a checkpoint that does not fit the model raises `ValueError` naming the
first key or layer that does not fit.
"""

import re

import numpy as np

from keras_preact.weights.formats import safetensors, torch7, torch_pickle
from keras_preact.weights.formats.limits import CheckpointError

BN_EPSILON = 1e-5
BN_KEYS = ("weight", "bias", "running_mean", "running_var")

# source -> [(pattern of a module path, Keras layer name)]; "{s}" and "{u}" take the
# 1-based stage and unit, "{k}" the conv or BN number, from the pattern's groups.
STATE_DICT_RULES = {
    "torchvision": [
        (r"conv1", "conv1"),
        (r"bn1", "conv1_bn"),
        (r"layer(\d)\.(\d+)\.conv(\d)", "stage{s}_unit{u}_conv{k}"),
        (r"layer(\d)\.(\d+)\.bn(\d)", "stage{s}_unit{u}_bn{k}"),
        (r"layer(\d)\.(\d+)\.downsample\.0", "stage{s}_unit{u}_shortcut_conv"),
        (r"layer(\d)\.(\d+)\.downsample\.1", "stage{s}_unit{u}_shortcut_bn"),
        (r"fc", "predictions"),
    ],
    "timm": [
        (r"stem\.conv", "conv1"),
        (r"stages\.(\d)\.blocks\.(\d+)\.norm1", "stage{s}_unit{u}_preact_bn"),
        (r"stages\.(\d)\.blocks\.(\d+)\.conv(\d)", "stage{s}_unit{u}_conv{k}"),
        (r"stages\.(\d)\.blocks\.(\d+)\.norm(\d)", "stage{s}_unit{u}_bn{k}"),
        (r"stages\.(\d)\.blocks\.(\d+)\.downsample\.conv", "stage{s}_unit{u}_shortcut_conv"),
        (r"norm", "post_bn"),
        (r"head\.fc", "predictions"),
    ],
    "pytorchcv": [
        (r"features\.init_block(?:\.conv)?", "conv1"),
        (r"features\.init_block\.bn", "conv1_bn"),
        (r"features\.stage(\d)\.unit(\d+)\.body\.conv1\.bn@v2", "stage{s}_unit{u}_preact_bn"),
        (r"features\.stage(\d)\.unit(\d+)\.body\.conv(\d)\.conv", "stage{s}_unit{u}_conv{k}"),
        (r"features\.stage(\d)\.unit(\d+)\.body\.conv(\d)\.bn", "stage{s}_unit{u}_bn{k}"),
        (r"features\.stage(\d)\.unit(\d+)\.identity_conv(?:\.conv)?", "stage{s}_unit{u}_shortcut_conv"),
        (r"features\.stage(\d)\.unit(\d+)\.identity_conv\.bn", "stage{s}_unit{u}_shortcut_bn"),
        (r"features\.post_activ\.bn", "post_bn"),
        (r"output", "predictions"),
    ],
}

SOURCES = ("torchvision", "timm", "pytorchcv", "torch7")


def conv_kernel(weight):
    """(out, in, kh, kw) -> Keras' (kh, kw, in, out)."""
    return np.ascontiguousarray(np.transpose(weight, (2, 3, 1, 0)), "float32")


def dense_weights(weight, bias):
    """A Linear (out, in) or 1x1 conv (out, in, 1, 1) -> Keras' (in, out) and bias."""
    weight = weight.reshape(weight.shape[0], -1)
    return [np.ascontiguousarray(weight.T, "float32"), np.asarray(bias, "float32")]


def bn_weights(params):
    """gamma, beta, moving mean, moving variance as float32."""
    return [np.asarray(params[k], "float32") for k in BN_KEYS]


def read_checkpoint(source, path):
    """The checkpoint's contents: a dict of name -> array, or Torch7's module tree."""
    if source == "torch7":
        return torch7.load(path)
    if source == "timm" and str(path).endswith(".safetensors"):
        return safetensors.load(path)
    state = torch_pickle.load(path)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(path, f"holds a {type(state).__name__}", "a state dict of tensors")
    return state


def _rename(source, module, version):
    for pattern, template in STATE_DICT_RULES[source]:
        pattern, _, only = pattern.partition("@")
        if only and only != f"v{version}":
            continue
        match = re.fullmatch(pattern, module)
        if match:
            values = dict(zip("suk", [int(g) for g in match.groups()]))
            if "u" in values and source != "pytorchcv":
                values["u"] += 1  # torchvision and timm count blocks from 0
            if "s" in values and source == "timm":
                values["s"] += 1
            return template.format(**values)
    return None


def state_dict_layers(source, state, version):
    """Groups a state dict by module and maps each module to its Keras layer.

    Returns:
        {Keras layer name: arrays in Keras' variable order}.

    Raises:
        ValueError: for a key no rule of the source maps, or a module whose
            parameters are neither a conv, a BN nor a classifier.
    """
    modules = {}
    for key, array in state.items():
        module, _, param = key.rpartition(".")
        modules.setdefault(module, {})[param] = np.asarray(array)
    layers = {}
    for module, params in modules.items():
        name = _rename(source, module, version)
        if name is None:
            raise ValueError(
                f"The {source} checkpoint has {module!r} ({sorted(params)}), which no layer of a "
                f"version-{version} ResNet maps to."
            )
        if set(BN_KEYS) <= set(params):
            layers[name] = bn_weights(params)
        elif "bias" in params and name == "predictions":
            layers[name] = dense_weights(params["weight"], params["bias"])
        elif set(params) == {"weight"} and params["weight"].ndim == 4:
            layers[name] = [conv_kernel(params["weight"])]
        else:
            raise ValueError(
                f"The {source} checkpoint's module {module!r} has {sorted(params)}, which is neither "
                "a bias-free conv, a BN nor the classifier."
            )
    return layers


def share_stem_activation(layers):
    """Moves the first unit's pre-activation BN to the stem ("conv1_bn"): exact for a
    pre-activation net whose first unit has a projection shortcut and no max-pool
    between conv1 and that BN (the model's own check, `fits_shared_stem`)."""
    layers = dict(layers)
    layers["conv1_bn"] = layers.pop("stage1_unit1_preact_bn")
    return layers
