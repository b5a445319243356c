"""keras_preact.models.batch_norm.BatchNormalization: Keras' arithmetic through TF's fused kernels."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_preact
from keras_preact.models import batch_norm
from keras_preact.models.batch_norm import BatchNormalization as FusedBatchNormalization
from keras_preact.models.layers import BN_EPSILON, BN_MOMENTUM

from tests.helpers import ROOT


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


def _train_step(layer, x, upstream, training, unknown_batch=False):
    """One traced step; with `unknown_batch` the trace sees a batch dimension of None."""
    spec = tf.TensorSpec((None, *x.shape[1:]))

    @tf.function(input_signature=[spec, spec] if unknown_batch else None)
    def step(x, upstream):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
            loss = tf.reduce_sum(y * upstream)
        return [y, *tape.gradient(loss, [x, *layer.trainable_variables])]

    outputs = [v.numpy() for v in step(x, upstream)]
    return outputs + [layer.moving_mean.numpy(), layer.moving_variance.numpy()]


CASES = {
    "train_nhwc": dict(shape=(8, 6, 5, 7), axis=-1, training=True),
    "train_one_pixel": dict(shape=(3, 1, 1, 4), axis=-1, training=True),
    "train_unknown_batch": dict(shape=(8, 6, 5, 7), axis=-1, training=True, unknown_batch=True),
    "train_unknown_batch_two_values": dict(shape=(2, 1, 1, 4), axis=-1, training=True, unknown_batch=True),
    "inference": dict(shape=(8, 6, 5, 7), axis=-1, training=False),
    "inference_channels_first_falls_back": dict(shape=(4, 7, 6, 5), axis=1, training=False),
    "train_channels_first_falls_back": dict(shape=(4, 7, 6, 5), axis=1, training=True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fused_batch_norm_matches_keras_outputs_gradients_and_moving_statistics(case):
    shape, axis, training = CASES[case]["shape"], CASES[case]["axis"], CASES[case]["training"]
    x = tf.random.stateless_normal(shape, (7, 1)) * 3.0 + 1.5
    upstream = tf.random.stateless_normal(shape, (7, 2))
    unknown_batch = CASES[case].get("unknown_batch", False)
    reference, fused = (_train_step(layer, x, upstream, training, unknown_batch) for layer in _pair(shape, axis))
    names = ["output", "input gradient", "gamma gradient", "beta gradient", "moving mean", "moving variance"]
    for name, a, b in zip(names, reference, fused):
        scale = max(1.0, float(np.abs(a).max()))
        np.testing.assert_allclose(b, a, atol=2e-6 * scale, err_msg=name)
    if training:
        assert not np.allclose(fused[-1], _pair(shape, axis)[1].moving_variance.numpy()), "moving stats not updated"


def _op_types(function, shape):
    return {op.type for op in tf.function(function).get_concrete_function(tf.TensorSpec(shape)).graph.get_operations()}


def _with_random_weights(model, seed):
    """`model` with fixed random weights (a positive moving variance): the same for both BN classes."""
    for i, variable in enumerate(model.weights):
        value = tf.random.stateless_normal(variable.shape, (i, seed))
        variable.assign(tf.abs(value) + 0.5 if "variance" in variable.path else value)
    return model


def _conv_bn(bn_class, shape):
    """A Conv2D followed by a BN of `bn_class`, both with fixed random weights."""
    conv = keras.layers.Conv2D(5, 3, padding="same", use_bias=False)
    bn = bn_class(epsilon=BN_EPSILON, momentum=BN_MOMENTUM)
    inputs = keras.Input(shape[1:])
    return _with_random_weights(keras.Model(inputs, keras.layers.ReLU()(bn(conv(inputs)))), seed=3)


def _bn_on_a_sum(bn_class, shape):
    """A BN reading the sum of two inputs, then a ReLU: a pre-activation, with random weights."""
    a, b = keras.Input(shape[1:]), keras.Input(shape[1:])
    bn = bn_class(epsilon=BN_EPSILON, momentum=BN_MOMENTUM)
    return _with_random_weights(keras.Model([a, b], keras.layers.ReLU()(bn(keras.layers.Add()([a, b])))), seed=4)


def test_inference_kernels_by_producer_training_and_layout():
    layer = _pair((2, 4, 4, 3))[1]
    assert "FusedBatchNormV3" in _op_types(lambda x: layer(x, training=True), (2, 4, 4, 3))
    # In inference, a BN that reads anything but a conv output is the platform's form of
    # Keras' multiply-add (a 1x1 depthwise conv with oneDNN, else Keras' ops) ...
    inference = _op_types(lambda x: layer(x, training=False), (2, 4, 4, 3))
    assert ("DepthwiseConv2dNative" in inference) == (batch_norm.preactivation_form() == "depthwise")
    assert "FusedBatchNormV3" not in inference
    channels_first = _pair((2, 3, 4, 4), axis=1)[1]
    for training in (True, False):
        keras_ops = _op_types(lambda x: channels_first(x, training=training), (2, 3, 4, 4))
        assert not {"FusedBatchNormV3", "DepthwiseConv2dNative"} & keras_ops
    # ... and one that reads a conv output runs the kernel, so Grappler can fuse the two.
    model = _conv_bn(FusedBatchNormalization, (2, 6, 6, 3))
    assert "FusedBatchNormV3" in _op_types(lambda x: model(x, training=False), (2, 6, 6, 3))


@pytest.mark.parametrize("form", ["depthwise", "keras"])
def test_each_preactivation_form_runs_its_ops_with_keras_values(monkeypatch, form):
    monkeypatch.setattr(batch_norm, "preactivation_form", lambda: form)
    shape = (2, 5, 4, 6)
    a, b = (tf.random.stateless_normal(shape, (7, seed)) * 2.0 for seed in (2, 3))
    fused, reference = (_bn_on_a_sum(cls, shape) for cls in (FusedBatchNormalization, keras.layers.BatchNormalization))
    run = tf.function(lambda a, b: fused([a, b], training=False))
    ops = {
        op.type for op in run.get_concrete_function(tf.TensorSpec(shape), tf.TensorSpec(shape)).graph.get_operations()
    }
    assert ("DepthwiseConv2dNative" in ops) == (form == "depthwise") and "FusedBatchNormV3" not in ops
    np.testing.assert_allclose(run(a, b), reference([a, b], training=False), rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_the_preactivation_form_follows_onednn():
    """Depthwise where TensorFlow runs with oneDNN (whose remapper fuses it with the ReLU),
    Keras' ops where it does not (TF_ENABLE_ONEDNN_OPTS=0, or CPUs where oneDNN is off)."""
    code = (
        "from tensorflow.python.util import _pywrap_util_port\n"
        "from keras_preact.models.batch_norm import preactivation_form\n"
        "print(_pywrap_util_port.IsMklEnabled(), preactivation_form())\n"
    )
    for setting in ("0", "1"):
        env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": setting, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT}
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        enabled, form = done.stdout.split()
        assert form == ("depthwise" if enabled == "True" else "keras"), setting
        if setting == "0":
            assert form == "keras"


