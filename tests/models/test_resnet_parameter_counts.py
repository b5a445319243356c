"""Trainable-parameter counts against independent implementations of the same layout.

Expected values are PyTorch counts of the same networks (torchvision ResNet for v1
ImageNet; the authors' preresnet layouts as ported by pytorch-classification /
pytorchcv for the rest), with projection shortcuts where the shape changes. Table 4
of [2] (ResNet-110 and -164: 1.7M, ResNet-1001: 10.2M) counts the weight layers only;
the BN scales and offsets make up the rest (149,216 of ResNet-1001's 10,327,706).
"""

import keras
import numpy as np
import pytest

from tests.helpers.marks import grouped
from tests.helpers.models import default_model, is_deep

EXPECTED = {
    # v2, CIFAR-10 (10 classes)
    "PreActResNet20": 272_282,
    "PreActResNet56": 855_578,
    "PreActResNet110": 1_730_522,
    "PreActResNet164": 1_703_258,
    "PreActResNet1001": 10_327_706,
    # v2, ImageNet (1000 classes)
    "PreActResNet18": 11_687_720,
    "PreActResNet34": 21_795_880,
    "PreActResNet50": 25_549_352,
    "PreActResNet101": 44_541_480,
    "PreActResNet152": 60_185_128,
    "PreActResNet200": 64_666_152,
    # v1
    "ResNet110": 1_730_714,
    "ResNet164": 1_704_154,
    "ResNet1001": 10_328_602,
    "ResNet18": 11_689_512,
    "ResNet50": 25_557_032,
    "ResNet152": 60_192_808,
}

# [2], Table 4: parameters in millions.
PAPER_TABLE_4 = {"PreActResNet110": 1.7, "PreActResNet164": 1.7, "PreActResNet1001": 10.2}


def trainable_count(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


@pytest.mark.parametrize("name", [grouped(n, slow=is_deep(n)) for n in sorted(EXPECTED)])
def test_trainable_parameters_match_independent_implementations(name):
    assert trainable_count(default_model(name)) == EXPECTED[name]


def weight_layer_count(model):
    """Parameters of the weight layers (convolutions and the classifier), BN excluded."""
    return int(
        sum(
            np.prod(w.shape)
            for l in model.layers
            if isinstance(l, (keras.layers.Conv2D, keras.layers.Dense))
            for w in l.weights
        )
    )


@pytest.mark.parametrize("name", [grouped(n, slow=is_deep(n)) for n in sorted(PAPER_TABLE_4)])
def test_counts_agree_with_table_4_of_the_paper(name):
    """Table 4 counts weight layers only: PreActResNet1001 has 10,178,490 conv/fc
    parameters (10.2M) plus 149,216 BN scales and offsets (10,327,706 in all)."""
    model = default_model(name)
    assert round(weight_layer_count(model) / 1e6, 1) == PAPER_TABLE_4[name]
    bn = sum(
        int(np.prod(w.shape))
        for l in model.layers
        if isinstance(l, keras.layers.BatchNormalization)
        for w in l.trainable_weights
    )
    assert weight_layer_count(model) + bn == EXPECTED[name]


@pytest.mark.xdist_group("PreActResNet1001")
@pytest.mark.slow
def test_resnet1001_structure():
    """The 1001-layer net of [2]: 333 bottleneck units, 111 per stage, 1001 weight layers."""
    model = default_model("PreActResNet1001")
    convs = [l for l in model.layers if type(l).__name__ == "Conv2D" and "shortcut" not in l.name]
    dense = [l for l in model.layers if type(l).__name__ == "Dense"]
    assert len(convs) + len(dense) == 1001
    adds = [l for l in model.layers if l.name.endswith("_add")]
    assert len(adds) == 333
    for stage in (1, 2, 3):
        assert sum(l.name.startswith(f"stage{stage}_") for l in adds) == 111
    assert model.output_shape == (None, 10)


@pytest.mark.xdist_group("PreActResNet200")
def test_preact_resnet200_structure():
    """ResNet-200: 16 more bottleneck units than ResNet-152, on the 28x28 map ([2], fn. 3)."""
    model = default_model("PreActResNet200")
    resnet152 = default_model("PreActResNet152")

    def units(m, stage):
        return sum(l.name.startswith(f"stage{stage}_") and l.name.endswith("_add") for l in m.layers)

    assert [units(model, s) for s in (1, 2, 3, 4)] == [3, 24, 36, 3]
    assert units(model, 2) - units(resnet152, 2) == 16
    assert model.get_layer("stage2_unit24_add").output.shape[1:3] == (28, 28)
    assert model.output_shape == (None, 1000)
