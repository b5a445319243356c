"""One parametrized suite over every registered model, at small inputs.

Forward passes that check finiteness run in training mode. At initialisation the BN
moving statistics are 0 and 1, so in inference mode BN is the identity and the
activations of the 1000-layer nets grow with every unit until they overflow (as they
do in any framework); batch statistics keep them finite.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_preact

from tests.helpers.marks import grouped
from tests.helpers.models import SMALL_SHAPE, default_model, is_deep

MODELS = keras_preact.list_models()
CLASSES = 7  # not the default of either family
BATCH = 2
POOLINGS = (None, "avg", "max")


def family(name):
    return keras_preact.models.registry.MODELS[name]["family"]


def repeats_shallower_units(name):
    """Deeper than one net of its family and block needs to be: ImageNet 101, 152, 200 and
    CIFAR 110 stack more of the units that 50 and 56 already have (CIFAR's bottleneck nets
    start at 164, which stays). They run the forward and gradient checks; the .keras round
    trip and the feature extractor are checked on the shallower nets."""
    depth = keras_preact.models.registry.MODELS[name]["depth"]
    return depth > 56 and depth != 164


# The 1000-layer nets run the forward and gradient checks (structure and counts elsewhere),
# not the slower .keras round trip and feature extractor.


def images(shape, seed=0):
    return np.random.default_rng(seed).normal(size=(BATCH, *shape)).astype("float32")


_BUILT = {}


@pytest.fixture(params=[grouped(name, slow=is_deep(name)) for name in MODELS])
def built(request):
    """(name, model with logits, images, classes), built once per worker. A 1000-layer net
    is the session's default model (tests.helpers.models.default_model, also used for the parameter
    counts), so that it is built once per session."""
    name = request.param
    if name not in _BUILT:
        if is_deep(name):
            model = default_model(name)
            _BUILT[name] = name, model, images(model.input_shape[1:]), model.output_shape[-1]
        else:
            shape = SMALL_SHAPE[family(name)]
            model = keras_preact.get_model(name, input_shape=shape, classes=CLASSES, classifier_activation=None)
            _BUILT[name] = name, model, images(shape), CLASSES
    return _BUILT[name]


def test_output_shape_and_finite(built):
    name, model, x, classes = built
    logits = model(x, training=True)
    assert logits.shape == (BATCH, classes)
    assert np.all(np.isfinite(logits))
    if not is_deep(name):
        assert np.all(np.isfinite(model(x, training=False)))


def test_gradients_reach_every_trainable_weight(built):
    name, model, x, classes = built
    target = tf.constant(np.random.default_rng(1).normal(size=(BATCH, classes)), tf.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x, training=True) * target)
    grads = tape.gradient(loss, model.trainable_weights)
    dead = [w.path for w, g in zip(model.trainable_weights, grads) if g is None or not np.any(g.numpy())]
    assert not dead, dead[:5]


def test_keras_file_round_trip_gives_the_same_outputs(built, tmp_path):
    name, model, x, _ = built
    if is_deep(name) or repeats_shallower_units(name):
        pytest.skip("the .keras round trip is checked on one net per family and block up to 56 layers, and 164")
    path = tmp_path / f"{name}.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert [l.name for l in restored.layers] == [l.name for l in model.layers]
    for ours, theirs in zip(model.weights, restored.weights):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=ours.path)
    # The file names Keras' BatchNormalization (it loads without the package), whose ops
    # differ from the fused kernels' in rounding only (tests/models/test_batch_norm.py
    # compares the two layers; batch statistics of 2 small images amplify rounding, so
    # inference is compared).
    np.testing.assert_allclose(restored(x, training=False), model(x, training=False), rtol=1e-4, atol=1e-4)


def feature_cases():
    """Every pooling for every model but those that repeat shallower units."""
    cases = []
    for name in MODELS:
        if not repeats_shallower_units(name):
            cases += [grouped(name, name, pooling, id=f"{name}-{pooling}") for pooling in POOLINGS]
    return cases


@pytest.mark.parametrize("name, pooling", feature_cases())
def test_feature_extractor_with_custom_input_tensor(name, pooling):
    inputs = keras.Input(SMALL_SHAPE[family(name)], name="my_images")
    model = keras_preact.get_model(name, include_top=False, pooling=pooling, input_tensor=inputs)
    arch = keras_preact.models.registry.MODELS[name]
    spec = keras_preact.models.specs.get_spec(arch["depth"], arch["family"], arch["block"])
    width = spec.output_width(len(spec.stage_units) - 1)
    assert model.inputs[0] is inputs and model.input is inputs
    assert "predictions" not in {l.name for l in model.layers}
    out = model(images(inputs.shape[1:]), training=True)
    side = inputs.shape[1] // (32 if family(name) == "imagenet" else 4)
    assert out.shape == ((BATCH, width) if pooling else (BATCH, side, side, width))
    if pooling == "max" and not is_deep(name):
        features = keras_preact.get_model(name, include_top=False, input_tensor=inputs)
        features.set_weights(model.get_weights())
        np.testing.assert_allclose(
            out, np.max(features(images(inputs.shape[1:]), training=True), axis=(1, 2)), rtol=1e-5, atol=1e-6
        )


def test_softmax_head_is_a_distribution():
    model = keras_preact.PreActResNet20(input_shape=(8, 8, 3), classes=CLASSES)
    probs = model(images((8, 8, 3)), training=False)
    np.testing.assert_allclose(np.sum(probs, axis=-1), 1.0, rtol=1e-5)
    assert np.all(probs > 0)


def test_a_model_without_stem_activation_round_trips_through_a_keras_file(tmp_path):
    model = keras_preact.PreActResNet18(weights=None, input_shape=(64, 64, 3), stem_activation="none")
    assert [layer.name for layer in model.layers[1:5]] == ["conv1_pad", "conv1", "pool1", "stage1_unit1_preact_bn"]
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    x = images((64, 64, 3))
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), atol=1e-6)
