"""torchvision (`torchvision.models.resnet*`): version-1 ImageNet ResNets, the builders'
v1 layout with the stride on the 3x3 conv, as `torch.save` state dicts (`.pth`).

Its hub files are named `<arch>-<first 8 hex digits of their SHA-256>.pth`, the hash
torchvision itself checks. `IMAGENET1K_V1` is also registered as "imagenet".
"""

from keras_preact.weights.formats import torch_pickle
from keras_preact.weights.layout import StateDictRules, state_dict, state_dict_layers
from keras_preact.weights.publishers import IMAGENET_1K, Publisher, keep

RULES = StateDictRules(
    (
        (r"conv1", "conv1"),
        (r"bn1", "conv1_bn"),
        (r"layer(\d)\.(\d+)\.conv(\d)", "stage{s}_unit{u}_conv{k}"),
        (r"layer(\d)\.(\d+)\.bn(\d)", "stage{s}_unit{u}_bn{k}"),
        (r"layer(\d)\.(\d+)\.downsample\.0", "stage{s}_unit{u}_shortcut_conv"),
        (r"layer(\d)\.(\d+)\.downsample\.1", "stage{s}_unit{u}_shortcut_bn"),
        (r"fc", "predictions"),
    ),
    unit_base=0,
)
URL = "https://download.pytorch.org/models/{file}"
LICENSE = "BSD-3-Clause (torchvision)"
RELEASES_BY_MODEL = {  # model: [(weights name, file, top-1, top-5, resize)]
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


def _releases():
    for model, releases in RELEASES_BY_MODEL.items():
        for name, file, top1, top5, resize in releases:
            entry = dict(
                model=model,
                url=URL.format(file=file),
                source="torchvision",
                source_hash="sha256:" + file.rsplit("-", 1)[1].split(".")[0],
                license=LICENSE,
                published_accuracy=f"top-1 {top1:.3f}%, top-5 {top5:.3f}% (torchvision, ImageNet-1k val, "
                f"resize {resize}, crop 224)",
                preprocessing="imagenet",
                resize_size=resize,
                interpolation="bilinear",
                crop_pct=224 / resize,
                **IMAGENET_1K,
            )
            yield {**entry, "name": f"torchvision_{name}"}
            if name == "imagenet1k_v1":
                yield {**entry, "name": "imagenet"}


def read(data, path):
    return state_dict(torch_pickle.loads(data, path), path)


def layers(contents, arch):
    return state_dict_layers(contents, RULES, arch["version"], "torchvision"), {}


PUBLISHER = Publisher(
    name="torchvision",
    files="a .pth (torch.save state dict)",
    license=LICENSE,
    models=frozenset({("imagenet", 1)}),
    unpack=keep,
    read=read,
    layers=layers,
    releases=tuple(_releases()),
)
