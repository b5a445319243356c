"""Locating the residual units of a built keras_preact model.

Every layer of unit U of stage S is named `stageS_unitU_*` (see `keras_preact.models.resnet`),
so a unit is the run of operations with that prefix, and the tensors between units
are the x_l of [2] Eqn. (4)/(5).
"""

import re

import keras

from keras_preact.utils.checks import check_type

_UNIT = re.compile(r"^(stage\d+_unit\d+)_")


def check_model(model, argument="model"):
    """Returns `model` if it is a `keras.Model`.

    Raises:
        ValueError: for anything else (None, a name, a layer), echoing it.
    """
    return check_type(argument, model, keras.Model, "a keras.Model (e.g. keras_preact.PreActResNet20())")


def all_layers(model):
    """Every layer of `model`, and of the models nested in it (a base inside a
    fine-tuning model), depth first."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from all_layers(layer)


def unit_names(model):
    """The unit prefixes ("stage1_unit1", ...) of a keras_preact model, in order."""
    names = []
    for layer in model.layers:
        match = _UNIT.match(layer.name)
        if match and match.group(1) not in names:
            names.append(match.group(1))
    return names


def unit_boundaries(model):
    """The unit names and the symbolic tensors between units: [x_0, x_1, ..., x_L].

    x_0 is the input of the first unit (the stem's output) and x_l the output of
    unit l, i.e. the x_l of [2] Eqn. (4)/(5) for a v2 model (for v1, the ReLU after
    the addition).

    Raises:
        ValueError: if `model` has no `stageS_unitU_*` layers (not a keras_preact model).
    """
    names = unit_names(model)
    if not names:
        raise ValueError(
            f"Received: model {model.name!r} with no stageS_unitU_* layers; expected a keras_preact model."
        )
    ops = list(model.operations)
    first = next(i for i, op in enumerate(ops) if op.name.startswith(names[0] + "_"))
    boundaries = [ops[first - 1].output]
    for name in names:
        last = [op for op in ops if op.name.startswith(name + "_")][-1]
        boundaries.append(last.output)
    return names, boundaries
