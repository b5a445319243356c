"""Every public function of the models API answers a wrong argument, of any type, with
one ValueError that names the argument and echoes the value: never a TypeError,
AttributeError or KeyError from deeper down.

Each case is (call, argument, bad value): `call(models, value)` passes the bad value
as that argument, with valid values for the others; `models` holds the tiny models the
calls need.
"""

import re
import types

import numpy as np
import pytest

import keras_preact
from keras_preact.models import includes_preprocessing, model_arguments, pyramid_outputs

SHAPE = (8, 8, 3)
X, Y = np.zeros((2, *SHAPE), "float32"), np.zeros((2,), "int64")


@pytest.fixture(scope="module")
def models():
    compiled = keras_preact.PreActResNet20(input_shape=SHAPE, classes=3)
    compiled.compile("sgd", "sparse_categorical_crossentropy")
    base = keras_preact.PreActResNet20(input_shape=SHAPE, include_top=False)
    return types.SimpleNamespace(base=base, compiled=compiled)


def build(**kwargs):
    """build_resnet of a CIFAR ResNet-20 at 8x8x3, `kwargs` overriding the defaults."""
    return keras_preact.build_resnet(**{"depth": 20, "family": "cifar", "input_shape": SHAPE, **kwargs})


def shortcut(kind, options):
    """build() with a shortcut kind and its options."""
    return build(shortcut=kind, shortcut_options=options)


def case(call, argument, value, id):
    return pytest.param(call, argument, value, id=id)


BUILDER_CASES = [
    case(lambda m, v: build(depth=v), "depth", "20", "build_resnet-depth-str"),
    case(lambda m, v: build(depth=v), "depth", None, "build_resnet-depth-None"),
    case(lambda m, v: build(family=v), "family", ["cifar"], "build_resnet-family-list"),
    case(lambda m, v: build(version=v), "version", True, "build_resnet-version-bool"),
    case(lambda m, v: build(version=v), "version", "2", "build_resnet-version-str"),
    case(lambda m, v: build(block=v), "block", ["basic"], "build_resnet-block-list"),
    case(lambda m, v: build(activation_order=v), "activation_order", ["full_preact"], "activation_order-list"),
    case(lambda m, v: build(shortcut=v), "shortcut", None, "shortcut-None"),
    case(lambda m, v: shortcut("dropout", v), "shortcut_options", "rate", "shortcut_options-str"),
    case(lambda m, v: shortcut("dropout", v), "shortcut_options", [("rate", 0.5)], "shortcut_options-list"),
    case(lambda m, v: shortcut("dropout", {"rate": v}), "shortcut_options", "high", "shortcut_options-rate-str"),
    case(lambda m, v: shortcut("constant_scaling", {"scale": v}), "shortcut_options", None, "shortcut_options-scale"),
    case(lambda m, v: shortcut("exclusive_gating", {"gate_bias": v}), "shortcut_options", "-6", "gate_bias-str"),
    case(lambda m, v: build(downsample_shortcut=v), "downsample_shortcut", ["zero_pad"], "downsample_shortcut-list"),
    case(lambda m, v: build(stride_on=v), "stride_on", 3, "stride_on-int"),
    case(lambda m, v: build(include_top=v), "include_top", "no", "include_top-str"),
    case(lambda m, v: build(include_top=v), "include_top", None, "include_top-None"),
    case(lambda m, v: build(weights=v), "weights", ["fashion_mnist"], "weights-list"),
    case(lambda m, v: build(weights=v), "weights", 1, "weights-int"),
    case(lambda m, v: build(input_tensor=v), "input_tensor", "input", "input_tensor-str"),
    case(lambda m, v: build(input_shape=v), "input_shape", "8x8", "input_shape-str"),
    case(lambda m, v: build(input_shape=v), "input_shape", [[8], [8], [3]], "input_shape-nested"),
    case(lambda m, v: build(input_shape=v), "input_shape", 8, "input_shape-int"),
    case(lambda m, v: build(input_shape=v), "input_shape", (8.0, 8, 3), "input_shape-floats"),
    case(lambda m, v: build(include_top=False, pooling=v), "pooling", ["avg"], "pooling-list"),
    case(lambda m, v: build(classes=v), "classes", "10", "classes-str"),
    case(lambda m, v: build(classifier_activation=v), "classifier_activation", ["softmax"], "activation-list"),
    case(lambda m, v: build(name=v), "name", 5, "name-int"),
    case(lambda m, v: build(norm=v), "norm", None, "norm-None"),
    case(lambda m, v: build(include_preprocessing=v, dataset="cifar10"), "include_preprocessing", "yes", "prep-str"),
    case(lambda m, v: build(include_preprocessing=True, dataset=v), "dataset", ["cifar10"], "dataset-list"),
    case(lambda m, v: build(drop_path_rate=v), "drop_path_rate", "0.1", "drop_path_rate-str"),
    case(lambda m, v: build(zero_init_residual=v), "zero_init_residual", None, "zero_init_residual-None"),
    case(lambda m, v: build(stem_activation=v), "stem_activation", ["none"], "stem_activation-list"),
    case(lambda m, v: keras_preact.PreActResNet20(input_shape=SHAPE, foo=v), "foo", 1, "named-unknown-argument"),
    case(lambda m, v: keras_preact.PreActResNet20(depth=v), "depth", 56, "named-argument-its-name-sets"),
    case(lambda m, v: keras_preact.get_model(v), "model", ["PreActResNet20"], "get_model-list"),
    case(lambda m, v: keras_preact.get_model(v), "model", None, "get_model-None"),
    case(lambda m, v: keras_preact.get_model(v), "model", {"name": "ResNet20"}, "get_model-dict"),
    case(lambda m, v: keras_preact.get_model(v), "model", "PreActResNet21", "get_model-unknown"),
    case(lambda m, v: keras_preact.get_model("ResNet14", version=v), "version", 2, "get_model-argument-its-name-sets"),
    case(lambda m, v: keras_preact.get_model("ResNet14", bar=v), "bar", 1, "get_model-unknown-argument"),
    case(lambda m, v: model_arguments(v), "model", ["ResNet20"], "model_arguments-list"),
    case(lambda m, v: keras_preact.list_models(v), "pattern", ["PreAct*"], "list_models-pattern-list"),
    case(lambda m, v: keras_preact.list_models(family=v), "family", ["cifar"], "list_models-family-list"),
    case(lambda m, v: keras_preact.list_models(version=v), "version", "2", "list_models-version-str"),
    case(lambda m, v: keras_preact.list_models(pretrained=v), "pretrained", None, "list_models-pretrained-None"),
]

