"""One custom training loop for every `tf.distribute` strategy.

Keras 3's `model.fit` does not work under `MultiWorkerMirroredStrategy`
(keras-team/keras#20585), so the loop is written over `strategy.run`:

* the loss of each replica is `tf.nn.compute_average_loss` over the *global* batch
  plus the weight decay 0.5 * wd * sum(w^2) of the conv and dense kernels (the
  gradient wd * w of Torch's SGD weight decay), divided by the replica count; the
  optimizer sums gradients across replicas;
* the optimizer, `keras_preact.optimizers.SGD` (Keras' SGD with its momentum update
  as one op per variable), is built inside the strategy scope before the first traced
  step (keras-team/keras#23085); XLA is never forced (variable placement errors under
  strategies);
* the input stream is a pure function of (seed, step) (see
  `keras_preact.pipelines`), so a checkpoint of model, optimizer and step resumes
  the run exactly where it stopped;
* SIGTERM is summed over all replicas at every step, so every worker sees it at the
  same step; they save a checkpoint and return `status="preempted"`;
* a non-finite loss, or a non-finite weight found before a checkpoint is written, stops
  the run without saving: the last checkpoint stays the last good one (`status="nan"`).

Outputs in `workdir` (chief only): `checkpoints/`, `tensorboard/`, `history.csv`,
`model.keras`, `model.weights.h5` and `results.json`.
"""

import csv
import json
import math
import os
import platform
import signal
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from keras_preact import pipelines, registry
from keras_preact.checkpoints import AtomicCheckpointManager, atomic_write, atomic_write_text
from keras_preact.checks import check_choice
from keras_preact.optimizers import SGD
from keras_preact.remat import rematerialize
from keras_preact.resnet import build_resnet
from keras_preact.schedules import StepSchedule

STRATEGIES = ("auto", "mirrored", "multi_worker", "one_device")
# Config fields a resumed run may change: where the data is and how often to report.
OPERATIONAL_FIELDS = {"data_dir", "manual_dir", "eval_every", "checkpoint_every", "keep_checkpoints", "log_every"}
HISTORY_FIELDS = (
    "step", "epoch", "lr", "train_loss", "train_accuracy", "eval_loss", "eval_accuracy", "images_per_second",
)  # fmt: skip


def split_cpu(count):
    """Splits the CPU into `count` logical devices (before TensorFlow starts), so that
    `MirroredStrategy` can run replicas on a machine without GPUs."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)


def make_strategy(name="auto"):
    """A `tf.distribute.Strategy` by name.

    "auto": `multi_worker` when TF_CONFIG names several tasks, `mirrored` over the
    GPUs when there are several, else one device (the default strategy on a CPU). "mirrored": all GPUs, or all
    logical CPU devices (see `split_cpu`) without GPUs. "multi_worker": from TF_CONFIG.
    """
    check_choice("strategy", name, STRATEGIES)
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    tasks = sum(len(v) for v in tf_config.get("cluster", {}).values())
    if name == "auto":
        gpus = tf.config.list_logical_devices("GPU")
        name = "multi_worker" if tasks > 1 else "mirrored" if len(gpus) > 1 else "one_device"
    if name == "multi_worker":
        if not tasks:
            raise ValueError("strategy='multi_worker' needs TF_CONFIG with a cluster and this task's type and index.")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or [
            d.name for d in tf.config.list_logical_devices("CPU")
        ]
        return tf.distribute.MirroredStrategy(devices)
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return tf.distribute.OneDeviceStrategy(gpus[0].name)
    # Without a GPU, the default strategy: under OneDeviceStrategy("/cpu:0") this trainer ran
    # the Fashion-MNIST PreActResNet20 step at 123 instead of 255 img/s on a 2-core CPU
    # (separate processes; see README, Benchmarks).
    return tf.distribute.get_strategy()


def is_chief(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0)


def build_model(config, info):
    """The model a config names, returning logits (the loss applies the softmax)."""
    arguments = registry.model_arguments(config.model)
    arguments.update(config.model_kwargs)
    return build_resnet(
        arguments.pop("depth"),
        input_shape=info.image_shape,
        classes=info.classes,
        classifier_activation=None,
        **arguments,
    )


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
    decay = 0.5 * weight_decay * tf.add_n([tf.reduce_sum(tf.square(k)) for k in kernels])
    return loss, loss + tf.nn.scale_regularization_loss(decay)


class _Preemption:
    """Remembers a SIGTERM until the loop reaches the end of its step."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # not the main thread: no handler
            self._previous = None
        return self

    def _handle(self, signum, frame):
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


