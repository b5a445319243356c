"""One custom training loop for every `tf.distribute` strategy.

Keras 3's `model.fit` does not work under `MultiWorkerMirroredStrategy`
(keras-team/keras#20585), so the loop is written over `strategy.run`:

* each step is `keras_preact.training.step.make_train_step`: the paper's loss and
  weight decay, summed over replicas by the optimizer;
* the optimizer, `keras_preact.training.optimizers.SGD` (Keras' SGD with its momentum
  update as one op per variable), is built inside the strategy scope before the first
  traced step (keras-team/keras#23085); XLA is never forced (variable placement errors
  under strategies);
* the input stream is a pure function of (seed, step) (see `keras_preact.data.pipelines`),
  so a checkpoint of model, optimizer and step resumes the run exactly where it stopped;
* SIGTERM is summed over all replicas at every step, so every worker sees it at the
  same step; they save a checkpoint and return `status="preempted"`;
* a non-finite loss, or a non-finite weight found before a checkpoint is written, stops
  the run without saving: the last checkpoint stays the last good one (`status="nan"`);
* the mixed-precision policy, op determinism and seeds are set for the run only
  (`keras_preact.training.settings`).

Outputs in `workdir` (chief only): `config.json`, `checkpoints/`, `tensorboard/`,
`history.csv`, `model.keras`, `model.weights.h5` and `results.json`.
"""

import dataclasses
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from keras_preact.data import pipelines, sources
from keras_preact.training import evaluation, history
from keras_preact.training.build import build_model, build_optimizer
from keras_preact.training.checkpoints import AtomicCheckpointManager
from keras_preact.training.preemption import Preemption
from keras_preact.training.remat import rematerialize
from keras_preact.training.settings import run_settings
from keras_preact.training.step import make_train_step
from keras_preact.training.strategy import is_chief, make_strategy
from keras_preact.utils.files import atomic_write