FUNCTION_CASES = [
    case(lambda m, v: keras_preact.preprocess_input(v), "x", None, "preprocess_input-x-None"),
    case(lambda m, v: keras_preact.preprocess_input(v), "x", "image", "preprocess_input-x-str"),
    case(lambda m, v: keras_preact.preprocess_input(v), "x", [[1, 2], [3]], "preprocess_input-x-ragged"),
    case(lambda m, v: keras_preact.preprocess_input(X, v), "dataset", ["cifar10"], "preprocess_input-dataset-list"),
    case(lambda m, v: keras_preact.preprocess_input(X, v), "dataset", None, "preprocess_input-dataset-None"),
    case(lambda m, v: keras_preact.preprocess_input(X, "cifar10", v), "data_format", ["channels_last"], "data_format"),
    case(lambda m, v: keras_preact.preprocess_input(X, model=v, weights="imagenet"), "model", 50, "preprocess-model"),
    case(
        lambda m, v: keras_preact.preprocess_input(X, v, model="ResNet50", weights="imagenet"), "dataset", "svhn", "ds"
    ),
    case(lambda m, v: keras_preact.eval_transform(v, "imagenet"), "model", None, "eval_transform-model-None"),
    case(lambda m, v: keras_preact.eval_transform("ResNet50", v), "weights", ["imagenet"], "eval_transform-weights"),
    case(lambda m, v: keras_preact.eval_transform("ResNet50", "imagenet", v), "size", "224", "eval_transform-size-str"),
    case(lambda m, v: keras_preact.eval_transform("ResNet50", "imagenet", v), "size", 0, "eval_transform-size-0"),
    case(lambda m, v: keras_preact.decode_predictions(np.zeros((1, 10)), 3, v), "dataset", ["cifar10"], "decode-ds"),
    case(lambda m, v: keras_preact.decode_predictions(np.zeros((1, 10)), v, "cifar10"), "top", "3", "decode-top"),
    case(lambda m, v: keras_preact.decode_predictions(v, 3, "cifar10"), "preds", None, "decode-preds-None"),
    case(lambda m, v: keras_preact.decode_predictions(v, 3, "cifar10"), "preds", [[1.0], [2.0, 3.0]], "decode-ragged"),
    case(lambda m, v: keras_preact.feature_extractor(m.base, levels=v), "levels", [["P1"]], "levels-nested"),
    case(lambda m, v: keras_preact.feature_extractor(m.base, levels=v), "levels", "P1", "levels-str"),
    case(lambda m, v: keras_preact.feature_extractor(m.base, levels=v), "levels", ["P9"], "levels-unknown"),
    case(lambda m, v: keras_preact.feature_extractor(m.base, levels=v), "levels", [], "levels-empty"),
    case(lambda m, v: keras_preact.feature_extractor(v), "model", None, "feature_extractor-None"),
    case(lambda m, v: keras_preact.feature_extractor(v), "model", "PreActResNet20", "feature_extractor-str"),
    case(lambda m, v: pyramid_outputs(v), "model", [1], "pyramid_outputs-list"),
    case(lambda m, v: keras_preact.pyramid_outputs(v), "model", "PreActResNet20", "pyramid_outputs-str"),
    case(lambda m, v: includes_preprocessing(v), "model", None, "includes_preprocessing-None"),
    case(lambda m, v: keras_preact.freeze_batch_norm(v), "model", None, "freeze_batch_norm-None"),
    case(lambda m, v: keras_preact.freeze_batch_norm(v), "model", "PreActResNet20", "freeze_batch_norm-str"),
    case(lambda m, v: keras_preact.freeze_batch_norm(m.base, frozen=v), "frozen", "yes", "frozen-str"),
    case(lambda m, v: keras_preact.sync_batch_norm(v), "model", [1], "sync_batch_norm-list"),
    case(lambda m, v: keras_preact.sync_batch_norm(m.base, synchronized=v), "synchronized", None, "synchronized"),
    case(lambda m, v: keras_preact.prepare_fit(v, X, Y), "model", None, "prepare_fit-model-None"),
    case(lambda m, v: keras_preact.prepare_fit(m.compiled, v, Y), "x", None, "prepare_fit-x-None"),
    case(lambda m, v: keras_preact.prepare_fit(m.compiled, v, Y), "x", "images", "prepare_fit-x-str"),
    case(lambda m, v: keras_preact.prepare_fit(m.compiled, X, v), "y", [[1], [1, 2]], "prepare_fit-y-ragged"),
    case(lambda m, v: keras_preact.prepare_fit(m.compiled, X, Y, v), "sample_weight", "w", "sample_weight-str"),
    case(lambda m, v: keras_preact.DropPath(v), "rate", "0.1", "DropPath-rate-str"),
    case(lambda m, v: keras_preact.DropPath(0.1, seed=v), "seed", "s", "DropPath-seed-str"),
    case(lambda m, v: keras_preact.GatedAdd(exclusive=v), "exclusive", None, "GatedAdd-exclusive-None"),
    case(lambda m, v: keras_preact.ZeroPadShortcut(v), "filters", "16", "ZeroPadShortcut-filters-str"),
    case(lambda m, v: keras_preact.ZeroPadShortcut(16, strides=v), "strides", None, "ZeroPadShortcut-strides-None"),
]


@pytest.mark.parametrize("call, argument, value", BUILDER_CASES + FUNCTION_CASES)
def test_a_wrong_argument_raises_one_value_error_naming_it(models, call, argument, value):
    with pytest.raises(ValueError, match=rf"Received: {re.escape(argument)}\b") as error:
        call(models, value)
    assert repr(value) in str(error.value)  # the value received, echoed


# What the cases call, by the name keras_preact exports; the weights registry
# (models/pretrained.py) and the weights layer's convert_checkpoint are checked elsewhere.
COVERED = {
    "build_resnet", "eval_transform", "get_model", "list_models", "preprocess_input", "decode_predictions",
    "feature_extractor", "pyramid_outputs",
    "freeze_batch_norm", "sync_batch_norm", "prepare_fit", "DropPath", "DropPathAdd", "GatedAdd", "ZeroPadShortcut",
}  # fmt: skip
NOT_HERE = {"convert_checkpoint", "get_weights_info", "list_weights", "register_weights"}


def test_the_cases_cover_every_public_function():
    exported = set(keras_preact.__all__) - set(keras_preact.models.BUILDERS) - {"__version__"}
    assert exported - NOT_HERE == COVERED
