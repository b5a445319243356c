"""The one training step of the package: every caller (the trainer, the diagnostics,
the benchmarks and the scripts) trains through `make_train_step`.

The loss is the paper's ([2], appendix; fb.resnet.torch): softmax cross-entropy
averaged over the *global* batch, plus the weight decay 0.5 * wd * sum(w^2) of the conv
and dense kernels, whose gradient is the wd * w of Torch's SGD weight decay (BN
parameters and biases are not decayed). Under a `tf.distribute` strategy each replica
adds 1 / replicas of the decay, and the optimizer sums the replicas' gradients.
"""

import keras
import tensorflow as tf


def weight_kernels(model):
    """The conv and dense kernels: the variables weight decay applies to."""
    return [v for v in model.trainable_variables if v.path.endswith("kernel")]


def replica_loss(logits, labels, kernels, weight_decay, global_batch_size):
    """One replica's loss: cross-entropy averaged over the *global* batch, plus the
    weight decay 0.5 * wd * sum(w^2) over the kernels divided by the replica count.

    Returns:
        (cross-entropy, cross-entropy + weight decay).
    """
    per_example = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)
    if not weight_decay:
        return loss, loss
    decay = 0.5 * weight_decay * tf.add_n([tf.reduce_sum(tf.square(k)) for k in kernels])
    return loss, loss + tf.nn.scale_regularization_loss(decay)


def make_train_step(
    model,
    optimizer,
    *,
    global_batch_size,
    weight_decay=0.0,
    strategy=None,
    train_model=None,
    counter=None,
    jit_compile=False,
):
    """A traced SGD step of `model` on batches of `global_batch_size` examples.

    Args:
        model: a model that returns logits (built with `classifier_activation=None`).
        optimizer: a Keras optimizer, built on `model.trainable_variables` before the
            first call (so that the step is traced once), or a `LossScaleOptimizer`.
        global_batch_size: examples per step over all replicas.
        weight_decay: the L2 coefficient of the kernels (see the module docstring).
        strategy: the `tf.distribute` strategy the variables live in; None for the
            current one.
        train_model: the model to run forward, if not `model` (e.g. its
            `rematerialize`d form, which shares its weights).
        counter: an integer variable incremented by every step (the trainer's step).
        jit_compile: compile the step with XLA (the trainer never does: XLA fails on
            variables placed by strategies; the benchmarks measure it).

    Returns:
        A `tf.function` `step(inputs, signal=0.0)`. `inputs` is an (images, labels) batch
        (distributed values under a strategy) or an iterator of them, read inside the
        traced step. It returns (cross-entropy, accuracy, signal) over the global batch,
        with `signal` averaged over the replicas (a flag every worker sees at the same
        step, e.g. a SIGTERM received by one of them).
    """
    strategy = strategy or tf.distribute.get_strategy()
    forward = train_model or model
    kernels, variables = weight_kernels(model), model.trainable_variables
    scale_loss = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

    def replica_step(images, labels, signal):
        with tf.GradientTape() as tape:
            logits = tf.cast(forward(images, training=True), tf.float32)
            loss, total = replica_loss(logits, labels, kernels, weight_decay, global_batch_size)
            if scale_loss:
                total = optimizer.scale_loss(total)
        optimizer.apply(tape.gradient(total, variables), variables)
        correct = tf.reduce_sum(tf.cast(tf.argmax(logits, -1) == tf.cast(labels, tf.int64), tf.float32))
        return loss, correct, signal / strategy.num_replicas_in_sync

    @tf.function(jit_compile=jit_compile)
    def step(inputs, signal=0.0):
        images, labels = inputs if isinstance(inputs, (tuple, list)) else next(inputs)
        loss, correct, signal = strategy.run(replica_step, (images, labels, tf.cast(signal, tf.float32)))
        if counter is not None:
            counter.assign_add(1)
        total = [strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for v in (loss, correct, signal)]
        return total[0], total[1] / global_batch_size, total[2]

    return step


def make_finite_check(model):
    """A traced function: whether every float weight of `model` is finite. The trainer
    checks it before each checkpoint: a step's loss is computed before its update, so a
    finite loss can precede an update that overflows (e.g. a huge learning rate)."""

    @tf.function
    def finite():
        weights = [w for w in model.weights if tf.as_dtype(w.dtype).is_floating]
        return tf.reduce_all([tf.reduce_all(tf.math.is_finite(w)) for w in weights])

    return finite
