"""Feature pyramids against the peers': a model converted from a peer checkpoint gives,
level by level, the feature maps of timm's `features_only` model with the same weights,
and keras-hub's ResNetBackbone has the same levels (level n at stride 2^n, the raw
stage outputs).

Both run in float64 (as in tests/weights/test_convert.py), so the comparison is of the
levels' positions, not of rounding.
"""

import keras
import numpy as np
import pytest

pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import torch  # noqa: E402

import keras_preact  # noqa: E402

from tests.helpers.peer_checkpoints import (  # noqa: E402
    convert_in_float64,  # noqa: E402
    images,
    peer_model,
    randomize,
    save_peer_checkpoint,
)

# (source of the checkpoint, its model, keras_preact model, timm's features_only model)
CASES = [
    ("timm", "resnetv2_18", "PreActResNet18", "resnetv2_18"),
    ("torchvision", "resnet18", "ResNet18", "resnet18"),
]


def timm_features(timm_name, path, x):
    """timm's `features_only` outputs (NHWC, float64) with the weights of the checkpoint
    at `path` (timm loads torchvision's resnet files too: the same names), and the
    strides timm declares for them."""
    features = timm.create_model(timm_name, features_only=True, pretrained=True, pretrained_cfg_overlay={"file": path})
    with torch.no_grad():
        outputs = features.eval().double()(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
    return [o.numpy().transpose(0, 2, 3, 1) for o in outputs], features.feature_info.reduction()


@pytest.mark.parametrize("source, peer, model, timm_name", CASES, ids=[c[1] for c in CASES])
def test_levels_equal_timm_features_only(source, peer, model, timm_name, tmp_path):
    x = images("imagenet")
    torch_model = randomize(peer_model(source, peer), x.shape[1])
    path = save_peer_checkpoint(source, torch_model, str(tmp_path), peer)
    keras_model, _ = convert_in_float64(source, path, model, x)
    expected, strides = timm_features(timm_name, path, x)
    ours = keras_preact.feature_extractor(keras_model)(x)
    assert sorted(ours) == [f"P{n}" for n in range(1, 6)] and strides == [2, 4, 8, 16, 32]
    for n, (stride, reference) in enumerate(zip(strides, expected), 1):
        assert stride == 2**n  # keras-hub's rule, which timm's levels follow
        np.testing.assert_allclose(np.asarray(ours[f"P{n}"]), reference, rtol=0, atol=1e-9)
    if model.startswith("PreAct"):  # v2's last level is the raw sum of the last stage, not post_relu
        assert (expected[-1] < 0).any()
        p5 = keras_preact.pyramid_outputs(keras_model)["P5"]._keras_history.operation
        assert isinstance(p5, keras.layers.Add) and p5.name == "stage4_unit2_add"


@pytest.mark.parametrize("version", [1, 2])
def test_levels_match_keras_hub_resnet_backbone(version):
    """keras-hub's ResNetBackbone of the same plan has levels P2-P5 of the same shapes and
    kinds (v2: the raw sums, its `Add` layers; v1: the ReLU after the addition)."""
    keras_hub = pytest.importorskip("keras_hub")
    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[7], stackwise_num_filters=[64, 128, 256, 512],
        stackwise_num_blocks=[2, 2, 2, 2], stackwise_num_strides=[1, 2, 2, 2], block_type="basic_block",
        use_pre_activation=version == 2, image_shape=(64, 64, 3),
    )  # fmt: skip
    ours = keras_preact.build_resnet(18, version=version, include_top=False, input_shape=(64, 64, 3))
    levels = ours.pyramid_outputs
    kind = (keras.layers.Add,) if version == 2 else (keras.layers.ReLU, keras.layers.Activation)
    assert sorted(backbone.pyramid_outputs) == ["P2", "P3", "P4", "P5"]
    assert sorted(levels) == ["P1", "P2", "P3", "P4", "P5"]  # and the stem's level, as timm's
    for level, theirs in backbone.pyramid_outputs.items():
        assert levels[level].shape == theirs.shape
        assert isinstance(theirs._keras_history.operation, kind)
        assert isinstance(levels[level]._keras_history.operation, kind)
    assert backbone.output.shape == ours.output.shape  # both models end with the final activation
