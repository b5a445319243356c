"""Evaluation over a whole split under any `tf.distribute` strategy."""

import keras
import numpy as np
import tensorflow as tf

from keras_preact.data import pipelines


def make_eval_step(model, strategy):
    """A traced step (images, labels) -> summed (loss, correct, count) over the replicas."""

    def sums(images, labels):
        logits = tf.cast(model(images, training=False), tf.float32)
        per_example = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        correct = tf.cast(tf.argmax(logits, -1) == labels, tf.float32)
        return tf.reduce_sum(per_example), tf.reduce_sum(correct)

    def replica_step(images, labels):
        # A replica can get an empty final batch. The model is not run on it: with
        # oneDNN on (TF 2.21, AVX-512 CPUs), Conv2D of an empty batch returns a tensor
        # of the input's shape, and the next layer fails on the channel count.
        loss, correct = tf.cond(
            tf.size(labels) > 0, lambda: sums(images, labels), lambda: (tf.constant(0.0), tf.constant(0.0))
        )
        return loss, correct, tf.cast(tf.size(labels), tf.float32)

    @tf.function
    def eval_step(images, labels):
        results = strategy.run(replica_step, (images, labels))
        return [strategy.reduce(tf.distribute.ReduceOp.SUM, r, axis=None) for r in results]

    return eval_step


def evaluate(eval_step, strategy, source, config):
    """Loss and accuracy of `eval_step` over every example of `source`.

    Returns:
        {"eval_loss", "eval_accuracy", "eval_images"}.
    """
    dataset = strategy.distribute_datasets_from_function(
        lambda context: pipelines.make_dataset(
            source,
            config.dataset,
            training=False,
            batch_size=config.eval_batch_size,
            input_context=context,
            eval_crop=config.eval_crop,
        )
    )
    totals = np.zeros(3)
    with pipelines.reading("an evaluation batch"):
        for images, labels in dataset:
            totals += [float(v) for v in eval_step(images, labels)]
    loss_sum, correct, count = totals
    return {"eval_loss": loss_sum / count, "eval_accuracy": correct / count, "eval_images": int(count)}
