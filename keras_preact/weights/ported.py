"""Weights ported from released checkpoints: the registry entries, and fetching them.

`weights="imagenet"` (and "cifar10", "cifar100", and source-qualified names such as
"torchvision_imagenet1k_v2") on a named builder resolves here. On first use the
source's own file is downloaded into Keras' cache (`$KERAS_HOME/models`), checked
against the hash its publisher gives, read and converted (`convert.checkpoint_layers`),
and the Keras `.weights.h5` file is cached with its SHA-256 beside it (`<file>.sha256`);
the source file is not kept. A download that fails its hash or cannot be read (cut
short) is fetched once more. Later uses load the cached file once its SHA-256 matches.
Processes converting the same weights at once take turns on the entry's lock
(`keras_preact.models.download`). Nothing from a downloaded file is run
(`keras_preact.weights.formats`).

The catalogue is the publishers' (`keras_preact.weights.publishers`: each entry states
the publisher's accuracy, theirs and not measured here, the license, and the evaluation
preprocessing); this module is the machinery. docs/pretrained-weights.md is the table.
"""

import hashlib
import os

from keras_preact.models.download import cache_lock, cache_path, download, is_intact, remove_temporaries
from keras_preact.models.pretrained import register_weights
from keras_preact.models.registry import get_model
from keras_preact.utils.files import remove_quietly, write_sha256_sidecar
from keras_preact.weights.convert import assign_layers, checkpoint_layers, read_source, save_weights_file
from keras_preact.weights.layout import PAPER_LAYOUT
from keras_preact.weights.publishers import PUBLISHERS


def converted_filename(info):
    return f"{info.model.lower()}_{info.source.replace('.', '_')}_{os.path.basename(info.url)}.weights.h5"


def source_filename(info):
    return f"{info.source.replace('.', '_')}_{info.model.lower()}_{os.path.basename(info.url)}"


def convert_command(info, path="FILE"):
    """The `keras-preact-convert` command for a user who has the source file."""
    return (
        f"keras-preact-convert --source {info.source} --checkpoint {path} --model {info.model} "
        f"--output {info.model.lower()}_{info.name}.weights.h5"
    )


def _check_source_hash(info, data):
    """Checks the checkpoint's bytes against the hash its publisher gives, if any
    ("sha256:<prefix>" for torchvision, "sha1:<hex>" of the .pth for pytorchcv)."""
    if info.source_hash is None:
        return
    algorithm, _, expected = info.source_hash.partition(":")
    digest = hashlib.new(algorithm, data).hexdigest()
    if not digest.startswith(expected):
        raise ValueError(
            f"The file downloaded from {info.url} for the weights {info.name!r} of {info.model} does not match "
            f"its publisher's hash {info.source_hash} (found {digest})."
        )


def _read_download(info, downloaded):
    """The layers and layout options of a downloaded source file (`download`'s check).

    Raises:
        ValueError: if the file fails its publisher's hash or cannot be read (cut
            short, say), which makes `download` fetch it again.
    """
    try:
        data = read_source(info.source, downloaded)  # pytorchcv's zip: the .pth inside
    except ValueError as e:
        raise _unreadable(info, e) from None
    _check_source_hash(info, data)
    try:
        return checkpoint_layers(info.source, downloaded, info.model, data=data)
    except ValueError as e:
        raise _unreadable(info, e) from None


def _unreadable(info, error):
    return ValueError(
        f"The file downloaded from {info.url} for the weights {info.name!r} of {info.model} cannot be read as a "
        f"{info.source} checkpoint: {error}"
    )


def _entry_names(target):
    """The names a cache entry's files and their temporary files end in."""
    name = os.path.basename(target)
    return {name, name + ".sha256"}


def _fetch_and_convert(info, target):
    """Downloads, checks and converts the source file, and writes `target` and its
    sidecar atomically. Call it holding `target`'s lock."""
    directory, source_name = os.path.split(cache_path(source_filename(info)))
    remove_temporaries(directory, {source_name, source_name.removesuffix(".zip"), *_entry_names(target)})
    remove_quietly(os.path.join(directory, source_name))  # an earlier version's download, maybe cut short
    layers, options = download(
        info.url,
        os.path.join(directory, source_name),
        what=f"the weights {info.name!r} of {info.model}",
        hint="Without network access, download that file on another machine, copy it here and run: "
        f"{convert_command(info)} (then pass its output as weights=).",
        check=lambda path: _read_download(info, path),
        keep=False,
    )
    if {**PAPER_LAYOUT, **options} != {**PAPER_LAYOUT, **info.builder_options}:
        raise ValueError(
            f"The file downloaded from {info.url} has the layout {options or 'of the paper'}, not the one registered "
            f"for the weights {info.name!r} of {info.model} ({info.builder_options}); it was not converted."
        )
    model = get_model(info.model, weights=None, classes=info.classes, **info.builder_options)
    assign_layers(model, layers, info.source)
    save_weights_file(model, target)
    write_sha256_sidecar(target)


def fetch_ported(info):
    """Returns the local path of the converted, SHA-256-checked Keras weights of a
    ported registration, downloading and converting them on first use.

    Raises:
        OSError: if the source file cannot be downloaded (the message names the URL
            and the `keras-preact-convert` command for a copy made elsewhere).
        ValueError: if the download fails its publisher's hash or cannot be read
            twice, or does not fit the registered model.
    """
    target = cache_path(converted_filename(info))
    if is_intact(target):
        return target
    with cache_lock(target):
        if not is_intact(target):  # else another process converted it meanwhile
            _fetch_and_convert(info, target)
    return target


def register_ported_weights():
    """Registers every ported weight; returns the `WeightsInfo` registrations."""
    releases = [entry for publisher in PUBLISHERS.values() for entry in publisher.releases]
    return [register_weights(**entry, fetch=fetch_ported) for entry in releases]
