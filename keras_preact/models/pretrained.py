"""The weights registry the builders read, fetching with a hash check, and strict loading.

`weights=` of every builder takes None, a registered name, or the path of a Keras
`.weights.h5` file. A registered name resolves to a URL and a SHA-256: the file is
fetched into Keras' cache (`$KERAS_HOME/models`, default `~/.keras/models`) and
verified before use, safely when several processes fetch it at once
(`keras_preact.models.download`). Loading is strict in both directions:
Keras itself rejects a file that lacks a layer or has a variable of another shape, and
`load_weights_strict` also rejects a file that holds layers the model does not have
(Keras would skip those silently) or lacks a nested container of layers (Keras would
only warn). Nothing here turns Keras' safe mode off.

The registry is filled from above: `keras_preact.weights` registers the weights the
package ships (and any other source of weights), so that the builders here need not
import it.
"""

import dataclasses
import os
import re
import warnings

import h5py

from keras_preact.models.download import cache_lock, cache_path, download, is_intact, remove_temporaries
from keras_preact.models.preprocessing import DATASET_STATS
from keras_preact.utils.files import file_sha256

# (model name, weights name) -> WeightsInfo
_REGISTRY = {}


@dataclasses.dataclass(frozen=True)
class WeightsInfo:
    """A registered weights file.

    Attributes:
        model: the registered model name it belongs to, e.g. "PreActResNet20".
        name: the name passed as `weights=`, e.g. "fashion_mnist".
        url: where to fetch it (https://, http:// or file://): the Keras file, or
            for ported weights the source's own checkpoint.
        sha256: hex SHA-256 of the Keras file; None for ported weights, whose
            Keras file is converted on this machine.
        input_shape: the (height, width, channels) it was trained on; the
            channel count must match, the spatial size is a default.
        classes: classifier outputs.
        preprocessing: the `preprocess_input` dataset (statistics) its inputs need.
        source: who trained and released the weights ("keras_preact",
            "torchvision", "timm", "pytorchcv", "fb.resnet.torch").
        source_hash: ported weights: the publisher's hash of the source file,
            "sha256:<prefix>" or "sha1:<hex>"; None where none is published.
        license: the license of the weights as their publisher states it.
        published_accuracy: the accuracy the publisher reports (theirs, not
            measured here).
        builder_options: the builder arguments the weights need beyond the model's
            defaults, applied when the weights are named (e.g. stem_activation).
        resize_size, interpolation: the evaluation resize the publisher states
            (the shorter side, before a center crop to `input_shape`); None if
            not stated.
        fetch: None to download `url` and check `sha256`; else a function of this
            `WeightsInfo` returning the local path of a verified Keras weights file
            (set for ported weights by `keras_preact.weights`).
    """

    model: str
    name: str
    url: str
    sha256: str
    input_shape: tuple
    classes: int
    preprocessing: str
    source: str = "keras_preact"
    source_hash: str = None
    license: str = None
    published_accuracy: str = None
    builder_options: dict = dataclasses.field(default_factory=dict)
    resize_size: int = None
    interpolation: str = None
    fetch: object = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def mean(self):
        """Per-channel mean its inputs are normalised with, on the 0-255 scale."""
        return DATASET_STATS[self.preprocessing][0]

    @property
    def std(self):
        """Per-channel standard deviation its inputs are divided by, on the 0-255 scale."""
        return DATASET_STATS[self.preprocessing][1]

    @property
    def filename(self):
        return f"{self.model.lower()}_{self.name}_{self.sha256[:12]}.weights.h5"


def register_weights(model, name, *, url, sha256=None, input_shape, classes, preprocessing, fetch=None, **details):
    """Registers weights so that `<model>(weights=name)` finds them.

    Args:
        model, name, url, sha256, input_shape, classes, preprocessing, fetch: the
            `WeightsInfo` fields; `sha256` is required unless `fetch` is given.
        **details: the other `WeightsInfo` fields (source, license, ...).

    Raises:
        ValueError: if `sha256` is not 64 hex digits, or is missing without `fetch`.
    """
    if fetch is None or sha256 is not None:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", str(sha256)):
            raise ValueError(f"Received: sha256={sha256!r}; expected 64 hexadecimal digits.")
        sha256 = sha256.lower()
    info = WeightsInfo(
        model, name, url, sha256, tuple(input_shape), int(classes), preprocessing, fetch=fetch, **details
    )
    _REGISTRY[(model, name)] = info
    return info


def unregister_weights(model, name):
    """Removes a registration (no error if absent)."""
    _REGISTRY.pop((model, name), None)


def list_weights(model=None, details=False):
    """The registered weights.

    Args:
        model: a model name for its weights only, or None for all.
        details: False for names (of one model) or (model, name) pairs (of all);
            True for their `WeightsInfo` (source, license, published accuracy, ...).
    """
    keys = sorted(k for k in _REGISTRY if model in (None, k[0]))
    if details:
        return [_REGISTRY[k] for k in keys]
    return [n for _, n in keys] if model is not None else keys


def get_weights_info(model, name):
    """The `WeightsInfo` registered as `name` for `model`, or None.

    Raises:
        ValueError: if `model` or `name` is not a string.
    """
    for argument, value in (("model", model), ("name", name)):
        if not isinstance(value, str):
            raise ValueError(
                f"Received: {argument}={value!r}; expected a string, e.g. "
                "get_weights_info('PreActResNet20', 'fashion_mnist') (list_weights() lists them)."
            )
    return _REGISTRY.get((model, name))


def _check_sha256(path, info):
    digest = file_sha256(path)
    if digest != info.sha256:
        raise ValueError(
            f"The weights {info.name!r} of {info.model} downloaded from {info.url} do not match their SHA-256 "
            f"{info.sha256} (found {digest})."
        )


def fetch_weights(info):
    """Finds a registered file in the cache or downloads it, checking its SHA-256;
    safe when processes fetch it at once (`keras_preact.models.download`).

    Returns:
        The local path of the verified file. Ported weights (`info.fetch` set) are
        fetched, checked and converted by `info.fetch`.

    Raises:
        OSError: if the URL cannot be read (offline, missing file, timeout, incomplete).
        ValueError: if the file's SHA-256 differs from the registered one (twice).
    """
    if info.fetch is not None:
        return info.fetch(info)
    target = cache_path(info.filename)
    if is_intact(target, info.sha256):
        return target
    with cache_lock(target):
        if not is_intact(target, info.sha256):
            remove_temporaries(os.path.dirname(target), {info.filename})  # of a killed process
            download(
                info.url,
                target,
                what=f"the weights {info.name!r} of {info.model}",
                hint="Without network access, copy the file to this machine, check that its SHA-256 "
                f"is {info.sha256}, and pass its path: weights='/path/to/file.weights.h5'.",
                check=lambda path: _check_sha256(path, info),
            )
    return target


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
