"""Strict loading of Keras `.weights.h5` files: a file that fits a model only in part
is refused instead of leaving layers at their initial weights.

Keras itself rejects a file that lacks a layer or has a variable of another shape;
`load_weights_strict` also rejects a file that holds layers the model does not have
(Keras would skip those silently) or lacks a nested container of layers (Keras would
only warn). Nothing here turns Keras' safe mode off.
"""

import re
import warnings

import h5py


def _snake_case(name):
    # The keys Keras gives layers in a weights file (keras.src.utils.naming.to_snake_case).
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def weights_file_keys(model):
    """Maps the key each layer has in a `.weights.h5` file to the layer's name.

    Keras addresses layers in weights files by class name and position
    ("conv2d_3"), not by layer name.
    """
    keys, used = {}, {}
    for layer in model.layers:
        base = _snake_case(type(layer).__name__)
        count = used.get(base, 0)
        used[base] = count + 1
        keys[base if count == 0 else f"{base}_{count}"] = layer.name
    return keys


def _file_layers_with_variables(path):
    with h5py.File(path, "r") as f:
        group = f.get("layers", {})
        found = {}
        for key in group:
            shapes = []
            group[key].visititems(
                lambda n, obj: shapes.append((n, obj.shape)) if isinstance(obj, h5py.Dataset) else None
            )
            if shapes:
                found[key] = shapes
        return found


# The key of the classifier (the networks' only Dense layer) in a weights file.
CLASSIFIER_KEY = "dense"


# The start of the warning Keras gives for each nested container of a model that a
# weights file lacks (keras.src.saving.saving_lib._load_container_state).
SKIPPED_CONTAINER_WARNING = "Skipping nested container"


def _load_holding_back_skipped_containers(model, path):
    """`model.load_weights(path)` with Keras' "Skipping nested container" warnings held
    back instead of shown; every other warning passes through as usual.

    A file of another architecture draws dozens (one per depth of the graph) before
    Keras' error; a file that loads with one leaves layers at their initial weights.

    Returns:
        The held-back messages.
    """
    held, show = [], warnings.showwarning

    def hold(message, category, *args, **kwargs):
        if issubclass(category, UserWarning) and str(message).startswith(SKIPPED_CONTAINER_WARNING):
            held.append(str(message))
        else:
            show(message, category, *args, **kwargs)

    with warnings.catch_warnings():
        warnings.filterwarnings("always", message=SKIPPED_CONTAINER_WARNING, category=UserWarning)
        warnings.showwarning = hold
        model.load_weights(path)
    return held


def load_weights_strict(model, path, skip_classifier=False):
    """Loads a `.weights.h5` file into `model`, refusing any partial load.

    Args:
        model: the model to load into.
        path: the weights file.
        skip_classifier: True to load a file with a classifier into a model built
            with `include_top=False` (the file's classifier is left out).

    Raises:
        ValueError: if the file is not a Keras weights file, holds layers the model
            lacks, or lacks layers / nested containers of layers / has variables of
            other shapes than the model (the message names the layer). Keras' warnings
            about skipped nested containers are not shown.
    """
    try:
        in_file = _file_layers_with_variables(path)
    except OSError as e:
        raise ValueError(f"Received: weights={path!r}, which is not a Keras weights file: {e}") from None
    expected = weights_file_keys(model)
    extra = sorted(set(in_file) - set(expected) - ({CLASSIFIER_KEY} if skip_classifier else set()))
    if extra:
        raise ValueError(
            f"Received: weights={path!r}, a file of another architecture: it holds "
            f"{len(extra)} layer(s) that {model.name!r} does not have, e.g. {extra[0]!r} with "
            f"variables {in_file[extra[0]]}."
        )
    try:
        skipped = _load_holding_back_skipped_containers(model, path)
    except ValueError as e:
        raise ValueError(f"Received: weights={path!r}, a file that does not fit {model.name!r}: {e}") from None
    if skipped:
        raise ValueError(
            f"Received: weights={path!r}, a file that does not fit {model.name!r}: it lacks "
            f"{len(skipped)} nested container(s) of layers, which would keep their initial weights. "
            f"Keras: {skipped[0]}"
        )
