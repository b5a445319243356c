"""The README's fine-tuning recipe on real Fashion-MNIST, and the two BatchNormalization
helpers it relies on (`freeze_batch_norm`, `sync_batch_norm`)."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_preact
from keras_preact.data import readers
from keras_preact.models import fine_tuning

from tests.helpers import ROOT, doc_blocks
from tests.helpers.marks import needs_fashion_mnist


def _readme_recipe():
    """The README's fine-tuning block as the tests run it (on 2,000 training images)."""
    with open(os.path.join(ROOT, "README.md")) as f:
        start = f.read().split("### Fine-tuning")[0].count("\n") + 1
    (block,) = [b for b in doc_blocks.blocks("README.md") if b.language == "python" and b.line > start][:1]
    return doc_blocks.code_in_tests(block)


def _statistics(model):
    return [
        np.asarray(v)
        for layer in fine_tuning.batch_norm_layers(model)
        for v in (layer.moving_mean, layer.moving_variance)
    ]


@needs_fashion_mnist
@pytest.mark.slow
def test_the_readme_fine_tuning_recipe_trains_and_holds_batch_norm():
    """The README's new 2-class task (footwear or not) on 2,000 training images; the
    recipe's BN statistics must stay the pretrained ones while the convs train."""
    test_images, test_labels = readers.load_fashion_mnist("test")
    footwear = lambda y: np.isin(y, [5, 7, 9]).astype("int64")  # noqa: E731  sandal, sneaker, ankle boot
    keras.utils.set_random_seed(0)
    scope = {}
    exec(_readme_recipe(), scope)
    assert len(scope["x_train"]) == 2000 and scope["num_classes"] == 2
    base, model = scope["base"], scope["model"]
    pretrained = keras_preact.PreActResNet20(weights="fashion_mnist", include_top=False, pooling="avg")
    for ours, theirs in zip(_statistics(base), _statistics(pretrained)):
        np.testing.assert_array_equal(ours, theirs)  # held through both phases
    assert not np.array_equal(base.get_layer("conv1").kernel, pretrained.get_layer("conv1").kernel)  # it trained
    predicted = model.predict(test_images[:1000], batch_size=250, verbose=0).argmax(-1)
    assert np.mean(predicted == footwear(test_labels[:1000])) > 0.97


def test_freeze_batch_norm_holds_statistics_that_fit_otherwise_moves():
    x = np.random.default_rng(0).normal(2.0, 3.0, (32, 32, 32, 3)).astype("float32")
    y = np.zeros(32, "int64")

    def fine_tune(freeze):
        base = keras_preact.build_resnet(8, family="cifar", include_top=False, pooling="avg")
        inputs = keras.Input((32, 32, 3))
        model = keras.Model(inputs, keras.layers.Dense(2)(base(inputs, training=False)))
        if freeze:
            assert keras_preact.freeze_batch_norm(model) is model  # reaches the nested base
        before = _statistics(base)
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
        return max(float(np.max(np.abs(a - b))) for a, b in zip(before, _statistics(base)))

    assert fine_tune(freeze=False) > 1e-3  # Keras' fit moves a nested base's statistics
    assert fine_tune(freeze=True) == 0.0
    base = keras_preact.build_resnet(8, family="cifar")
    keras_preact.freeze_batch_norm(base, frozen=False)
    assert all(layer.trainable for layer in fine_tuning.batch_norm_layers(base))


MIRRORED_FIT = """
import sys, json
from keras_preact.training.strategy import split_cpu
split_cpu(2)
import keras, numpy as np, tensorflow as tf, keras_preact
from keras_preact.models import fine_tuning
x = np.random.default_rng(0).normal(size=(64, 32, 32, 3)).astype("float32")
x[32:] = x[32:] * 4 + 3  # the two replicas' halves of a batch differ
order = np.arange(64).reshape(2, 32).T.reshape(-1)  # batch 32: 16 from each half
x = x[np.argsort(np.argsort(order))]
result = {}
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
for sync in (False, True):
    with strategy.scope():
        model = keras_preact.build_resnet(8, family="cifar", classes=2)
        if sync:
            keras_preact.sync_batch_norm(model)
        model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(x, np.zeros(64, "int64"), batch_size=32, epochs=1, shuffle=False, verbose=0)
    layer = next(fine_tuning.batch_norm_layers(model))
    replicas = [np.asarray(v) for v in layer.moving_mean.value.values]
    result[str(sync)] = float(np.max(np.abs(replicas[0] - replicas[1])))
print(json.dumps(result))
"""


@pytest.mark.slow
def test_sync_batch_norm_keeps_mirrored_replicas_statistics_equal():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT}
    done = subprocess.run([sys.executable, "-c", MIRRORED_FIT], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    import json

    spread = json.loads(done.stdout.strip().splitlines()[-1])
    assert spread["False"] > 1e-3  # each replica's own statistics
    assert spread["True"] == 0.0
