"""From an image file to a ported weight's prediction, end to end: a torchvision
checkpoint with random weights, registered with a local `file://` URL as the ported
weights are, fetched and converted by the package, on a real photo through
`eval_transform`, against torchvision's own transform and forward pass; and the same
weights with a new classifier (`classes=10`)."""

import hashlib
import os

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")  # before TensorFlow (tests/conftest.py)

import matplotlib.cbook  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import keras_preact  # noqa: E402
from keras_preact.models import pretrained  # noqa: E402
from keras_preact.weights.ported import fetch_ported  # noqa: E402
from keras_preact.weights.publishers import torchvision as torchvision_publisher  # noqa: E402

from tests.helpers.peer_checkpoints import peer_model, randomize  # noqa: E402

NAME = "test_end_to_end"
PHOTO = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")).convert("RGB")


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """torchvision's resnet18 with random weights, saved and registered as its hub file is
    (named with its SHA-256 prefix, which the fetch checks); its eval-mode model."""
    directory = tmp_path_factory.mktemp("torchvision")
    model = randomize(peer_model("torchvision", "resnet18"), 64)
    path = directory / "resnet18.pth"
    torch.save(model.state_dict(), path)
    prefix = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
    os.rename(path, directory / f"resnet18-{prefix}.pth")
    entry = next(e for e in torchvision_publisher.PUBLISHER.releases if e["name"] == "torchvision_imagenet1k_v1")
    entry = {**entry, "model": "ResNet18", "name": NAME, "url": f"file://{directory}/resnet18-{prefix}.pth"}
    entry["source_hash"] = f"sha256:{prefix}"
    yield model, keras_preact.register_weights(**entry, fetch=fetch_ported)
    pretrained.unregister_weights("ResNet18", NAME)


@pytest.fixture(autouse=True)
def keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))


def test_a_photo_gets_the_publishers_top_5_through_eval_transform(release):
    torch_model, _ = release
    with torch.no_grad():
        theirs = torch_model(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.transforms()(PHOTO)[None])[0].numpy()
    model = keras_preact.ResNet18(weights=NAME, classifier_activation=None)
    x = keras_preact.eval_transform("ResNet18", NAME)(np.asarray(PHOTO))
    ours = np.asarray(model(x[None], training=False))[0]
    assert x.shape == (224, 224, 3)
    # The transforms differ by ~0.2 grey levels on average (tests/models/test_transforms.py); the
    # logits of this random-weight net differ by that much and no more:
    tolerance = 0.05 * np.abs(theirs).max()
    assert np.abs(ours - theirs).max() < tolerance
    # The same top-5, but for classes whose logits tie within that difference at the
    # edge of the five (this net's 5th and 6th logits can be that close).
    top, their_top = set(np.argsort(-ours)[:5]), set(np.argsort(-theirs)[:5])
    fifth = np.sort(theirs)[-5]
    assert all(abs(theirs[c] - fifth) < 2 * tolerance for c in top ^ their_top), (top, their_top)
    assert np.argsort(-ours)[0] == np.argsort(-theirs)[0]


def test_a_new_classifier_keeps_every_other_layer_of_the_registered_weights(release):
    pretrained_model = keras_preact.ResNet18(weights=NAME)
    model = keras_preact.ResNet18(weights=NAME, classes=10)
    assert model.get_layer("predictions").get_weights()[0].shape == (512, 10)
    for layer in model.layers:
        if layer.name == "predictions" or not layer.weights:
            continue
        for ours, theirs in zip(layer.get_weights(), pretrained_model.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(ours, theirs, err_msg=layer.name)
