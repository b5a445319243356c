"""fb.resnet.torch (`models/preresnet.lua`): version-2 ImageNet ResNets as Lua Torch
`.t7` files holding the whole module tree (`keras_preact.weights.torch7_layout` reads
it). Its released ResNet-200 was trained with the code of April 2016, whose layout
needs `stem_activation="separate"` and `downsample_shortcut="input_projection"`. No
hash of the file is published.
"""

from keras_preact.weights.formats import torch7
from keras_preact.weights.publishers import IMAGENET_1K, Publisher, keep
from keras_preact.weights.torch7_layout import APRIL_2016_LAYOUT, torch7_layers

RESNET_200_URL = "https://d2j0dndfm35trm.cloudfront.net/resnet-200.t7"
LICENSE = "BSD-3-Clause (fb.resnet.torch; no separate statement for the weights)"


def layers(contents, arch):
    return torch7_layers(contents)


PUBLISHER = Publisher(
    name="fb.resnet.torch",
    files="a .t7 (Lua Torch model)",
    license=LICENSE,
    models=frozenset({("imagenet", 2)}),
    unpack=keep,
    read=torch7.loads,
    layers=layers,
    releases=(
        dict(
            model="PreActResNet200",
            name="imagenet",
            url=RESNET_200_URL,
            source="fb.resnet.torch",
            source_hash=None,
            license=LICENSE,
            builder_options=APRIL_2016_LAYOUT,
            published_accuracy="top-1 error 21.66%, top-5 error 5.79% (fb.resnet.torch, ImageNet val, one 224 crop)",
            preprocessing="imagenet",
            resize_size=256,
            interpolation="bicubic",
            crop_pct=224 / 256,
            **IMAGENET_1K,
        ),
    ),
)