def _grappler_nodes(run, *specs):
    """The nodes of `run`'s graph after Grappler's CPU optimisations (remapper included)."""
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.grappler import tf_optimizer

    concrete = run.get_concrete_function(*specs)
    graph = concrete.graph
    for op in graph.get_operations():
        op._set_device("/device:CPU:0")
    meta_graph = tf.compat.v1.train.export_meta_graph(graph_def=graph.as_graph_def(add_shapes=True), graph=graph)
    meta_graph.collection_def["train_op"].node_list.value.extend([t.op.name for t in concrete.outputs])
    return tf_optimizer.OptimizeGraph(config_pb2.ConfigProto(), meta_graph).node


def test_inference_after_a_conv_matches_keras_and_grappler_fuses_conv_bn_relu():
    shape = (2, 6, 6, 3)
    x = tf.random.stateless_normal(shape, (9, 1)) * 2.0
    fused, reference = (_conv_bn(cls, shape) for cls in (FusedBatchNormalization, keras.layers.BatchNormalization))
    run = tf.function(lambda x: fused(x, training=False))
    np.testing.assert_allclose(run(x), reference(x, training=False), rtol=1e-5, atol=1e-5)
    nodes = _grappler_nodes(run, tf.TensorSpec(shape))
    fused_ops = [list(node.attr["fused_ops"].list.s) for node in nodes if node.op == "_FusedConv2D"]
    assert fused_ops == [[b"FusedBatchNorm", b"Relu"]], [node.op for node in nodes]


def _onednn_enabled():
    from tensorflow.python.util import _pywrap_util_port

    return _pywrap_util_port.IsMklEnabled()


def test_preactivation_inference_matches_keras_and_grappler_fuses_bn_relu():
    """The fusion is oneDNN's (on by default in x86 Linux builds; TF_ENABLE_ONEDNN_OPTS=0 turns it off)."""
    shape = (2, 5, 4, 6)
    a, b = (tf.random.stateless_normal(shape, (9, seed)) * 2.0 for seed in (2, 3))
    fused, reference = (_bn_on_a_sum(cls, shape) for cls in (FusedBatchNormalization, keras.layers.BatchNormalization))
    run = tf.function(lambda a, b: fused([a, b], training=False))
    np.testing.assert_allclose(run(a, b), reference([a, b], training=False), rtol=1e-6, atol=1e-6)
    if not _onednn_enabled():
        pytest.skip("Grappler fuses depthwise conv, bias add and ReLU only with oneDNN")
    nodes = _grappler_nodes(run, tf.TensorSpec(shape), tf.TensorSpec(shape))
    fused_ops = [list(node.attr["fused_ops"].list.s) for node in nodes if node.op == "_FusedDepthwiseConv2dNative"]
    assert fused_ops == [[b"BiasAdd", b"Relu"]], [node.op for node in nodes]
    assert not {"Relu", "FusedBatchNormV3"} & {node.op for node in nodes}


def test_models_use_fused_batch_norm_and_round_trip(tmp_path):
    model = keras_preact.get_model("PreActResNet8", input_shape=(16, 16, 3), classes=4)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(type(layer) is FusedBatchNormalization for layer in norms)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    # Saved under Keras' name, so the file loads without the package; loaded, Keras' layer runs.
    assert type(loaded.get_layer(norms[0].name)) is keras.layers.BatchNormalization
    x = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(loaded(x, training=False), model(x, training=False), rtol=1e-6, atol=1e-6)


def test_weight_files_of_keras_batch_norm_models_load_and_vice_versa(tmp_path):
    """Keras 3 keys weight files by class name; the fused class must not change the keys."""
    kwargs = dict(input_shape=(16, 16, 3), classes=4)
    plain = keras_preact.get_model("PreActResNet8", norm="keras", **kwargs)
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
    traced = tf.function(lambda x: fused(x, training=False))  # the fused inference kernel after convs
    np.testing.assert_allclose(traced(x), plain(x, training=False), rtol=1e-5, atol=1e-5)
    back = str(tmp_path / "fused.weights.h5")
    fused.save_weights(back)
    plain.load_weights(back)
    np.testing.assert_allclose(plain(x, training=False), fused(x, training=False), rtol=1e-6, atol=1e-6)
