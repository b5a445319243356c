"""Signal propagation through residual units, as in [2] Eqn. (4) and (5).

With identity shortcuts and nothing after the addition (v2), the output of any unit
is the input of an earlier one plus a sum of residual functions,

    x_L = x_l + sum_{i=l}^{L-1} F(x_i, W_i)                               (4)

and the gradient of the loss E at x_l holds the gradient at x_L unchanged,

    dE/dx_l = dE/dx_L (1 + d/dx_l sum_{i=l}^{L-1} F(x_i, W_i))            (5)

so it cannot vanish however deep the network is. In v1 the ReLU (and BN) after each
addition sit on the shortcut path and break both equations.

`signal_propagation` measures, for every x_l between units (x_0: the stem's output,
x_l: the output of unit l), the mean over a batch of the per-example L2 norms of x_l
and of the gradient of that example's loss at x_l, at initialisation and after a few
SGD steps. The command `keras-preact-diagnostics` (`keras_preact.commands.diagnostics`) runs it
for several models and writes a CSV and a PNG.

Reading the numbers: within a stage, Eqn. (5) plus independent residual terms give
||dE/dx_l||^2 ~ ||dE/dx_L||^2 + (the residual terms' share), so a v2 gradient grows
gently towards the input (by about the ratio of the activation norms ||x_L||/||x_l||,
which BN inside each branch keeps to a square root of the depth) and never falls
below the top gradient's scale. A downsampling unit changes the tensor's size and
passes through a projection, so comparisons are cleanest within a stage.
"""

import csv

import keras
import tensorflow as tf

from keras_preact.models.graph import unit_boundaries
from keras_preact.training.optimizers import SGD
from keras_preact.training.step import make_train_step

CSV_FIELDS = ("model", "step", "index", "unit", "stage", "activation_norm", "gradient_norm")


def boundary_model(model):
    """A model with the outputs [x_0, ..., x_L, logits] of `model` (same layers)."""
    names, boundaries = unit_boundaries(model)
    return names, keras.Model(model.input, [*boundaries, model.output])


def measure(model, images, labels, from_logits=True):
    """Per-boundary mean per-example norms of x_l and of d(loss_b)/dx_l.

    Args:
        model: a keras_preact model with a classifier.
        images: a preprocessed batch (N, H, W, C).
        labels: integer labels (N,).
        from_logits: whether the model's output is logits (built with
            `classifier_activation=None`) or probabilities.

    Returns:
        A list of dicts with index (0 = the stem's output), unit (the unit that
        produced x_l, "stem" for x_0), stage, activation_norm, gradient_norm.
    """
    names, probe = boundary_model(model)
    images = tf.convert_to_tensor(images, tf.float32)
    labels = tf.convert_to_tensor(labels, tf.int64)
    # Training mode (batch statistics), as the backward pass of training sees it; the
    # moving statistics this updates are put back afterwards.
    saved = [v.numpy() for v in model.non_trainable_variables]
    with tf.GradientTape() as tape:
        *boundaries, output = probe(images, training=True)
        for x in boundaries:
            tape.watch(x)
        # The sum of per-example losses: its gradient at x_l[b] is that of example b's loss.
        loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(labels, output, from_logits=from_logits))
    gradients = tape.gradient(loss, boundaries)
    for variable, value in zip(model.non_trainable_variables, saved):
        variable.assign(value)
    rows = []
    for index, (x, g) in enumerate(zip(boundaries, gradients)):
        unit = "stem" if index == 0 else names[index - 1]
        rows.append({
            "index": index,
            "unit": unit,
            "stage": 0 if index == 0 else int(unit[len("stage") : unit.index("_")]),
            "activation_norm": float(_mean_norm(x)),
            "gradient_norm": float(_mean_norm(g)),
        })  # fmt: skip
    return rows


def _mean_norm(x):
    return tf.reduce_mean(tf.norm(tf.reshape(x, (tf.shape(x)[0], -1)), axis=1))


def signal_propagation(model, batches, steps=(0, 10), learning_rate=0.1, momentum=0.9, weight_decay=0.0):
    """`measure` at initialisation and after SGD steps on `batches`.

    Args:
        model: a keras_preact model returning logits (it is trained in place).
        batches: an iterator of (images, labels); the first batch is the
            measurement batch, the following ones are trained on.
        steps: the step counts to measure at, ascending (0: before training).
        learning_rate, momentum, weight_decay: the settings of the SGD steps, which are
            the trainer's (`keras_preact.training.step.make_train_step`).

    Returns:
        The `measure` rows with a "step" field, for every step in `steps`.
    """
    if list(steps) != sorted(set(steps)) or min(steps) < 0:
        raise ValueError(f"Received: steps={steps!r}; expected ascending distinct step counts >= 0.")
    probe_images, probe_labels = next(batches)
    optimizer = SGD(learning_rate, momentum=momentum)
    optimizer.build(model.trainable_variables)
    train_step = make_train_step(model, optimizer, global_batch_size=len(probe_labels), weight_decay=weight_decay)

    rows, done = [], 0
    for step in steps:
        for _ in range(step - done):
            train_step(next(batches))
        done = step
        rows += [{"step": step, **row} for row in measure(model, probe_images, probe_labels)]
    return rows


def write_csv(rows, path):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, CSV_FIELDS)
        writer.writeheader()
        writer.writerows({k: row[k] for k in CSV_FIELDS} for row in rows)


def plot(rows, path, title=None):
    """Two panels (activation and gradient norms against the unit index, log scale),
    one line per model and step, saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    curves = {}
    for row in rows:
        curves.setdefault((row["model"], row["step"]), []).append(row)
    for (model, step), curve in curves.items():
        index = [r["index"] for r in curve]
        label = f"{model}, step {step}"
        style = "-" if model.startswith("PreAct") else "--"
        axes[0].plot(index, [r["activation_norm"] for r in curve], style, label=label)
        axes[1].plot(index, [r["gradient_norm"] for r in curve], style, label=label)
    for axis, what in zip(axes, ("||x_l||", "||dE/dx_l||")):
        axis.set_yscale("log")
        axis.set_xlabel("l (0: stem output, l: output of unit l)")
        axis.set_ylabel(f"mean per-example {what}")
        axis.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=7)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
