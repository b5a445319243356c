"""Ported weights through the whole download path, with local file:// URLs: the
publisher's hash is checked, the converted file is cached with its SHA-256 and reused,
a wrong hash caches nothing, and offline the error names the URL and the command that
converts a copied file; the builder's argument checks for ported weights; and every
ported registration's facts (source, license, accuracy, preprocessing), as
docs/pretrained-weights.md lists them. The command that converts a checkpoint by hand:
tests/commands/test_convert.py."""

import hashlib
import os
import shutil

import numpy as np
import pytest

pytest.importorskip("torch")

import keras_preact  # noqa: E402
from keras_preact.models import pretrained  # noqa: E402
from keras_preact.models.transforms import resize_and_crop_sizes  # noqa: E402
from keras_preact.utils.files import file_sha256  # noqa: E402
from keras_preact.weights.ported import converted_filename, fetch_ported  # noqa: E402
from keras_preact.weights.publishers import PUBLISHERS  # noqa: E402

from tests.helpers import ROOT, peer_checkpoints  # noqa: E402
from tests.helpers.peer_checkpoints import peer_model, save_peer_checkpoint  # noqa: E402

NAME = "test_ported"


@pytest.fixture(scope="module")
def pytorchcv_release(tmp_path_factory):
    """preresnet20_cifar10 with random weights, released as pytorchcv releases it."""
    return peer_checkpoints.pytorchcv_release(tmp_path_factory.mktemp("release"))


def register(url, source_hash, model="PreActResNet20", source="pytorchcv", **details):
    defaults = dict(input_shape=(32, 32, 3), classes=10, preprocessing="cifar_pytorchcv")
    if source == "pytorchcv":
        defaults["builder_options"] = {"stem_activation": "none"}
    return keras_preact.register_weights(
        model, NAME, url=url, source=source, source_hash=source_hash, fetch=fetch_ported, **{**defaults, **details}
    )


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    yield tmp_path / "keras" / "models"
    for model in ("PreActResNet20", "ResNet18"):
        pretrained.unregister_weights(model, NAME)


def test_right_hash_loads_converts_and_caches_with_its_sha256(pytorchcv_release, keras_home, tmp_path):
    url_file = tmp_path / os.path.basename(pytorchcv_release["zip"])
    shutil.copy(pytorchcv_release["zip"], url_file)
    info = register("file://" + str(url_file), "sha1:" + pytorchcv_release["sha1"])
    model = keras_preact.PreActResNet20(weights=NAME, classifier_activation=None)
    x = pytorchcv_release["x"]
    np.testing.assert_allclose(np.asarray(model(x, training=False)), pytorchcv_release["logits"], atol=1e-4)
    converted = keras_home / converted_filename(info)
    assert (keras_home / f"{converted.name}.sha256").read_text().split()[0] == file_sha256(converted)
    names = [converted.name, f"{converted.name}.sha256", f"{converted.name}.lock"]
    assert sorted(p.name for p in keras_home.iterdir()) == sorted(names)  # the source file is not kept
    # Reused: the source is gone from its URL, and the cached file loads unchanged.
    url_file.unlink()
    mtime = converted.stat().st_mtime_ns
    again = keras_preact.PreActResNet20(weights=NAME, classifier_activation=None)
    np.testing.assert_array_equal(np.asarray(again(x, training=False)), np.asarray(model(x, training=False)))
    assert converted.stat().st_mtime_ns == mtime
    # A cached file that no longer matches its SHA-256 is fetched and converted again.
    shutil.copy(pytorchcv_release["zip"], url_file)
    with open(converted, "r+b") as f:
        f.seek(-16, os.SEEK_END)
        f.write(b"\0" * 16)
    third = keras_preact.PreActResNet20(weights=NAME, classifier_activation=None)
    np.testing.assert_array_equal(np.asarray(third(x, training=False)), np.asarray(model(x, training=False)))


def test_wrong_hash_is_refused_and_nothing_is_cached(pytorchcv_release, keras_home):
    register("file://" + pytorchcv_release["zip"], "sha1:" + "0" * 40)
    with pytest.raises(ValueError, match=r"does not match its publisher's hash sha1:0{40} \(found [0-9a-f]{40}\)"):
        keras_preact.PreActResNet20(weights=NAME)
    assert [p.suffix for p in keras_home.iterdir()] == [".lock"]  # the lock file alone, empty


def test_offline_error_names_the_url_and_the_convert_command(keras_home):
    url = "file:///nonexistent/preresnet20_cifar10-0651-76cec68d.pth.zip"
    register(url, "sha1:" + "0" * 40)
    with pytest.raises(OSError) as error:
        keras_preact.PreActResNet20(weights=NAME)
    message = str(error.value)
    assert url in message
    assert "keras-preact-convert --source pytorchcv --checkpoint FILE --model PreActResNet20" in message


