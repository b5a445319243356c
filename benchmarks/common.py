"""Helpers shared by the benchmark scripts: a fixed random batch, and the package's one
training step (`keras_preact.training.make_train_step`) bound to it."""

import tensorflow as tf

from keras_preact.training.optimizers import SGD
from keras_preact.training.step import make_train_step


def random_batch(batch, shape=(32, 32, 3), classes=10):
    """A fixed random batch of images and labels."""
    images = tf.random.stateless_normal((batch, *shape), (0, 1))
    labels = tf.random.stateless_uniform((batch,), (0, 2), 0, classes, tf.int64)
    return images, labels


def fixed_batch_step(model, batch, optimizer=None, network=None, weight_decay=0.0, jit_compile=False):
    """One SGD-momentum step of `model` (which returns logits) on the fixed `batch`, as a
    callable returning the loss. The optimizer (the package's SGD unless given) is built
    before the first trace; `network` is what runs forward (e.g. a rematerialised model
    sharing `model`'s weights)."""
    images, labels = batch
    optimizer = optimizer or SGD(0.01, momentum=0.9)
    optimizer.build(model.trainable_variables)
    step = make_train_step(
        model,
        optimizer,
        global_batch_size=int(labels.shape[0]),
        weight_decay=weight_decay,
        train_model=network,
        jit_compile=jit_compile,
    )
    return lambda: float(step((images, labels))[0])
