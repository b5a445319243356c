"""The custom layers: `DropPath` and `DropPathAdd` (stochastic depth), and
`PaddedMaxPooling2D` (the stem of `stem_activation="none"`) against torch's max pool."""

import keras
import numpy as np
import pytest

import keras_preact
from keras_preact.models.layers import PaddedMaxPooling2D


def test_drop_path_layer_math():
    layer = keras_preact.DropPath(0.25, seed=7)
    x = np.random.default_rng(6).normal(size=(4000, 2, 3, 5)).astype("float32") + 3.0
    np.testing.assert_array_equal(layer(x, training=False), x)
    y = layer(x, training=True).numpy()
    kept = np.all(np.isclose(y, x / 0.75, rtol=1e-5), axis=(1, 2, 3))
    zeroed = np.all(y == 0.0, axis=(1, 2, 3))
    assert np.all(kept != zeroed)  # a whole sample is kept or dropped
    assert kept.mean() == pytest.approx(0.75, abs=0.03)  # 4.4 standard deviations
    ones = np.ones((4000, 2, 2, 1), "float32")
    assert layer(ones, training=True).numpy().mean() == pytest.approx(1.0, abs=0.04)  # expectation kept
    assert not np.array_equal(layer(x, training=True), y)  # the seed generator advances
    np.testing.assert_array_equal(keras_preact.DropPath(0.0)(x, training=True), x)


def test_drop_path_add_adds_the_shortcut_to_the_dropped_residual():
    h, f = (np.random.default_rng(s).normal(size=(500, 3, 3, 2)).astype("float32") for s in (8, 9))
    y = keras_preact.DropPathAdd(0.5, seed=3)([h, f], training=True).numpy()
    kept = np.all(np.isclose(y, h + 2.0 * f, rtol=1e-5, atol=1e-6), axis=(1, 2, 3))
    dropped = np.all(y == h, axis=(1, 2, 3))
    assert np.all(kept != dropped) and 0.4 < kept.mean() < 0.6
    np.testing.assert_array_equal(keras_preact.DropPathAdd(0.5)([h, f], training=False), h + f)


@pytest.mark.parametrize("cls", [keras_preact.DropPath, keras_preact.DropPathAdd])
def test_drop_path_layers_serialize(cls):
    layer = cls(0.3, seed=11, name="dp")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is cls and (restored.rate, restored.seed, restored.name) == (0.3, 11, "dp")


@pytest.mark.parametrize("rate", [1.0, -0.5, False, "0.2"])
def test_drop_path_layer_refuses_bad_rates(rate):
    with pytest.raises(ValueError, match=rf"Received: rate={rate!r}; expected a float in \[0, 1\)"):
        keras_preact.DropPath(rate)


def test_padded_max_pooling_is_torchs_max_pool_on_negative_inputs():
    torch = pytest.importorskip("torch")

    x = -np.abs(np.random.default_rng(0).normal(size=(2, 9, 9, 3))).astype("float32") - 1.0
    expected = torch.nn.functional.max_pool2d(torch.from_numpy(x.transpose(0, 3, 1, 2)), 3, 2, 1).numpy()
    got = np.asarray(PaddedMaxPooling2D(3, 2, 1)(x)).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(got, expected)
    assert (got < -1.0).all()  # no zero came in from the padding