@dataclasses.dataclass
class _Progress:
    """What the loop knows between steps."""

    step: int
    start: int
    status: str = "completed"
    window: list = dataclasses.field(default_factory=list)  # (loss, accuracy) since the last evaluation
    timed: list = dataclasses.field(default_factory=list)  # seconds of the steps after the first

    def images_per_second(self, batch_size, last=50):
        """The rate of the `last` timed steps (all of them for None); 0 before any."""
        timed = self.timed[-last:] if last else self.timed
        return batch_size / np.mean(timed) if timed else 0.0


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
        self.info = sources.get_dataset_info(config.dataset)
        self.schedule = config.scaled()
        self._check_replicas()
        self.train_source = sources.load_source(
            config.dataset, "train", config.data_dir, config.train_subset, config.seed, config.manual_dir
        )
        self.eval_source = sources.load_source(
            config.dataset, self.info.eval_split, config.data_dir, config.eval_subset, config.seed, config.manual_dir
        )
        os.makedirs(workdir, exist_ok=True)
        # after the data loaded: a failed start leaves no config behind
        history.check_config_file(workdir, self.config, write=self.chief)
        with run_settings(config):
            self._build()

    def _check_replicas(self):
        replicas = self.strategy.num_replicas_in_sync
        for field in ("batch_size", "eval_batch_size"):
            if getattr(self.config, field) % replicas:
                raise ValueError(
                    f"Received: {field}={getattr(self.config, field)}, not divisible by the {replicas} replicas; "
                    f"use a multiple of {replicas}."
                )

    def _build(self):
        config = self.config
        with self.strategy.scope():
            self.model = build_model(config, self.info)
            if config.sync_bn:
                self._set_synchronized(True)
            self.train_model = rematerialize(self.model) if config.remat else self.model
            self.optimizer = build_optimizer(config, self.schedule, self.model.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer, step=self.step)
        self.manager = AtomicCheckpointManager(
            self.checkpoint, os.path.join(self.workdir, "checkpoints"), config.keep_checkpoints, self.chief
        )
        self._train_step = make_train_step(
            self.model,
            self.optimizer,
            global_batch_size=config.batch_size,
            weight_decay=config.weight_decay,
            strategy=self.strategy,
            train_model=self.train_model,
            counter=self.step,
        )
        self._eval_step = evaluation.make_eval_step(self.model, self.strategy)
        self._finite = tf.function(self._finite_fn)

    def _set_synchronized(self, synchronized):
        for layer in self.model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.synchronized = synchronized

    # -- checks and evaluation -----------------------------------------------------------

    def _finite_fn(self):
        """Whether every float weight is finite. Checked before each checkpoint: a step's
        loss is computed before its update, so a finite loss can precede an update that
        overflows (e.g. a huge learning rate)."""
        weights = [w for w in self.model.weights if tf.as_dtype(w.dtype).is_floating]
        return tf.reduce_all([tf.reduce_all(tf.math.is_finite(w)) for w in weights])

    def evaluate(self):
        """Loss and accuracy over the whole evaluation split."""
        return evaluation.evaluate(self._eval_step, self.strategy, self.eval_source, self.config)

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

    # -- the loop ------------------------------------------------------------------------

    def train(self):
        """Runs (or resumes) the training; returns the results dict."""
        with run_settings(self.config):
            if self.chief and self.manager.removed_temporaries:
                print(f"Removed the unfinished checkpoints of an interrupted run: {self.manager.removed_temporaries}")
            start = self.manager.restore_latest() or 0
            total = self.schedule["total_steps"]
            finished = history.finished_run(self.workdir, start, total)
            if finished is not None:
                if self.chief:
                    print(f"{self.workdir} holds a completed run ({total} steps); nothing to do.")
                return finished
            self.step.assign(start)
            return self._loop(start, total)

    def _loop(self, start, total):
        progress = _Progress(step=start, start=start)
        records = history.History(self.workdir, start, write=self.chief)
        self._writer = tf.summary.create_file_writer(os.path.join(self.workdir, "tensorboard")) if self.chief else None
        self._progbar = keras.utils.Progbar(total, verbose=self.verbose, stateful_metrics=["loss", "acc", "img/s"])
        replicas = self.strategy.num_replicas_in_sync
        self._say(f"{'Resuming at' if start else 'Starting'} step {start} of {total} ({replicas} replicas)")
        iterator = iter(self._train_dataset(start))
        began = time.perf_counter()
        with Preemption() as preemption:
            while progress.step < total:
                loss, preempted = self._run_step(iterator, preemption, progress)
                if not math.isfinite(loss):
                    self._stop(progress, "nan", f"non-finite loss {loss} at step {progress.step}")
                    break
                if self._checkpoint_due(progress.step, total, preempted) and not self._save_checkpoint(progress):
                    break
                if preempted:
                    self._stop(progress, "preempted", f"SIGTERM: saved the checkpoint of step {progress.step}")
                    break
                if self._evaluation_due(progress.step, total):
                    self._evaluate_and_record(progress, records)
        return self._finish(progress, records, time.perf_counter() - began)

    def _run_step(self, iterator, preemption, progress):
        """One training step; returns (loss, whether any worker got SIGTERM)."""
        tick = time.perf_counter()
        loss, accuracy, stop = self._train_step(iterator, tf.constant(float(preemption.requested)))
        loss, accuracy = float(loss), float(accuracy)
        progress.step += 1
        if progress.step > progress.start + 1:  # the first step traces the graph
            progress.timed.append(time.perf_counter() - tick)
        progress.window.append((loss, accuracy))
        rate = progress.images_per_second(self.config.batch_size)
        self._progbar.update(progress.step, [("loss", loss), ("acc", accuracy), ("img/s", rate)])
        if self._writer and progress.step % self.config.log_every == 0:
            with self._writer.as_default(step=progress.step):
                tf.summary.scalar("train/loss", loss)
                tf.summary.scalar("train/lr", float(self.optimizer.learning_rate))
                tf.summary.scalar("train/images_per_second", rate)
        return loss, float(stop) > 0

    def _checkpoint_due(self, step, total, preempted):
        return preempted or step % self.config.checkpoint_every == 0 or step == total

    def _evaluation_due(self, step, total):
        return step % self.config.eval_every == 0 or step == total

    def _save_checkpoint(self, progress):
        """Saves the checkpoint of this step if every weight is finite; else stops the run."""
        if not self._finite():
            self._stop(progress, "nan", f"non-finite weights after step {progress.step}")
            return False
        self.manager.save(progress.step)
        return True

    def _stop(self, progress, status, reason):
        progress.status = status
        if status == "nan":
            print(f"Stopping: {reason}; the last checkpoint is the last good one.")
        else:
            print(f"{reason} and stopped; re-run the same command to resume.")

    def _evaluate_and_record(self, progress, records):
        metrics = self.evaluate()
        losses, accuracies = zip(*progress.window)
        progress.window = []
        records.append({
            "step": progress.step,
            "epoch": round(progress.step / (self.train_source.size / self.config.batch_size), 3),
            "lr": float(self.optimizer.learning_rate),
            "train_loss": float(np.mean(losses)),
            "train_accuracy": float(np.mean(accuracies)),
            "eval_loss": metrics["eval_loss"],
            "eval_accuracy": metrics["eval_accuracy"],
            "images_per_second": round(progress.images_per_second(self.config.batch_size), 1),
        })  # fmt: skip
        if self._writer:
            with self._writer.as_default(step=progress.step):
                tf.summary.scalar("eval/loss", metrics["eval_loss"])
                tf.summary.scalar("eval/accuracy", metrics["eval_accuracy"])
        self._say(
            f" step {progress.step}: eval accuracy {metrics['eval_accuracy']:.4f}, loss {metrics['eval_loss']:.4f}"
        )

    def _finish(self, progress, records, wall):
        results = {
            "status": progress.status,
            "step": progress.step,
            "total_steps": self.schedule["total_steps"],
            "resumed_from": progress.start,
            "wall_seconds": round(wall, 1),
            "images_per_second": round(progress.images_per_second(self.config.batch_size, None), 1) or None,
            "replicas": self.strategy.num_replicas_in_sync,
            "config": self.config.to_dict(),
            "schedule": self.schedule,
            "versions": history.versions(),
        }
        if progress.status == "completed":
            results.update(self.evaluate())
            results["history"] = records.rows
            self._save_outputs(results)
        return results

    def _save_outputs(self, results):
        if not self.chief:
            return
        if self.config.sync_bn:
            self._set_synchronized(False)
        atomic_write(self.model.save, os.path.join(self.workdir, "model.keras"))
        atomic_write(self.model.save_weights, os.path.join(self.workdir, "model.weights.h5"))
        history.write_results(self.workdir, results)

    def _say(self, message):
        if self.verbose:
            print(message)


def train(config, workdir, strategy="auto", verbose=1):
    """Trains (or resumes) `config` in `workdir`; returns the results dict."""
    return Trainer(config, workdir, strategy, verbose).train()
