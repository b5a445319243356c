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

import keras
from keras import tree
from keras.src import backend  # compute_output_spec: what Keras' own _symbolic_build calls


def _symbolic(value):
    value = keras.ops.convert_to_tensor(value) if not hasattr(value, "shape") else value
    return keras.KerasTensor((None, *value.shape[1:]), backend.standardize_dtype(value.dtype))


def prepare_fit(model, x, y, sample_weight=None):
    """Builds a compiled model's loss, metrics and optimizer for batches like (x, y).

    Call it after `model.compile(...)` and before `fit`: the first step then traces the
    model once instead of twice. Only the shapes and dtypes of `x`, `y` and
    `sample_weight` are read (one batch, or the whole arrays).

    Returns:
        The model.

    Raises:
        ValueError: if the model is not compiled, or `x` does not fit its input.
    """
    if not getattr(model, "compiled", False) or model.optimizer is None:
        raise ValueError(f"Received: model {model.name!r}, which is not compiled; call model.compile(...) first.")
    x, y, sample_weight = (None if v is None else tree.map_structure(_symbolic, v) for v in (x, y, sample_weight))
    expected = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
    if expected is not None and (
        len(expected) != len(x.shape) - 1 or any(a not in (None, b) for a, b in zip(expected, x.shape[1:]))
    ):
        raise ValueError(f"Received: x of shape {tuple(x.shape)}; {model.name!r} takes (batch, *{expected}).")
    y_pred = tree.map_structure(lambda t: keras.KerasTensor((None, *t.shape[1:]), t.dtype), model.outputs)
    y_pred = y_pred[0] if len(model.outputs) == 1 else y_pred
    backend.compute_output_spec(model.compute_metrics, x, y, y_pred, sample_weight=sample_weight)
    backend.compute_output_spec(model.compute_loss, x, y, y_pred, sample_weight=sample_weight, training=False)
    if not model.optimizer.built:
        with model.distribute_strategy.scope():  # the slots beside the variables, as fit builds them
            model.optimizer.build(model.trainable_variables)
    return model
