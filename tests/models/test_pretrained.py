"""weights=: local files, registered names fetched by URL with SHA-256, and `classes=N`
with registered weights (strict loading: test_strict_loading.py)."""

import hashlib
import pathlib

import keras
import numpy as np
import pytest

import keras_preact
from keras_preact.models import pretrained

SHAPE = (8, 8, 3)
X = np.random.default_rng(0).normal(size=(2, *SHAPE)).astype("float32")


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


@pytest.fixture
def saved(tmp_path):
    """A trained-looking PreActResNet20 (random weights) saved to a .weights.h5 file."""
    model = keras_preact.PreActResNet20(input_shape=SHAPE, classes=5)
    path = tmp_path / "preact20.weights.h5"
    model.save_weights(path)
    return model, path


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """A scratch Keras cache, and registrations removed after the test."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    added = []

    def register(name, path, digest=None, **kwargs):
        kwargs = {"input_shape": SHAPE, "classes": 5, "preprocessing": "cifar10", **kwargs}
        info = keras_preact.register_weights(
            "PreActResNet20", name, url=pathlib.Path(path).as_uri(), sha256=digest or sha256(path), **kwargs
        )
        added.append(name)
        return info

    yield register
    for name in added:
        pretrained.unregister_weights("PreActResNet20", name)


def test_local_weights_file_loads_exactly(saved):
    model, path = saved
    loaded = keras_preact.PreActResNet20(weights=str(path), input_shape=SHAPE, classes=5)
    np.testing.assert_array_equal(model(X), loaded(X))
    loaded = keras_preact.PreActResNet20(weights=path, input_shape=SHAPE, classes=5)  # PathLike
    np.testing.assert_array_equal(model(X), loaded(X))


def test_registered_weights_download_from_a_file_url_and_are_cached(saved, registry, tmp_path):
    model, path = saved
    info = registry("scratch", path)
    assert "scratch" in keras_preact.list_weights("PreActResNet20")
    loaded = keras_preact.PreActResNet20(weights="scratch")  # shape and classes from the registration
    assert loaded.input_shape == (None, *SHAPE) and loaded.output_shape == (None, 5)
    np.testing.assert_array_equal(model(X), loaded(X))
    cached = tmp_path / "keras_home" / "models" / info.filename
    assert cached.is_file() and sha256(cached) == info.sha256
    path.unlink()  # the cache serves later builds without the source
    np.testing.assert_array_equal(model(X), keras_preact.PreActResNet20(weights="scratch")(X))


def test_tampered_download_is_rejected_and_not_cached(saved, registry, tmp_path):
    model, path = saved
    info = registry("tampered", path)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"do not match their SHA-256 " + info.sha256):
        keras_preact.PreActResNet20(weights="tampered")
    assert not (tmp_path / "keras_home" / "models" / info.filename).exists()


def test_tampered_cached_file_is_fetched_again(saved, registry, tmp_path):
    model, path = saved
    info = registry("recache", path)
    keras_preact.PreActResNet20(weights="recache")
    cached = tmp_path / "keras_home" / "models" / info.filename
    cached.write_bytes(b"corrupted")
    loaded = keras_preact.PreActResNet20(weights="recache")
    np.testing.assert_array_equal(model(X), loaded(X))
    assert sha256(cached) == info.sha256


def test_unreachable_url_tells_offline_users_to_pass_a_path(registry, tmp_path):
    registry("missing", tmp_path / "nowhere.weights.h5", digest="0" * 64)
    with pytest.raises(OSError, match=r"Could not fetch.*pass its path: weights="):
        keras_preact.PreActResNet20(weights="missing")


def test_registered_weights_constrain_channels_and_layout_not_classes(saved, registry):
    _, path = saved
    registry("five", path)
    assert keras_preact.PreActResNet20(weights="five", classes=10).output_shape == (None, 10)  # a new classifier
    with pytest.raises(ValueError, match=r"input_shape=\(8, 8, 1\) with 1 channels; the weights 'five' take 3"):
        keras_preact.PreActResNet20(weights="five", input_shape=(8, 8, 1))
    with pytest.raises(ValueError, match=r"weights='five' with \{'shortcut': 'conv1x1'\}"):
        keras_preact.PreActResNet20(weights="five", shortcut="conv1x1")
    # A larger input and a new head are fine.
    features = keras_preact.PreActResNet20(weights="five", input_shape=(16, 16, 3), include_top=False)
    assert features.output_shape == (None, 4, 4, 64)


@pytest.mark.parametrize("bad", ["imagenet", "nonexistent.weights.h5", "model.h5", 3])
def test_weights_argument_errors_list_the_choices(bad):
    with pytest.raises(ValueError, match=r"weights=.*expected None, a registered name for PreActResNet20"):
        keras_preact.PreActResNet20(weights=bad)


def test_a_file_that_is_not_a_weights_file(tmp_path):
    path = tmp_path / "junk.weights.h5"
    path.write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match=r"not a Keras weights file"):
        keras_preact.PreActResNet20(weights=path, input_shape=SHAPE)


def test_register_weights_checks_the_digest():
    with pytest.raises(ValueError, match=r"sha256='abc'; expected 64 hexadecimal digits"):
        keras_preact.register_weights(
            "PreActResNet20", "x", url="file:///x", sha256="abc", input_shape=SHAPE, classes=5, preprocessing="cifar10"
        )


def test_nothing_in_the_package_loads_with_safe_mode_off():
    source = pathlib.Path(keras_preact.__file__).parent
    offenders = [p.name for p in source.rglob("*.py") if "safe_mode=False" in p.read_text()]
    assert offenders == []


@pytest.mark.parametrize(
    "model, name, argument",
    [(["PreActResNet20"], "fashion_mnist", "model"), ("PreActResNet20", None, "name"), (20, 3, "model")],
)
def test_get_weights_info_refuses_arguments_that_are_not_strings(model, name, argument):
    with pytest.raises(ValueError, match=rf"Received: {argument}=.*; expected a string"):
        keras_preact.get_weights_info(model, name)
    assert keras_preact.get_weights_info("PreActResNet20", "no such weights") is None


# `classes=N` with registered weights: the pretrained body with a new classifier, as
# timm's `num_classes=` and keras-hub load it.


def test_every_layer_but_the_classifier_is_loaded():
    pretrained = keras_preact.PreActResNet20(weights="fashion_mnist")
    keras.utils.set_random_seed(3)
    model = keras_preact.PreActResNet20(weights="fashion_mnist", classes=3)
    assert model.output_shape == (None, 3)
    names = [layer.name for layer in model.layers]
    assert names == [layer.name for layer in pretrained.layers]
    for name in names:
        if name != "predictions":
            for ours, theirs in zip(model.get_layer(name).get_weights(), pretrained.get_layer(name).get_weights()):
                np.testing.assert_array_equal(ours, theirs, err_msg=name)
    # The new classifier is the builder's: as initialised without weights, from the same seed.
    keras.utils.set_random_seed(3)
    fresh = keras_preact.PreActResNet20(weights=None, input_shape=(28, 28, 1), classes=3)
    for ours, theirs in zip(model.get_layer("predictions").get_weights(), fresh.get_layer("predictions").get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    assert model.get_layer("predictions").get_weights()[0].shape == (64, 3)
