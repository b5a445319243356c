"""Converting released checkpoints: checkpoints written by the peers' own code convert
exactly, every registered weight's source model has the structure and counts of the
model it loads into, and a checkpoint with non-finite weights or negative variances is
refused.

Parity: the Keras model's logits equal the source model's own forward pass (the peer
library's, or nn's evaluation-mode semantics on the .t7 file read by `torchfile`) to
1e-4, for one depth of every family and layout variant. Both run in float64, so that
what is compared is the layout and the weights: in float32 the two libraries' sums
round differently, by up to a few 1e-4 on logits of order 10 in the 164-layer nets.
"""

import importlib
import os

import numpy as np
import pytest

pytest.importorskip("torch")

import keras_preact  # noqa: E402
from keras_preact.weights.convert import check_layers_fit, convert_checkpoint  # noqa: E402
from keras_preact.weights.formats.limits import CheckpointError  # noqa: E402
from keras_preact.weights.layout import share_stem_activation, state_dict_layers  # noqa: E402
from keras_preact.weights.torch7_layout import APRIL_2016_LAYOUT, torch7_layers  # noqa: E402

from tests.helpers import torch7_models  # noqa: E402
from tests.helpers.marks import grouped  # noqa: E402
from tests.helpers.models import default_model, is_deep  # noqa: E402
from tests.helpers.peer_checkpoints import (  # noqa: E402
    convert_in_float64,
    images,
    peer_logits,
    peer_model,
    randomize,
    save_peer_checkpoint,
    save_state,
    torch7_checkpoint,
    trainable_count,
)

# (source, peer model, keras_preact model, family, the builder options the layout needs)
PARITY = [
    ("torchvision", "resnet18", "ResNet18", "imagenet", {}),
    ("timm", "resnetv2_50", "PreActResNet50", "imagenet", {"stem_activation": "none"}),
    ("pytorchcv", "resnet20_cifar10", "ResNet20", "cifar", {}),
    ("pytorchcv", "resnet164bn_cifar100", "ResNet164", "cifar", {}),
    ("pytorchcv", "preresnet20_cifar10", "PreActResNet20", "cifar", {"stem_activation": "none"}),
    ("pytorchcv", "preresnet164bn_cifar100", "PreActResNet164", "cifar", {}),
]


@pytest.fixture(scope="module")
def resnet20_state():
    return peer_model("pytorchcv", "resnet20_cifar10").state_dict()


def logits(model, x):
    return np.asarray(model(x, training=False))


@pytest.mark.parametrize("source, peer, model, family, options", PARITY, ids=[p[1] for p in PARITY])
def test_peer_checkpoint_converts_to_the_same_logits(source, peer, model, family, options, tmp_path):
    x = images(family)
    torch_model = randomize(peer_model(source, peer), x.shape[1])
    path = save_peer_checkpoint(source, torch_model, str(tmp_path), peer)
    keras_model, found = convert_in_float64(source, path, model, x)
    assert found == options
    expected = peer_logits(torch_model, x)
    np.testing.assert_allclose(logits(keras_model, x), expected, rtol=0, atol=1e-4)
    assert np.abs(expected).max() > 1.0  # the comparison is not of near-zero logits


@pytest.mark.parametrize("layout", ["paper", "april2016"])
def test_torch7_file_converts_to_the_same_logits(layout, tmp_path):
    path, forward = torch7_checkpoint(str(tmp_path), layout)
    x = images("imagenet")
    keras_model, options = convert_in_float64("fb.resnet.torch", path, "PreActResNet50", x)
    assert options == ({} if layout == "paper" else APRIL_2016_LAYOUT)
    np.testing.assert_allclose(logits(keras_model, x), forward(x), rtol=0, atol=1e-4)


def _registered():
    """(model, source, peer name) of every ported registration, once per model and source."""
    seen = {}
    for info in keras_preact.list_weights(details=True):
        if info.source in ("torchvision", "timm", "pytorchcv") and (info.model, info.source) not in seen:
            peer = info.url.rsplit("/", 1)[1].split("-")[0] if info.source != "timm" else None
            if info.source == "timm":
                peer = info.url.split("/")[-4].split(".")[0]
            seen[(info.model, info.source)] = (info, peer)
    return sorted(seen.values(), key=lambda v: (v[0].model, v[0].source))


@pytest.mark.parametrize(
    "info, peer",
    [grouped(i.model, i, p, id=f"{i.model}-{i.source}", slow=is_deep(i.model)) for i, p in _registered()],
)
def test_every_registered_source_model_fits_the_model_it_loads_into(info, peer):
    """Structure (every layer name and variable shape) and trainable-parameter count of
    the source library's model against the keras_preact model the weights need."""
    source_model = peer_model(info.source, peer)
    state = {k: v.numpy() for k, v in source_model.state_dict().items()}
    version = 2 if info.model.startswith("PreAct") else 1
    layers = state_dict_layers(
        state, importlib.import_module(f"keras_preact.weights.publishers.{info.source}").RULES, version
    )
    if version == 2:
        # The source's first unit pre-activates itself; the default model (built once
        # per session) has that BN in the stem, with the same variables.
        # stem_activation="none" moves it, as the parity tests show.
        layers = share_stem_activation(layers)
    model = default_model(info.model)
    check_layers_fit(model, layers, info.source)
    assert int(sum(np.prod(w.shape) for w in model.trainable_weights)) == trainable_count(source_model)


@pytest.mark.xdist_group("PreActResNet200")
def test_fb_resnet_200_tree_fits_the_registered_layout():
    """The ResNet-200 of fb.resnet.torch's April 2016 code, as a module tree, maps onto
    PreActResNet200 with the registered builder options, layer for layer."""
    info = keras_preact.get_weights_info("PreActResNet200", "imagenet")
    assert info.builder_options == APRIL_2016_LAYOUT
    layers, options = torch7_layers(torch7_models.preresnet((3, 24, 36, 3), "april2016"))
    assert options == APRIL_2016_LAYOUT
    check_layers_fit(keras_preact.get_model("PreActResNet200", weights=None, **options), layers, "torch7")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"features__stage2__unit1__body__conv1__conv__weight": (5, float("nan"))}, "stage2_unit1_conv1.*non-finite"),
        ({"output__bias": (3, float("inf"))}, "predictions.*non-finite"),
        ({"features__stage1__unit2__body__conv2__bn__running_var": (0, -1.0)}, "stage1_unit2_bn2.*negative"),
    ],
    ids=["nan", "inf", "negative_variance"],
)
def test_non_finite_weights_and_negative_variances_are_refused(resnet20_state, tmp_path, change, message):
    path = save_state(resnet20_state, tmp_path / "bad.pth", **change)
    with pytest.raises(CheckpointError, match=message):
        convert_checkpoint("pytorchcv", path, "ResNet20", output=tmp_path / "out.weights.h5")
    assert os.listdir(tmp_path) == ["bad.pth"]


def test_the_converted_weights_file_equals_keras_own(resnet20_state, tmp_path):
    """The `.weights.h5` built in memory loads as the one `save_weights` writes."""
    path = save_state(resnet20_state, tmp_path / "r20.pth")
    model, _ = convert_checkpoint("pytorchcv", path, "ResNet20", output=tmp_path / "ours.weights.h5")
    model.save_weights(tmp_path / "keras.weights.h5")
    for name in ("ours", "keras"):
        reloaded = model.__class__.from_config(model.get_config())
        reloaded.load_weights(tmp_path / f"{name}.weights.h5")
        for a, b in zip(model.get_weights(), reloaded.get_weights()):
            np.testing.assert_array_equal(a, b)
