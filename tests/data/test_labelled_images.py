"""Labelled images to score a classifier on: an ImageFolder's labels (sorted folders,
or ImageNet WordNet ids), a tfds dataset already on disk read as it was written (its
own labels, the model's channels), and the refusals of what is not there."""

import numpy as np
import pytest

from keras_preact.data import labelled_images
from keras_preact.models.decoding import class_names

from tests.helpers.fashion_mnist_folder import write_tfds_dataset
from tests.helpers.marks import needs_fashion_mnist

WORDNET_IDS = [wnid for wnid, _ in class_names("imagenet")]


def test_wordnet_id_folders_take_their_imagenet_labels():
    folders = ["n01440764", "n01443537", "n15075141"]
    assert labelled_images.folder_labels(folders, 1000, WORDNET_IDS) == ([0, 1, 999], "wordnet")
    assert labelled_images.folder_labels(["n01440764", "other"], 1000, WORDNET_IDS) == ([0, 1], "sorted")
    assert labelled_images.folder_labels(["n01440764"], 10, WORDNET_IDS) == ([0], "sorted")
    with pytest.raises(ValueError, match="3 class subfolders; the model has 2 classes"):
        labelled_images.folder_labels(["a", "b", "c"], 2, WORDNET_IDS)


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tensorflow_datasets")
    images, labels = write_tfds_dataset(data_dir, count=40)
    return str(data_dir), images, labels


@needs_fashion_mnist
@pytest.mark.parametrize("channels", [1, 3])
def test_a_tfds_dataset_on_disk_streams_its_images_and_labels(tfds_dir, channels):
    data_dir, images, labels = tfds_dir
    stream, count, classes = labelled_images.tfds_stream("fashion_mnist", None, data_dir, channels)
    pairs = list(stream.as_numpy_iterator())
    assert (count, classes, len(pairs)) == (40, 10, 40)
    expected = images if channels == 1 else np.repeat(images, 3, axis=-1)  # grey repeated into RGB
    # tfds shuffles examples as it writes them: the same (image, label) pairs, in its order.
    assert sorted((int(label), image.tobytes()) for image, label in pairs) == sorted(
        (int(label), image.tobytes()) for image, label in zip(expected, labels)
    )


@needs_fashion_mnist
@pytest.mark.parametrize(
    "name, split, message",
    [
        ("fashion_mnist", "train", "tfds:fashion_mnist:train: no split 'train'; one of ['test']"),
        ("cifar10", None, "tfds:cifar10: not prepared in --tfds-data-dir"),
        ("no_such_dataset_here", None, "tensorflow-datasets has no such dataset"),
    ],
    ids=["split", "not prepared", "unknown"],
)
def test_what_is_not_on_disk_is_named_in_one_line(tfds_dir, name, split, message):
    with pytest.raises(ValueError) as refused:
        labelled_images.tfds_stream(name, split, tfds_dir[0], 1)
    assert message in str(refused.value) and "\n" not in str(refused.value)
