"""Mapping released checkpoints onto the builders' layer names: the array transforms
and the state-dict machinery every publisher (`keras_preact.weights.publishers`) uses.

A publisher's checkpoint becomes `{Keras layer name: arrays in the layer's variable
order}` plus the builder options its layout needs beyond `PAPER_LAYOUT`
(docs/pretrained-weights.md compares the layouts). Conversions are exact or refused:
conv kernels are transposed from (out, in, kh, kw) to (kh, kw, in, out), dense kernels
from (out, in) to (in, out), BN keeps its four arrays, and a checkpoint that does not
fit raises `ValueError` naming the first key or layer that does not fit.
"""

import dataclasses
import re

import numpy as np

from keras_preact.weights.formats.limits import CheckpointError

BN_EPSILON = 1e-5
BN_KEYS = ("weight", "bias", "running_mean", "running_var")

# The builder options of the paper's layout; a publisher's layout differs in some of them.
PAPER_LAYOUT = {"stem_activation": "shared", "downsample_shortcut": "projection"}


@dataclasses.dataclass(frozen=True)
class StateDictRules:
    """How a publisher names its modules: [(pattern of a module path, Keras layer name)],
    where "{s}" and "{u}" take the stage and unit and "{k}" the conv or BN number from
    the pattern's groups, counted from `stage_base` / `unit_base` in the checkpoint. A
    pattern ending in "@v2" applies to version-2 (pre-activation) models only."""

    patterns: tuple
    stage_base: int = 1
    unit_base: int = 1

    def layer_name(self, module, version):
        for pattern, template in self.patterns:
            pattern, _, only = pattern.partition("@")
            match = None if only and only != f"v{version}" else re.fullmatch(pattern, module)
            if match:
                values = dict(zip("suk", [int(g) for g in match.groups()]))
                values["s"] = values.get("s", 1) + 1 - self.stage_base
                values["u"] = values.get("u", 1) + 1 - self.unit_base
                return template.format(**values)
        return None


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


def state_dict(contents, path):
    """The state dict of a `torch.save` file's contents: the dict itself, or the one
    under "state_dict" (training checkpoints).

    Raises:
        CheckpointError: if there is none.
    """
    if isinstance(contents, dict) and isinstance(contents.get("state_dict"), dict):
        contents = contents["state_dict"]
    if not isinstance(contents, dict):
        raise CheckpointError(path, f"holds a {type(contents).__name__}", "a state dict of tensors")
    return contents


def state_dict_layers(state, rules, version, publisher="checkpoint"):
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
        name = rules.layer_name(module, version)
        if name is None:
            raise ValueError(
                f"The {publisher} checkpoint has {module!r} ({sorted(params)}), which no layer of a "
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
                f"The {publisher} checkpoint's module {module!r} has {sorted(params)}, which is neither "
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
