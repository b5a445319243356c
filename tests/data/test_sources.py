"""Dataset sources by name: missing data and unknown names give clear errors."""

import pytest

from keras_preact.data import pipelines, sources


def test_missing_data_and_unknown_names_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Image folder not found: .*nowhere"):
        sources.load_source("imagenet", "train", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=r"apt-get install dataset-fashion-mnist"):
        sources.load_source("fashion_mnist", "train", str(tmp_path))
    with pytest.raises(ValueError, match=r"dataset='mnist'; expected one of"):
        sources.load_source("mnist")
    source = sources.load_source("synthetic_cifar", synthetic_size=16)
    with pytest.raises(ValueError, match=r"imagenet_augment='random'"):
        pipelines.make_dataset(source, "synthetic_cifar", training=True, batch_size=8, imagenet_augment="random")
