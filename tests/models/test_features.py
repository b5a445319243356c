"""The model as a backbone: feature pyramids (`pyramid_outputs`, `feature_extractor`);
against the peers' pyramids in test_features_peers.py."""

import keras
import numpy as np
import pytest

import keras_preact
from keras_preact import build_resnet, feature_extractor

# (builder arguments, input size, {level: (stride, layer name)})
PYRAMIDS = {
    "v2_imagenet": (dict(depth=18, version=2), 64, {
        "P1": (2, "conv1_relu"), "P2": (4, "stage1_unit2_add"), "P3": (8, "stage2_unit2_add"),
        "P4": (16, "stage3_unit2_add"), "P5": (32, "stage4_unit2_add")}),
    "v1_imagenet": (dict(depth=18, version=1), 64, {
        "P1": (2, "conv1_relu"), "P2": (4, "stage1_unit2_out_relu"), "P3": (8, "stage2_unit2_out_relu"),
        "P4": (16, "stage3_unit2_out_relu"), "P5": (32, "stage4_unit2_out_relu")}),
    "v2_cifar": (dict(depth=20, family="cifar", version=2), 32, {
        "P0": (1, "stage1_unit3_add"), "P1": (2, "stage2_unit3_add"), "P2": (4, "stage3_unit3_add")}),
    "v1_cifar": (dict(depth=20, family="cifar", version=1), 32, {
        "P0": (1, "stage1_unit3_out_relu"), "P1": (2, "stage2_unit3_out_relu"), "P2": (4, "stage3_unit3_out_relu")}),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(PYRAMIDS))
def test_pyramid_levels_strides_and_layers(case, tmp_path):
    kwargs, size, expected = PYRAMIDS[case]
    model = build_resnet(**kwargs, include_top=False, input_shape=(None, None, 3))
    layer_names = {level: name for level, (_, name) in expected.items()}
    assert {k: t._keras_history.operation.name for k, t in model.pyramid_outputs.items()} == layer_names
    assert all(stride == 2 ** int(level[1:]) for level, (stride, _) in expected.items())  # keras-hub's rule
    extractor = feature_extractor(model)
    for scale in (1, 2):  # any input size
        features = extractor(np.zeros((1, size * scale, size * scale, 3), "float32"))
        assert {k: v.shape[1] for k, v in features.items()} == {
            level: size * scale // stride for level, (stride, _) in expected.items()
        }
    # A classifier model has the same levels, and so has one loaded from its file.
    classifier = build_resnet(**kwargs, input_shape=(size, size, 3))
    classifier.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    x = np.random.default_rng(0).normal(size=(2, size, size, 3)).astype("float32")
    first, last = min(expected), max(expected)
    ours, theirs = feature_extractor(classifier)(x), feature_extractor(loaded, levels=[first, last])(x)
    assert sorted(theirs) == [first, last]
    for level in theirs:
        np.testing.assert_allclose(theirs[level], ours[level], atol=1e-5)
    assert not hasattr(classifier, "pyramid_outputs")  # only include_top=False models carry it
    assert not hasattr(loaded, "pyramid_outputs")  # nor does a loaded file: pyramid_outputs(model) recovers them
    recovered = keras_preact.pyramid_outputs(loaded)
    assert {k: t._keras_history.operation.name for k, t in recovered.items()} == layer_names


def test_feature_extractor_errors_name_the_levels():
    model = build_resnet(8, family="cifar", include_top=False)
    with pytest.raises(ValueError, match=r"levels=\['P3'\]; expected a non-empty list of \['P0', 'P1', 'P2'\]"):
        feature_extractor(model, levels=["P3"])
    other = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3)], name="plain")
    with pytest.raises(ValueError, match=r"model 'plain', which has no 'stage<s>_unit<u>_\*' layers"):
        feature_extractor(other)
