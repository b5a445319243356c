"""The weights registry the builders read, and fetching a registered file with its
hash checked.

`weights=` of every builder takes None, a registered name, or the path of a Keras
`.weights.h5` file. A registered name resolves to a URL and a SHA-256: the file is
fetched into Keras' cache (`$KERAS_HOME/models`, default `~/.keras/models`) and
verified before use, safely when several processes fetch it at once
(`keras_preact.models.download`), then loaded strictly
(`keras_preact.models.strict_loading`).

The registry is filled from above: `keras_preact.weights` registers the weights the
package ships (and any other source of weights), so that the builders here need not
import it.
"""

import dataclasses
import os
import re

from keras_preact.models.download import cache_lock, cache_path, download, is_intact, remove_temporaries
from keras_preact.models.preprocessing import DATASET_STATS
from keras_preact.utils import lazy
from keras_preact.utils.checks import check_bool, check_choice, check_int, check_type, is_integer, shown
from keras_preact.utils.files import file_sha256

# (model name, weights name) -> WeightsInfo
_REGISTRY = {}


def _registry():
    """The registry, filled on its first read by what the layers above asked for
    (`keras_preact/__init__.py`: the shipped and ported weights, through
    `lazy.on_import(__name__, ...)`), once every module they need has loaded."""
    lazy.imported(__name__)
    return _REGISTRY


# The builder options registered weights may set (`WeightsInfo.builder_options`: the
# layout of their source), and their values when neither the weights nor the caller set
# them: `build_resnet` merges {these, the weights' options, its explicit arguments}.
BUILDER_OPTION_DEFAULTS = {"stem_activation": "shared", "downsample_shortcut": "projection"}


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
        crop_pct: the share of the resized shorter side the center crop keeps
            (timm's `crop_pct`: 224 / 256 for torchvision's 256-then-224); None
            for no resize (the images come at `input_shape`).
        test_size, test_crop_pct, test_accuracy: a larger evaluation size the
            publisher also reports (timm's `test_input_size`), its crop share and
            its published accuracy there; None where none is published.
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
    crop_pct: float = None
    test_size: int = None
    test_crop_pct: float = None
    test_accuracy: str = None
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
        ValueError: if `sha256` is not 64 hex digits, or is missing without `fetch`;
            for a model or name that is not a string, an input shape that is not
            three sizes, a class count below 1, unknown `preprocessing` statistics
            or a `builder_options` key other than those of `BUILDER_OPTION_DEFAULTS`.
    """
    check_type("model", model, str, "a model name")
    check_type("name", name, str, "a weights name")
    if not (
        isinstance(input_shape, (tuple, list))
        and len(input_shape) == 3
        and all(is_integer(d) and d > 0 for d in input_shape)
    ):
        raise ValueError(
            f"Received: input_shape={shown(input_shape)}; expected 3 positive ints (height, width, channels)."
        )
    classes = check_int("classes", classes, minimum=1)
    check_choice("preprocessing", preprocessing, DATASET_STATS)
    for key in details.get("builder_options") or {}:
        check_choice("builder_options key", key, BUILDER_OPTION_DEFAULTS)
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

    Raises:
        ValueError: for a model that is neither None nor a string, or a `details`
            that is not a bool.
    """
    if model is not None:
        check_type("model", model, str, "None or a model name")
    check_bool("details", details)
    keys = sorted(k for k in _registry() if model in (None, k[0]))
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
    return _registry().get((model, name))


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
