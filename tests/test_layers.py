"""keras_preact.layers.BatchNormalization: Keras' arithmetic through TF's fused kernel."""

from unittest import mock

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_preact
from keras_preact.layers import BN_EPSILON, BN_MOMENTUM
from keras_preact.layers import BatchNormalization as FusedBatchNormalization


def _pair(shape, axis=-1, **kwargs):
    """Keras' BatchNormalization and the package's, with equal random weights."""
    pair = [
        cls(axis=axis, epsilon=BN_EPSILON, momentum=BN_MOMENTUM, **kwargs)
        for cls in (keras.layers.BatchNormalization, FusedBatchNormalization)
    ]
    channels = shape[axis]
    weights = [tf.random.stateless_normal((channels,), (seed, 0)) for seed in range(4)]
    weights[3] = tf.abs(weights[3]) + 0.5  # a positive moving variance
    for layer in pair:
        layer.build(shape)
        layer.set_weights([w.numpy() for w in weights])
    return pair


def _train_step(layer, x, upstream, training):
    @tf.function
    def step():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
            loss = tf.reduce_sum(y * upstream)
        return [y, *tape.gradient(loss, [x, *layer.trainable_variables])]

    outputs = [v.numpy() for v in step()]
    return outputs + [layer.moving_mean.numpy(), layer.moving_variance.numpy()]


CASES = {
    "train_nhwc": dict(shape=(8, 6, 5, 7), axis=-1, training=True),
    "train_one_pixel": dict(shape=(3, 1, 1, 4), axis=-1, training=True),
    "inference": dict(shape=(8, 6, 5, 7), axis=-1, training=False),
    "inference_channels_first_falls_back": dict(shape=(4, 7, 6, 5), axis=1, training=False),
    "train_channels_first_falls_back": dict(shape=(4, 7, 6, 5), axis=1, training=True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fused_batch_norm_matches_keras_outputs_gradients_and_moving_statistics(case):
    shape, axis, training = CASES[case]["shape"], CASES[case]["axis"], CASES[case]["training"]
    x = tf.random.stateless_normal(shape, (7, 1)) * 3.0 + 1.5
    upstream = tf.random.stateless_normal(shape, (7, 2))
    reference, fused = (_train_step(layer, x, upstream, training) for layer in _pair(shape, axis))
    names = ["output", "input gradient", "gamma gradient", "beta gradient", "moving mean", "moving variance"]
    for name, a, b in zip(names, reference, fused):
        scale = max(1.0, float(np.abs(a).max()))
        np.testing.assert_allclose(b, a, atol=2e-6 * scale, err_msg=name)
    if training:
        assert not np.allclose(fused[-1], _pair(shape, axis)[1].moving_variance.numpy()), "moving stats not updated"


def test_fused_batch_norm_runs_the_fused_kernel_in_training_only():
    def op_types(layer, shape, training):
        function = tf.function(lambda x: layer(x, training=training))
        return {op.type for op in function.get_concrete_function(tf.TensorSpec(shape)).graph.get_operations()}

    layer = _pair((2, 4, 4, 3))[1]
    assert "FusedBatchNormV3" in op_types(layer, (2, 4, 4, 3), True)
    assert "FusedBatchNormV3" not in op_types(layer, (2, 4, 4, 3), False)
    channels_first = _pair((2, 3, 4, 4), axis=1)[1]
    assert "FusedBatchNormV3" not in op_types(channels_first, (2, 3, 4, 4), True)


def test_models_use_fused_batch_norm_and_round_trip(tmp_path):
    model = keras_preact.get_model("PreActResNet8", input_shape=(16, 16, 3), classes=4)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(type(layer) is FusedBatchNormalization for layer in norms)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.get_layer(norms[0].name)) is FusedBatchNormalization
    x = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype("float32")
    np.testing.assert_array_equal(loaded(x, training=False), model(x, training=False))


def test_weight_files_of_keras_batch_norm_models_load_and_vice_versa(tmp_path):
    """Keras 3 keys weight files by class name; the fused class must not change the keys."""
    kwargs = dict(input_shape=(16, 16, 3), classes=4)
    with mock.patch.object(keras_preact.layers, "BatchNormalization", keras.layers.BatchNormalization):
        plain = keras_preact.get_model("PreActResNet8", **kwargs)
    assert type(plain.get_layer("post_bn")) is keras.layers.BatchNormalization
    keras.utils.set_random_seed(5)
    for layer in plain.layers:
        for variable in layer.weights:
            variable.assign(np.random.normal(size=variable.shape).astype("float32") * 0.1 + 1.0)
    path = str(tmp_path / "plain.weights.h5")
    plain.save_weights(path)
    fused = keras_preact.get_model("PreActResNet8", weights=path, **kwargs)
    x = np.random.default_rng(1).normal(size=(2, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(fused(x, training=False), plain(x, training=False), rtol=1e-6, atol=1e-6)
    back = str(tmp_path / "fused.weights.h5")
    fused.save_weights(back)
    plain.load_weights(back)
    np.testing.assert_allclose(plain(x, training=False), fused(x, training=False), rtol=1e-6, atol=1e-6)
