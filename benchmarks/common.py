"""Helpers shared by the benchmark scripts."""

from unittest import mock

import keras
import tensorflow as tf


def random_batch(batch, shape=(32, 32, 3), classes=10):
    """A fixed random batch of images and labels."""
    images = tf.random.stateless_normal((batch, *shape), (0, 1))
    labels = tf.random.stateless_uniform((batch,), (0, 2), 0, classes, tf.int64)
    return images, labels


def sgd_step(network, variables, images, labels):
    """A traced SGD-momentum training step of cross-entropy on logits; the optimizer is
    built before the first trace."""
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    optimizer.build(variables)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            logits = network(images, training=True)
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    return step


def keras_batch_norm():
    """A context in which the keras_preact builders use Keras' own BatchNormalization,
    the peer that the package's BatchNormalization is compared with (same weights and
    layer names; only the kernels differ)."""
    import keras_preact

    return mock.patch.object(keras_preact.layers, "BatchNormalization", keras.layers.BatchNormalization)
