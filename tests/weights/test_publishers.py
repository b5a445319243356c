"""The publishers of released checkpoints: the names `--source` and the registry use."""

import pytest

import keras_preact


def test_source_names_the_publisher_as_the_registry_does():
    """`--source` takes `WeightsInfo.source`'s names (and "torch7", fb.resnet.torch's older name here)."""
    from keras_preact.weights.publishers import PUBLISHERS, get_publisher

    assert {i.source for i in keras_preact.list_weights(details=True)} - {"keras_preact"} == set(PUBLISHERS)
    assert get_publisher("torch7") is PUBLISHERS["fb.resnet.torch"]
    with pytest.raises(ValueError, match=r"Received: source='caffe'; expected one of \('torchvision'"):
        get_publisher("caffe")
