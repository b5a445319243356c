"""Strict loading of `.weights.h5` files: a file that fits a model only in part is
refused, naming the layer, instead of leaving layers at their initial weights."""

import warnings

import h5py
import keras
import pytest

import keras_preact
from keras_preact.models import strict_loading

SHAPE = (8, 8, 3)


def test_weights_of_another_architecture_fail_naming_the_layer(tmp_path):
    deeper = keras_preact.PreActResNet32(input_shape=SHAPE, classes=5)
    path = tmp_path / "preact32.weights.h5"
    deeper.save_weights(path)
    shallow = tmp_path / "preact20.weights.h5"
    keras_preact.PreActResNet20(input_shape=SHAPE, classes=5).save_weights(shallow)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # The file has layers the model lacks: Keras alone would load the rest silently.
        with pytest.raises(ValueError, match=r"another architecture.*layer\(s\) that 'preact_resnet20' does not have"):
            keras_preact.PreActResNet20(weights=path, input_shape=SHAPE, classes=5)
        # The file lacks layers of the model / has other shapes: the model layer is named.
        with pytest.raises(ValueError, match=r"does not fit 'preact_resnet32'.*stage\d_unit\d+_"):
            keras_preact.PreActResNet32(weights=shallow, input_shape=SHAPE, classes=5)
        with pytest.raises(ValueError, match=r"does not fit 'preact_resnet20'.*predictions"):
            keras_preact.PreActResNet20(weights=shallow, input_shape=SHAPE, classes=6)
    # Only the clear error: none of Keras' per-container warnings (dozens) before it.
    assert [str(w.message) for w in caught if "Skipping nested container" in str(w.message)] == []


class NestedBlocks(keras.layers.Layer):
    """A layer whose sublayers sit in nested lists, which Keras saves as `container*` groups."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.blocks = [[keras.layers.Dense(3)], [keras.layers.Dense(2)]]

    def call(self, x):
        for (block,) in self.blocks:
            x = block(x)
        return x


def test_a_file_lacking_a_nested_container_is_refused(tmp_path):
    # Keras loads such a file (as one written before it saved nested containers) with
    # only a warning, the container's layers keeping their initial weights.
    inputs = keras.Input((4,))
    model = keras.Model(inputs, NestedBlocks(name="nested")(inputs), name="nested_model")
    path = tmp_path / "nested.weights.h5"
    model.save_weights(path)
    strict_loading.load_weights_strict(model, path)  # the whole file loads
    with h5py.File(path, "a") as f:
        del f["layers/nested_blocks/blocks/container_1"]  # keys are class names
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match=r"does not fit 'nested_model': it lacks 1 nested container.*container_1"):
            strict_loading.load_weights_strict(model, path)
    assert [str(w.message) for w in caught if "Skipping nested container" in str(w.message)] == []


def test_weights_file_keys_match_what_keras_writes(tmp_path):
    model = keras_preact.PreActResNet20(input_shape=SHAPE, classes=5)
    path = tmp_path / "preact20.weights.h5"
    model.save_weights(path)
    with h5py.File(path, "r") as f:
        in_file = {k for k in f["layers"] if len(f["layers"][k].get("vars", {}))}
    keys = strict_loading.weights_file_keys(model)
    assert in_file == {k for k, name in keys.items() if model.get_layer(name).weights}
