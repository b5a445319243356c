"""timm ResNetV2 (`resnetv2_50`, `resnetv2_101`): version-2 ImageNet ResNets, as
`model.safetensors` (the hub files) or a `.pth` state dict.

Its stem has no BN and the first unit pre-activates after the max-pool:
`stem_activation="none"`. The hub publishes no hash of the files.
"""

from keras_preact.weights.formats import safetensors, torch_pickle
from keras_preact.weights.layout import StateDictRules, state_dict, state_dict_layers
from keras_preact.weights.publishers import IMAGENET_1K, Publisher, keep

RULES = StateDictRules(
    (
        (r"stem\.conv", "conv1"),
        (r"stages\.(\d)\.blocks\.(\d+)\.norm1", "stage{s}_unit{u}_preact_bn"),
        (r"stages\.(\d)\.blocks\.(\d+)\.conv(\d)", "stage{s}_unit{u}_conv{k}"),
        (r"stages\.(\d)\.blocks\.(\d+)\.norm(\d)", "stage{s}_unit{u}_bn{k}"),
        (r"stages\.(\d)\.blocks\.(\d+)\.downsample\.conv", "stage{s}_unit{u}_shortcut_conv"),
        (r"norm", "post_bn"),
        (r"head\.fc", "predictions"),
    ),
    stage_base=0,
    unit_base=0,
)
LAYOUT = {"stem_activation": "none"}
URL = "https://huggingface.co/timm/{name}/resolve/main/model.safetensors"
LICENSE = "Apache-2.0 (timm)"
RELEASES_BY_MODEL = {  # model: (timm name, top-1, top-5 at 224, top-1 at the test size 288)
    "PreActResNet50": ("resnetv2_50.a1h_in1k", 80.410, 95.082, 81.41),
    "PreActResNet101": ("resnetv2_101.a1h_in1k", 82.042, 95.866, 83.00),
}
# timm's pretrained_cfg of both: crop_pct 0.95 (resize floor(224 / 0.95) = 235), and
# test_input_size 288 with test_crop_pct 1.0 (resize 288, crop 288).
CROP_PCT, TEST_SIZE, TEST_CROP_PCT = 0.95, 288, 1.0


def _releases():
    for model, (name, top1, top5, test_top1) in RELEASES_BY_MODEL.items():
        yield dict(
            model=model,
            name="imagenet",
            url=URL.format(name=name),
            source="timm",
            source_hash=None,
            license=LICENSE,
            builder_options=LAYOUT,
            published_accuracy=f"top-1 {top1:.3f}%, top-5 {top5:.3f}% (timm {name}, ImageNet-1k val, "
            "resize 235, crop 224)",
            preprocessing="imagenet_inception",
            resize_size=235,
            interpolation="bicubic",
            crop_pct=CROP_PCT,
            test_size=TEST_SIZE,
            test_crop_pct=TEST_CROP_PCT,
            test_accuracy=f"top-1 {test_top1:.2f}% (timm {name}, ImageNet-1k val, resize 288, crop 288)",
            **IMAGENET_1K,
        )


def read(data, path):
    """A safetensors file (an 8-byte header length, then a JSON object) or a .pth."""
    if data[8:9] == b"{":
        return safetensors.loads(data, path)
    return state_dict(torch_pickle.loads(data, path), path)


def layers(contents, arch):
    return state_dict_layers(contents, RULES, arch["version"], "timm"), dict(LAYOUT)


PUBLISHER = Publisher(
    name="timm",
    files="a model.safetensors or a .pth",
    license=LICENSE,
    models=frozenset({("imagenet", 2)}),
    unpack=keep,
    read=read,
    layers=layers,
    releases=tuple(_releases()),
)
