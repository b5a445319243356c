"""A faster first `fit` step: `prepare_fit` builds, from the model's known output spec,
what Keras' `fit` would otherwise build by tracing the whole model once more.

Before its first step, Keras' `fit` (and `train_on_batch`, `evaluate`) runs
`_symbolic_build`: if the compiled loss or metrics are not built yet it traces the model
symbolically on a batch to get the prediction's spec, then builds the optimizer. The
step function is traced after that. For a 1001-layer network that symbolic pass is a
large part of the time to the first step. A functional model knows its output spec
already; `prepare_fit(model, x, y)` builds the loss, metrics and optimizer from it, so
`fit` finds everything built and traces the model once, in the step.

For the step itself, TensorFlow users save more with the package's SGD
(`keras_preact.training.optimizers.SGD`: Keras' SGD, with one op per variable), which
is what the package's trainer uses (docs/using-the-models.md has the figures).
"""

import contextlib

import keras
from keras import tree
from keras.src import backend  # compute_output_spec: what Keras' own _symbolic_build calls

from keras_preact.models.graph import check_model
from keras_preact.utils.checks import shown


def _symbolic(value):
    """The spec of one batch, its batch axis unknown; None for what is not a batch of
    numbers (a string, an object, a scalar)."""
    try:
        value = keras.ops.convert_to_tensor(value) if not hasattr(value, "shape") else value
        dtype = backend.standardize_dtype(value.dtype)
    except Exception:  # whatever the backend raises for strings, ragged lists, objects
        return None
    if len(value.shape) < 1 or dtype in ("string", "object"):
        return None
    return keras.KerasTensor((None, *value.shape[1:]), dtype)


def _batch_spec(argument, value):
    """The symbolic spec of a batch, or of a list or dict of batches.

    Raises:
        ValueError: for a value that is not arrays or tensors of numbers with a batch
            axis (None included: `x` is required).
    """
    specs = [_symbolic(leaf) for leaf in tree.flatten(value)]
    if not specs or any(spec is None for spec in specs):
        raise ValueError(
            f"Received: {argument}={shown(value)}; expected a batch of numbers (an array or tensor "
            "with a batch axis), or a list or dict of them for a model with several inputs or outputs."
        )
    return tree.pack_sequence_as(value, specs)


def _check_input(model, x):
    """Raises ValueError unless a single-tensor `x` fits the model's single input."""
    expected = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
    if expected is None or not isinstance(x, keras.KerasTensor):
        return
    if len(expected) != len(x.shape) - 1 or any(a not in (None, b) for a, b in zip(expected, x.shape[1:])):
        raise ValueError(f"Received: x of shape {tuple(x.shape)}; {model.name!r} takes (batch, *{expected}).")


def prepare_fit(model, x, y, sample_weight=None):
    """Builds a compiled model's loss, metrics and optimizer for batches like (x, y).

    Call it after `model.compile(...)` and before `fit`: the first step then traces the
    model once instead of twice. Only the shapes and dtypes of `x`, `y` and
    `sample_weight` are read (one batch, or the whole arrays).

    Returns:
        The model.

    Raises:
        ValueError: if `model` is not a compiled `keras.Model`, `x`, `y` or
            `sample_weight` are not batches of numbers (`y` and `sample_weight` may
            be None), or `x` does not fit the model's input.
    """
    check_model(model)
    if not getattr(model, "compiled", False) or model.optimizer is None:
        raise ValueError(f"Received: model {model.name!r}, which is not compiled; call model.compile(...) first.")
    x = _batch_spec("x", x)
    y = None if y is None else _batch_spec("y", y)
    sample_weight = None if sample_weight is None else _batch_spec("sample_weight", sample_weight)
    _check_input(model, x)
    y_pred = tree.map_structure(lambda t: keras.KerasTensor((None, *t.shape[1:]), t.dtype), model.outputs)
    y_pred = y_pred[0] if len(model.outputs) == 1 else y_pred
    backend.compute_output_spec(model.compute_metrics, x, y, y_pred, sample_weight=sample_weight)
    backend.compute_output_spec(model.compute_loss, x, y, y_pred, sample_weight=sample_weight, training=False)
    if not model.optimizer.built:
        with _strategy_scope(model):  # the slots beside the variables, as fit builds them
            model.optimizer.build(model.trainable_variables)
    return model


def _strategy_scope(model):
    """The scope of the model's `tf.distribute` strategy on TensorFlow; elsewhere (JAX,
    PyTorch models have no `distribute_strategy`) an empty context, as Keras' own
    `_symbolic_build` builds the optimizer there."""
    strategy = getattr(model, "distribute_strategy", None)
    return strategy.scope() if strategy is not None else contextlib.nullcontext()