class Trainer:
    """Trains `config` in `workdir` under `strategy` (a name or a strategy).

    Re-running with the same workdir resumes from the newest intact checkpoint.
    """

    def __init__(self, config, workdir, strategy="auto", verbose=1):
        self.config = config.validate()
        self.workdir = workdir
        self.strategy = make_strategy(strategy) if isinstance(strategy, str) else strategy
        self.chief = is_chief(self.strategy)
        self.verbose = verbose if self.chief else 0
        self.info = pipelines.get_dataset_info(config.dataset)
        self.schedule = config.scaled()
        replicas = self.strategy.num_replicas_in_sync
        for field in ("batch_size", "eval_batch_size"):
            if getattr(config, field) % replicas:
                raise ValueError(
                    f"Received: {field}={getattr(config, field)}, not divisible by the {replicas} replicas; "
                    f"use a multiple of {replicas}."
                )
        self.train_source = pipelines.load_source(
            config.dataset, "train", config.data_dir, config.train_subset, config.seed, config.manual_dir
        )
        self.eval_source = pipelines.load_source(
            config.dataset, self.info.eval_split, config.data_dir, config.eval_subset, config.seed, config.manual_dir
        )
        os.makedirs(workdir, exist_ok=True)
        self._check_config_file()  # after the data loaded: a failed start leaves no config behind
        if config.deterministic:
            keras.utils.set_random_seed(config.seed)
            tf.config.experimental.enable_op_determinism()
        keras.mixed_precision.set_global_policy(config.mixed_precision or "float32")
        self._build()

    def _check_config_file(self):
        path = os.path.join(self.workdir, "config.json")
        current = json.loads(json.dumps(self.config.to_dict()))
        if os.path.exists(path):
            with open(path) as f:
                saved = json.load(f)
            keys = (set(saved) | set(current)) - OPERATIONAL_FIELDS
            # A field missing from the saved config did not exist yet: the run used its default.
            defaults = json.loads(json.dumps(type(self.config)().to_dict()))
            changed = sorted(k for k in keys if saved.get(k, defaults.get(k)) != current.get(k))
            if changed:
                raise ValueError(
                    f"{self.workdir} holds a run with another config (differs in {changed}); resume it with the "
                    "same recipe and --set values, or use a new workdir."
                )
        if self.chief:
            atomic_write_text(json.dumps(current, indent=2), path)

    def _build(self):
        config, schedule = self.config, self.schedule
        with self.strategy.scope():
            self.model = build_model(config, self.info)
            if config.sync_bn:
                for layer in self.model.layers:
                    if isinstance(layer, keras.layers.BatchNormalization):
                        layer.synchronized = True
            self.train_model = rematerialize(self.model) if config.remat else self.model
            lr = StepSchedule(
                schedule["base_lr"], schedule["boundaries"], schedule["warmup_lr"], schedule["warmup_steps"]
            )
            optimizer = SGD(lr, momentum=config.momentum)
            if config.mixed_precision == "mixed_float16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            optimizer.build(self.model.trainable_variables)
            self.optimizer = optimizer
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer, step=self.step)
        self.manager = AtomicCheckpointManager(
            self.checkpoint, os.path.join(self.workdir, "checkpoints"), config.keep_checkpoints, self.chief
        )
        self._train_step = tf.function(self._train_step_fn)
        self._eval_step = tf.function(self._eval_step_fn)
        self._finite = tf.function(self._finite_fn)

    # -- steps ---------------------------------------------------------------------------

    def _train_step_fn(self, iterator, stop_signal):
        config, strategy = self.config, self.strategy
        kernels = weight_kernels(self.model)
        variables = self.model.trainable_variables

        def replica_step(images, labels, stop_signal):
            with tf.GradientTape() as tape:
                logits = tf.cast(self.train_model(images, training=True), tf.float32)
                loss, total = replica_loss(logits, labels, kernels, config.weight_decay, config.batch_size)
                if config.mixed_precision == "mixed_float16":
                    total = self.optimizer.scale_loss(total)
            gradients = tape.gradient(total, variables)
            self.optimizer.apply(gradients, variables)
            correct = tf.reduce_sum(tf.cast(tf.argmax(logits, -1) == labels, tf.float32))
            return loss, correct, stop_signal / strategy.num_replicas_in_sync

        images, labels = next(iterator)
        loss, correct, stop = strategy.run(replica_step, (images, labels, stop_signal))
        self.step.assign_add(1)
        reduce = lambda v: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)  # noqa: E731
        return reduce(loss), reduce(correct) / config.batch_size, reduce(stop)

    def _finite_fn(self):
        """Whether every float weight is finite. Checked before each checkpoint: a step's
        loss is computed before its update, so a finite loss can precede an update that
        overflows (e.g. a huge learning rate)."""
        weights = [w for w in self.model.weights if tf.as_dtype(w.dtype).is_floating]
        return tf.reduce_all([tf.reduce_all(tf.math.is_finite(w)) for w in weights])

    def _eval_step_fn(self, images, labels):
        def sums(images, labels):
            logits = tf.cast(self.model(images, training=False), tf.float32)
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

        results = self.strategy.run(replica_step, (images, labels))
        return [self.strategy.reduce(tf.distribute.ReduceOp.SUM, r, axis=None) for r in results]

    # -- loop ----------------------------------------------------------------------------

    def evaluate(self):
        """Loss and accuracy over the whole evaluation split."""
        config = self.config
        dataset = self.strategy.distribute_datasets_from_function(
            lambda context: pipelines.make_dataset(
                self.eval_source,
                config.dataset,
                training=False,
                batch_size=config.eval_batch_size,
                input_context=context,
                eval_crop=config.eval_crop,
            )
        )
        totals = np.zeros(3)
        for images, labels in dataset:
            totals += [float(v) for v in self._eval_step(images, labels)]
        loss_sum, correct, count = totals
        return {"eval_loss": loss_sum / count, "eval_accuracy": correct / count, "eval_images": int(count)}

    def _train_dataset(self, start_step):
        config = self.config
        return self.strategy.distribute_datasets_from_function(
            lambda context: pipelines.make_dataset(
                self.train_source,
                config.dataset,
                training=True,
                batch_size=config.batch_size,
                seed=config.seed,
                start_step=start_step,
                input_context=context,
                imagenet_augment=config.imagenet_augment,
                crop_padding=config.crop_padding,
            )
        )

    def _history(self, start_step):
        """The CSV history, cut back to the restored step when resuming."""
        path = os.path.join(self.workdir, "history.csv")
        rows = []
        if os.path.exists(path):
            with open(path) as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= start_step]
        return path, rows

    def _write_history(self, path, rows):
        def save(tmp):
            with open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, HISTORY_FIELDS)
                writer.writeheader()
                writer.writerows(rows)

        if self.chief:
            atomic_write(save, path)

    def train(self):
        """Runs (or resumes) the training; returns the results dict."""
        config = self.config
        total = self.schedule["total_steps"]
        start = self.manager.restore_latest() or 0
        results_path = os.path.join(self.workdir, "results.json")
        if start >= total and os.path.exists(results_path):
            if self.verbose:
                print(f"{self.workdir} holds a completed run ({total} steps); nothing to do.")
            with open(results_path) as f:
                return json.load(f)
        if start:
            self.step.assign(start)
        steps_per_epoch = self.train_source.size / config.batch_size
        history_path, rows = self._history(start)
        writer = tf.summary.create_file_writer(os.path.join(self.workdir, "tensorboard")) if self.chief else None
        progress = keras.utils.Progbar(total, verbose=self.verbose, stateful_metrics=["loss", "acc", "img/s"])
        if self.verbose:
            replicas = self.strategy.num_replicas_in_sync
            print(f"{'Resuming at' if start else 'Starting'} step {start} of {total} ({replicas} replicas)")
        iterator = iter(self._train_dataset(start))
        status, window, timed = "completed", [], []
        began = time.perf_counter()
        with _Preemption() as preemption:
            step = start
            while step < total:
                tick = time.perf_counter()
                loss, accuracy, stop = self._train_step(iterator, tf.constant(float(preemption.requested)))
                loss, accuracy = float(loss), float(accuracy)
                step += 1
                if not math.isfinite(loss):
                    status = "nan"
                    print(f"Stopping: non-finite loss {loss} at step {step}; the last checkpoint is the last good one.")
                    break
                if step > start + 1:  # the first step traces the graph
                    timed.append(time.perf_counter() - tick)
                window.append((loss, accuracy))
                images_per_second = config.batch_size / np.mean(timed[-50:]) if timed else 0.0
                progress.update(step, [("loss", loss), ("acc", accuracy), ("img/s", images_per_second)])
                if writer and step % config.log_every == 0:
                    with writer.as_default(step=step):
                        tf.summary.scalar("train/loss", loss)
                        tf.summary.scalar("train/lr", float(self.optimizer.learning_rate))
                        tf.summary.scalar("train/images_per_second", images_per_second)
                preempted = float(stop) > 0
                if preempted or step % config.checkpoint_every == 0 or step == total:
                    if not self._finite():
                        status = "nan"
                        print(
                            f"Stopping: non-finite weights after step {step};",
                            "the last checkpoint is the last good one.",
                        )
                        break
                    self.manager.save(step)
                    if preempted:
                        status = "preempted"
                        print(
                            f"SIGTERM: saved the checkpoint of step {step} and stopped;",
                            "re-run the same command to resume.",
                        )
                        break
                if step % config.eval_every == 0 or step == total:
                    metrics = self.evaluate()
                    losses, accuracies = zip(*window)
                    window = []
                    rows.append({
                        "step": step,
                        "epoch": round(step / steps_per_epoch, 3),
                        "lr": float(self.optimizer.learning_rate),
                        "train_loss": float(np.mean(losses)),
                        "train_accuracy": float(np.mean(accuracies)),
                        "eval_loss": metrics["eval_loss"],
                        "eval_accuracy": metrics["eval_accuracy"],
                        "images_per_second": round(images_per_second, 1),
                    })  # fmt: skip
                    self._write_history(history_path, rows)
                    if writer:
                        with writer.as_default(step=step):
                            tf.summary.scalar("eval/loss", metrics["eval_loss"])
                            tf.summary.scalar("eval/accuracy", metrics["eval_accuracy"])
                    if self.verbose:
                        eval_accuracy, eval_loss = metrics["eval_accuracy"], metrics["eval_loss"]
                        print(f" step {step}: eval accuracy {eval_accuracy:.4f}, loss {eval_loss:.4f}")
        wall = time.perf_counter() - began
        results = {
            "status": status,
            "step": step,
            "total_steps": total,
            "resumed_from": start,
            "wall_seconds": round(wall, 1),
            "images_per_second": round(config.batch_size / np.mean(timed), 1) if timed else None,
            "replicas": self.strategy.num_replicas_in_sync,
            "config": config.to_dict(),
            "schedule": self.schedule,
            "versions": versions(),
        }
        if status == "completed":
            results.update(self.evaluate())
            results["history"] = rows
            self._save_outputs(results)
        return results

    def _save_outputs(self, results):
        if not self.chief:
            return
        if self.config.sync_bn:
            for layer in self.model.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.synchronized = False
        atomic_write(self.model.save, os.path.join(self.workdir, "model.keras"))
        atomic_write(self.model.save_weights, os.path.join(self.workdir, "model.weights.h5"))
        atomic_write_text(json.dumps(results, indent=2, default=str), os.path.join(self.workdir, "results.json"))


def versions():
    import keras_preact

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_preact": keras_preact.__version__,
        "numpy": np.__version__,
        "platform": sys.platform,
    }


def train(config, workdir, strategy="auto", verbose=1):
    """Trains (or resumes) `config` in `workdir`; returns the results dict."""
    return Trainer(config, workdir, strategy, verbose).train()
