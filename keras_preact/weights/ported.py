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

Each entry states the publisher's accuracy (theirs: it is not measured here), the
license, and the evaluation preprocessing (`preprocess_input` statistics, input
size, resize and interpolation). docs/pretrained-weights.md is the table of them.
"""

import os
import zipfile
import zlib

from keras_preact.models.download import cache_lock, cache_path, download, is_intact, remove_temporaries
from keras_preact.models.pretrained import register_weights
from keras_preact.models.registry import get_model
from keras_preact.utils.files import atomic_write, file_digest, remove_quietly, write_sha256_sidecar
from keras_preact.weights.convert import assign_layers, checkpoint_layers, weights_h5_bytes
from keras_preact.weights.formats.limits import Budget, read_zip_entry

TORCHVISION_URL = "https://download.pytorch.org/models/{file}"
TORCHVISION = {  # model: [(weights name, file, top-1, top-5, resize)]
    "ResNet18": [("imagenet1k_v1", "resnet18-f37072fd.pth", 69.758, 89.078, 256)],
    "ResNet34": [("imagenet1k_v1", "resnet34-b627a593.pth", 73.314, 91.420, 256)],
    "ResNet50": [
        ("imagenet1k_v1", "resnet50-0676ba61.pth", 76.130, 92.862, 256),
        ("imagenet1k_v2", "resnet50-11ad3fa6.pth", 80.858, 95.434, 232),
    ],
    "ResNet101": [
        ("imagenet1k_v1", "resnet101-63fe2227.pth", 77.374, 93.546, 256),
        ("imagenet1k_v2", "resnet101-cd907fc2.pth", 81.886, 95.780, 232),
    ],
    "ResNet152": [
        ("imagenet1k_v1", "resnet152-394f9c45.pth", 78.312, 94.046, 256),
        ("imagenet1k_v2", "resnet152-f82ba261.pth", 82.284, 96.002, 232),
    ],
}
TIMM_URL = "https://huggingface.co/timm/{name}/resolve/main/model.safetensors"
TIMM = {
    "PreActResNet50": ("resnetv2_50.a1h_in1k", 80.410, 95.082),
    "PreActResNet101": ("resnetv2_101.a1h_in1k", 82.042, 95.866),
}
PYTORCHCV_URL = "https://github.com/osmr/imgclsmob/releases/download/{tag}/{file}.zip"
# (model, pytorchcv name, error x 100, SHA-1 of the .pth, release tag), from pytorchcv's model_metainfos.csv
PYTORCHCV = [
    ("ResNet20", "resnet20_cifar10", "0597", "9b0024ac4c2f374cde2c5052e0d0344a75871cdb", "v0.0.163"),
    ("ResNet20", "resnet20_cifar100", "2964", "a5322afed92fa96cb7b3453106f73cf38e316151", "v0.0.180"),
    ("ResNet56", "resnet56_cifar10", "0452", "628c42a26fe347b84060136212e018df2bb35e0f", "v0.0.163"),
    ("ResNet56", "resnet56_cifar100", "2488", "d65f53b10ad5d124698e728432844c65261c3107", "v0.0.181"),
    ("ResNet110", "resnet110_cifar10", "0369", "4d6ca1fc02eaeed724f4f596011e391528536049", "v0.0.163"),
    ("ResNet110", "resnet110_cifar100", "2280", "d8d397a767db6d22af040223ec8ae342a088c3e5", "v0.0.190"),
    ("ResNet164", "resnet164bn_cifar10", "0368", "74ae9f4bccb7fb6a8f3f603fdabe8d8632c46b2f", "v0.0.179"),
    ("ResNet164", "resnet164bn_cifar100", "2044", "8fa07b7264a075fa5add58f4c676b99a98fb1c89", "v0.0.182"),
    ("ResNet1001", "resnet1001_cifar10", "0328", "77a179e240808b7aa3534230d39b845a62413ca2", "v0.0.201"),
    ("ResNet1001", "resnet1001_cifar100", "1979", "2728b558748f9c3e70db179afb6c62358020858b", "v0.0.254"),
    ("ResNet1202", "resnet1202_cifar10", "0353", "1d5a21290117903fb5fd6ba59f3f7e7da7c08836", "v0.0.214"),
    ("ResNet1202", "resnet1202_cifar100", "2156", "86ecd091e5ac9677bf4518c644d08eb3e1d1708a", "v0.0.410"),
    ("PreActResNet20", "preresnet20_cifar10", "0651", "76cec68d11de5b25be2ea5935681645b76195f1d", "v0.0.164"),
    ("PreActResNet20", "preresnet20_cifar100", "3022", "3dbfa6a2b850572bccb28cc2477a0e46c24abcb8", "v0.0.187"),
    ("PreActResNet56", "preresnet56_cifar10", "0449", "e9124fcf167d8ca50addef00c3afa4da9f828f29", "v0.0.164"),
    ("PreActResNet56", "preresnet56_cifar100", "2505", "ca90a2be6002cd378769b9d4e7c497dd883d31d9", "v0.0.188"),
    ("PreActResNet110", "preresnet110_cifar10", "0386", "cc08946a2126a1224d1d2560a47cf766a763c52c", "v0.0.164"),
    ("PreActResNet110", "preresnet110_cifar100", "2267", "3954e91581b7f3e5f689385d15f618fe16e995af", "v0.0.191"),
    ("PreActResNet164", "preresnet164bn_cifar10", "0364", "429012d412e82df7961fa071f97c938530e1b005", "v0.0.196"),
    ("PreActResNet164", "preresnet164bn_cifar100", "2018", "a8e67ca6e14f88b009d618b0e9b554312d862174", "v0.0.192"),
    ("PreActResNet1001", "preresnet1001_cifar10", "0265", "9fedfe5fd643e7355f1062a6db68da310c8962be", "v0.0.209"),
    ("PreActResNet1001", "preresnet1001_cifar100", "1841", "88f14ed9df1573e98b0ec2a07009a15066855fda", "v0.0.283"),
    ("PreActResNet1202", "preresnet1202_cifar10", "0339", "6fc686b02191226f39e25a76fc5da26857f7acd9", "v0.0.246"),
]
FB_RESNET_200_URL = "https://d2j0dndfm35trm.cloudfront.net/resnet-200.t7"

IMAGENET = {"input_shape": (224, 224, 3), "classes": 1000}


def _entries():
    """Every ported weight as `register_weights` arguments."""
    for model, releases in TORCHVISION.items():
        for name, file, top1, top5, resize in releases:
            entry = dict(
                model=model,
                url=TORCHVISION_URL.format(file=file),
                source="torchvision",
                source_hash="sha256:" + file.rsplit("-", 1)[1].split(".")[0],
                license="BSD-3-Clause (torchvision)",
                published_accuracy=f"top-1 {top1:.3f}%, top-5 {top5:.3f}% (torchvision, ImageNet-1k val, "
                f"resize {resize}, crop 224)",
                preprocessing="imagenet",
                resize_size=resize,
                interpolation="bilinear",
                **IMAGENET,
            )
            yield {**entry, "name": f"torchvision_{name}"}
            if name == "imagenet1k_v1":
                yield {**entry, "name": "imagenet"}
    for model, (name, top1, top5) in TIMM.items():
        yield dict(
            model=model,
            name="imagenet",
            url=TIMM_URL.format(name=name),
            source="timm",
            source_hash=None,
            license="Apache-2.0 (timm)",
            builder_options={"stem_activation": "none"},
            published_accuracy=f"top-1 {top1:.3f}%, top-5 {top5:.3f}% (timm {name}, ImageNet-1k val, "
            "resize 235, crop 224)",
            preprocessing="imagenet_inception",
            resize_size=235,
            interpolation="bicubic",
            **IMAGENET,
        )
    for model, name, error, sha1, tag in PYTORCHCV:
        dataset = name.rsplit("_", 1)[1]
        basic = model.startswith("PreAct") and model[len("PreActResNet") :] in ("20", "56", "110", "1202")
        yield dict(
            model=model,
            name=dataset,
            url=PYTORCHCV_URL.format(tag=tag, file=f"{name}-{error}-{sha1[:8]}.pth"),
            source="pytorchcv",
            source_hash="sha1:" + sha1,
            license="MIT (pytorchcv)",
            builder_options={"stem_activation": "none"} if basic else {},
            published_accuracy=f"top-1 error {int(error) / 100:.2f}% (pytorchcv {name}, {dataset} test set)",
            preprocessing="cifar_pytorchcv",
            input_shape=(32, 32, 3),
            classes=100 if dataset == "cifar100" else 10,
        )
    yield dict(
        model="PreActResNet200",
        name="imagenet",
        url=FB_RESNET_200_URL,
        source="fb.resnet.torch",
        source_hash=None,
        license="BSD-3-Clause (fb.resnet.torch; no separate statement for the weights)",
        builder_options={"stem_activation": "separate", "downsample_shortcut": "input_projection"},
        published_accuracy="top-1 error 21.66%, top-5 error 5.79% (fb.resnet.torch, ImageNet val, one 224 crop)",
        preprocessing="imagenet",
        resize_size=256,
        interpolation="bicubic",
        **IMAGENET,
    )


# The builder options of the paper's layout, against which a source's needs are compared.
PAPER_LAYOUT = {"stem_activation": "shared", "downsample_shortcut": "projection"}
SOURCE_FORMATS = {"torchvision": "torchvision", "timm": "timm", "pytorchcv": "pytorchcv", "fb.resnet.torch": "torch7"}


def converted_filename(info):
    return f"{info.model.lower()}_{info.source.replace('.', '_')}_{os.path.basename(info.url)}.weights.h5"


def source_filename(info):
    return f"{info.source.replace('.', '_')}_{info.model.lower()}_{os.path.basename(info.url)}"


def _hash_ok(path, source_hash):
    algorithm, _, expected = source_hash.partition(":")
    digest = file_digest(path, algorithm)
    return digest.startswith(expected), digest


def convert_command(info, path="FILE"):
    """The `keras-preact-convert` command for a user who has the source file."""
    return (
        f"keras-preact-convert --source {SOURCE_FORMATS[info.source]} --checkpoint {path} --model {info.model} "
        f"--output {info.model.lower()}_{info.name}.weights.h5"
    )


def _write_bytes(data, path):
    with open(path, "wb") as f:
        f.write(data)


# What zipfile raises for a damaged or cut-short archive.
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, EOFError, zlib.error, NotImplementedError)


def _verified_source(info, downloaded):
    """The checkpoint inside the download (pytorchcv's zip holds one .pth, extracted
    beside it under a temporary name), with its publisher's hash checked.

    Raises:
        ValueError: if the zip cannot be read or the hash differs; the extracted file
            is then removed (the caller removes the download).
    """
    path = downloaded
    if info.source == "pytorchcv":
        member = os.path.basename(info.url)[: -len(".zip")]
        path = downloaded.removesuffix(".zip") if downloaded.endswith(".zip") else downloaded + ".pth"
        try:
            with zipfile.ZipFile(downloaded) as archive:
                budget = Budget(downloaded, os.path.getsize(downloaded))
                data = read_zip_entry(archive, member, downloaded, budget)  # bounded: no zip bomb
            atomic_write(lambda tmp: _write_bytes(data, tmp), path)
        except ZIP_ERRORS as e:
            raise ValueError(f"The file downloaded from {info.url} is not a readable pytorchcv zip: {e}") from None
    if info.source_hash is not None:
        ok, digest = _hash_ok(path, info.source_hash)
        if not ok:
            if path != downloaded:
                remove_quietly(path)
            raise ValueError(
                f"The file downloaded from {info.url} for the weights {info.name!r} of {info.model} does not match "
                f"its publisher's hash {info.source_hash} (found {digest})."
            )
    return path


def _read_download(info, downloaded):
    """The layers and layout options of a downloaded source file (`download`'s check).

    Raises:
        ValueError: if the file fails its publisher's hash or cannot be read (cut
            short, say), which makes `download` fetch it again.
    """
    source = _verified_source(info, downloaded)
    try:
        return checkpoint_layers(SOURCE_FORMATS[info.source], source, info.model)
    except ValueError as e:
        raise ValueError(
            f"The file downloaded from {info.url} for the weights {info.name!r} of {info.model} cannot be read as a "
            f"{info.source} checkpoint: {e}"
        ) from None
    finally:
        if source != downloaded:
            remove_quietly(source)


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
    data = weights_h5_bytes(model)  # in memory: a full disk is then one clean OSError
    atomic_write(lambda tmp: _write_bytes(data, tmp), target)
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
    return [register_weights(**entry, fetch=fetch_ported) for entry in _entries()]