def test_torchvision_sha256_prefix_is_checked(keras_home, tmp_path):
    model = peer_model("torchvision", "resnet18")
    path = save_peer_checkpoint("torchvision", model, str(tmp_path), "resnet18")
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    release = tmp_path / f"resnet18-{digest[:8]}.pth"
    os.rename(path, release)
    imagenet = dict(input_shape=(224, 224, 3), classes=1000, preprocessing="imagenet")
    wrong = digest[:7] + ("1" if digest[7] == "0" else "0")  # the prefix with its last digit changed
    register("file://" + str(release), f"sha256:{wrong}", model="ResNet18", source="torchvision", **imagenet)
    with pytest.raises(ValueError, match="does not match its publisher's hash"):
        keras_preact.ResNet18(weights=NAME)
    register("file://" + str(release), f"sha256:{digest[:8]}", model="ResNet18", source="torchvision", **imagenet)
    features = keras_preact.ResNet18(weights=NAME, include_top=False, pooling="avg", input_shape=(64, 64, 3))
    expected = model.eval().fc.weight.detach().numpy()
    full = keras_preact.ResNet18(weights=NAME, input_shape=(64, 64, 3))
    np.testing.assert_array_equal(full.get_layer("predictions").get_weights()[0], expected.T)
    assert features.output_shape == (None, 512)


def test_builder_checks_apply_to_ported_weights(pytorchcv_release, keras_home):
    register("file://" + pytorchcv_release["zip"], "sha1:" + pytorchcv_release["sha1"])
    with pytest.raises(ValueError, match=r"input_shape=\(32, 32, 1\) with 1 channels; the weights 'test_ported'"):
        keras_preact.PreActResNet20(weights=NAME, input_shape=(32, 32, 1))
    assert keras_preact.PreActResNet20(weights=NAME, classes=100).output_shape == (None, 100)  # a new classifier
    with pytest.raises(ValueError, match="need stem_activation='none'"):
        keras_preact.PreActResNet20(weights=NAME, stem_activation="shared")
    x = pytorchcv_release["x"]
    full = keras_preact.PreActResNet20(weights=NAME, classifier_activation=None)
    base = keras_preact.PreActResNet20(weights=NAME, include_top=False, pooling="avg")
    dense = full.get_layer("predictions")
    pooled = np.asarray(base(x, training=False))
    np.testing.assert_allclose(pooled @ dense.get_weights()[0] + dense.get_weights()[1], full(x), atol=1e-4)


def test_the_weights_page_lists_every_registration_with_its_facts():
    """docs/pretrained-weights.md has a row per ported weight, with its source file, hash,
    published accuracy, evaluation transform and larger test size as registered."""
    page = open(os.path.join(ROOT, "docs", "pretrained-weights.md")).read()
    rows = [line for line in page.splitlines() if line.startswith("| `") and "` | `" in line]
    for info in keras_preact.list_weights(details=True):
        if info.source == "keras_preact":
            continue
        (row,) = [r for r in rows if r.startswith(f"| `{info.model}` | `{info.name}` |")]
        assert info.published_accuracy.split(" (")[0] in row
        assert (info.source_hash or "none published")[:13] in row
        evaluation, test_size = row.split(" | ")[-2:]
        resize, crop = resize_and_crop_sizes(info)
        if info.resize_size is None:
            assert evaluation == f"{crop} x {crop} as is"
        else:
            assert (
                evaluation == f"{info.interpolation}, shorter side {resize}, crop {crop} (crop_pct {info.crop_pct:.3g})"
            )
        if info.test_size is None:
            assert test_size == "none |"
        else:
            shown = f"{info.test_size}, crop_pct {info.test_crop_pct:.3g}: {info.test_accuracy.split(' (')[0]} |"
            assert test_size == shown


def test_every_ported_registration_states_its_source_license_accuracy_and_preprocessing():
    infos = [i for i in keras_preact.list_weights(details=True) if i.source != "keras_preact"]
    assert len(infos) == 39
    for info in infos:
        assert (
            info.source in PUBLISHERS and info.license == PUBLISHERS[info.source].license and info.published_accuracy
        ), info
        assert info.url.startswith("https://") and info.sha256 is None and info.fetch is not None
        assert (info.source_hash is None) == (info.source in ("timm", "fb.resnet.torch"))
        x = np.full((1, *info.input_shape), 200.0, "float32")
        expected = (200.0 - np.asarray(info.mean)) / np.asarray(info.std)
        np.testing.assert_allclose(keras_preact.preprocess_input(x, info.preprocessing)[0, 0, 0], expected, rtol=1e-6)
        dataset = "imagenet" if info.name.startswith("torchvision_") else info.name
        assert info.classes == {"imagenet": 1000, "cifar10": 10, "cifar100": 100}[dataset]
