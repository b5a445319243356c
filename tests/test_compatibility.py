"""Files written by the previous release (0.1.0, flat module layout) still load.

tests/helpers/data/release-0.1.0/ holds two `.keras` files saved by keras_preact 0.1.0 with
random weights: a pre-activation net with zero-padding shortcuts (the fused
BatchNormalization and `ZeroPadShortcut`) and a v1 net with exclusive gating
(`GatedAdd`), with the logits that release computed. The shipped weights file, also
written by 0.1.0, is loaded by tests/weights/test_shipped.py.
"""

import json
import os

import keras
import numpy as np
import pytest

import keras_preact  # noqa: F401  (registers the package's Keras classes)

from tests.helpers import HELPERS

DATA = os.path.join(HELPERS, "data", "release-0.1.0")
with open(os.path.join(DATA, "expected.json")) as _f:
    EXPECTED = json.load(_f)


@pytest.mark.parametrize("name", sorted(EXPECTED["logits"]))
def test_keras_files_of_the_previous_release_load_and_compute_the_same_logits(name):
    model = keras.saving.load_model(os.path.join(DATA, f"{name}.keras"))
    images = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(model(images, training=False), EXPECTED["logits"][name], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(EXPECTED["logits"]))
def test_their_weights_load_into_the_current_builders(name, tmp_path):
    saved = keras.saving.load_model(os.path.join(DATA, f"{name}.keras"))
    path = str(tmp_path / "w.weights.h5")
    saved.save_weights(path)
    options = {"downsample_shortcut": "zero_pad"} if "zero_pad" in name else {"shortcut": "exclusive_gating"}
    model = keras_preact.get_model(
        "PreActResNet8" if name.startswith("preact") else "ResNet8",
        input_shape=(8, 8, 3),
        classes=3,
        classifier_activation=None,
        weights=path,
        **options,
    )
    images = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(model(images, training=False), EXPECTED["logits"][name], rtol=1e-5, atol=1e-5)
