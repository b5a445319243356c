"""The publishers of released ResNet checkpoints, one module each, one `Publisher` record
per module: who they are, how their files are read and mapped onto the builders, which
models they release, and the catalogue of their released weights.

Adding a publisher is adding one module here that defines `PUBLISHER` and listing it
in `MODULES`. `WeightsInfo.source` and `keras-preact-convert --source` both name a
publisher ("torchvision", "timm", "pytorchcv", "fb.resnet.torch").
"""

import dataclasses
import importlib

from keras_preact.utils.checks import check_choice

MODULES = ("torchvision", "timm", "pytorchcv", "fb_resnet_torch")
IMAGENET_1K = {"input_shape": (224, 224, 3), "classes": 1000}
# Older names `--source` accepted, for the commands people already wrote down.
ALIASES = {"torch7": "fb.resnet.torch"}


@dataclasses.dataclass(frozen=True)
class Publisher:
    """Everything the package knows of one publisher of checkpoints.

    Attributes:
        name: as `WeightsInfo.source` and `--source` name it, e.g. "torchvision".
        files: what its files are, for help texts ("a .pth (torch.save)").
        license: the license its weights come under, as it states it.
        models: the (family, version) pairs of the models its checkpoints hold.
        unpack: (bytes of a downloaded or given file, its path) -> bytes of the
            checkpoint inside (pytorchcv's release zip holds one .pth); the
            publisher's hash is of these bytes.
        read: (checkpoint bytes, path) -> its contents (a state dict or a tree).
        layers: (contents, model arguments) -> ({Keras layer: arrays}, the builder
            options the layout needs beyond `layout.PAPER_LAYOUT`).
        releases: the `register_weights` arguments of every weight it released.
    """

    name: str
    files: str
    license: str
    models: frozenset
    unpack: object
    read: object
    layers: object
    releases: tuple = ()


def keep(data, path):
    """`Publisher.unpack` of a publisher whose file is the checkpoint itself."""
    return data


def _load():
    publishers = {}
    for module in MODULES:
        publisher = importlib.import_module(f"{__name__}.{module}").PUBLISHER
        publishers[publisher.name] = publisher
    return publishers


PUBLISHERS = _load()


def get_publisher(name):
    """The `Publisher` named `name` (or an older alias of it).

    Raises:
        ValueError: naming the publishers.
    """
    name = ALIASES.get(name, name) if isinstance(name, str) else name
    check_choice("source", name, tuple(PUBLISHERS))
    return PUBLISHERS[name]
