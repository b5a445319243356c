"""`classes=N` with registered weights: the pretrained body with a new classifier, as
timm's `num_classes=` and keras-hub load it."""

import keras
import numpy as np

import keras_preact


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
