"""One custom training loop for every `tf.distribute` strategy.

Keras 3's `model.fit` does not work under `MultiWorkerMirroredStrategy`
(keras-team/keras#20585), so the loop is written over `strategy.run`:

* each step is `training.step.make_train_step`: the paper's loss and weight decay,
  summed over replicas by the optimizer, `training.optimizers.SGD` (one momentum op per
  variable), built in the strategy scope before the first traced step
  (keras-team/keras#23085); XLA is never forced (variable placement under strategies);
* the input stream is a pure function of (seed, step) (`keras_preact.data.pipelines`),
  so a checkpoint of model, optimizer and step resumes the run exactly where it stopped;
* SIGTERM is summed over all replicas at every step, so every worker stops at the same
  step with a checkpoint (`status="preempted"`); the handler is taken back from the one
  a multi-worker strategy installs (`keras_preact.training.preemption`);
* a non-finite loss, or non-finite weights before a checkpoint, stop the run without
  saving (`status="nan"`); a checkpoint whose next step is non-finite is rejected;
* each checkpoint holds the training window since the last evaluation; an evaluation a
  kill skipped runs first on resume;
* write failures raise `failures.StorageError`, unreadable inputs `DamagedInputError`
  or `DataError` (docs/training.md); the mixed-precision policy, op determinism and
  seeds are set for the run only (`keras_preact.training.settings`).

Outputs in `workdir` (chief only): `config.json`, `checkpoints/`, `tensorboard/`,
`history.csv`, `model.keras`, `model.weights.h5` and `results.json`.
"""

import contextlib
import math
import os
import time

import keras
import tensorflow as tf

from keras_preact.data import pipelines, sources
from keras_preact.models.fine_tuning import sync_batch_norm
from keras_preact.training import evaluation, history
from keras_preact.training.build import build_model, build_optimizer, build_train_dataset, check_replicas
from keras_preact.training.checkpoints import AtomicCheckpointManager
from keras_preact.training.failures import writing
from keras_preact.training.preemption import Preemption, take_back_sigterm
from keras_preact.training.progress import Console, Progress
from keras_preact.training.remat import rematerialize
from keras_preact.training.settings import run_settings
from keras_preact.training.step import make_finite_check, make_train_step
from keras_preact.training.strategy import is_chief, make_strategy
from keras_preact.utils.files import atomic_write


class Trainer:
    """Trains `config` in `workdir` under `strategy` (a name or a strategy).

    Re-running with the same workdir resumes from the newest intact checkpoint.
    """

    def __init__(self, config, workdir, strategy="auto", verbose=1):
        self.config = config.validate()
        self.workdir = workdir
        self.strategy = make_strategy(strategy) if isinstance(strategy, str) else strategy
        take_back_sigterm(self.strategy)  # from TensorFlow's handler, which a multi-worker strategy installs
        self.chief = is_chief(self.strategy)
        self.verbose = verbose if self.chief else 0
        self._console = Console()
        self.info = sources.get_dataset_info(config.dataset)
        self.schedule = config.scaled()
        check_replicas(self.config, self.strategy)
        self.train_source = sources.load_source(
            config.dataset, "train", config.data_dir, config.train_subset, config.seed, config.manual_dir
        )
        self.eval_source = sources.load_source(
            config.dataset, self.info.eval_split, config.data_dir, config.eval_subset, config.seed, config.manual_dir
        )
        with writing(workdir, "the work directory"):
            os.makedirs(workdir, exist_ok=True)
        # after the data loaded: a failed start leaves no config behind
        history.check_config_file(workdir, self.config, write=self.chief)
        with run_settings(config):
            self._build()

    def _build(self):
        config = self.config
        with self.strategy.scope():
            self.model = build_model(config, self.info)
            if config.sync_bn:
                sync_batch_norm(self.model)
            self.train_model = rematerialize(self.model) if config.remat else self.model
            self.optimizer = build_optimizer(config, self.schedule, self.model.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.window_state = tf.Variable(tf.zeros(3, tf.float64), trainable=False, name="train_window")
        self.checkpoint = tf.train.Checkpoint(
            model=self.model, optimizer=self.optimizer, step=self.step, train_window=self.window_state
        )
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
        self._finite = make_finite_check(self.model)

    # -- checks and evaluation -----------------------------------------------------------

    def evaluate(self):
        """Loss and accuracy over the whole evaluation split."""
        return evaluation.evaluate(self._eval_step, self.strategy, self.eval_source, self.config)

    # -- the loop ------------------------------------------------------------------------

    def train(self, preemption=None):
        """Runs (or resumes) the training; returns the results dict.

        Args:
            preemption: a `Preemption` already listening for SIGTERM (the command line
                installs one before the run starts); None: one for this call.
        """
        with run_settings(self.config), contextlib.ExitStack() as stack:
            preemption = preemption or stack.enter_context(Preemption())
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
            return self._loop(start, total, preemption)

    def _loop(self, start, total, preemption):
        progress = Progress.restored(start, self.window_state.numpy())
        records = history.History(self.workdir, start, write=self.chief)
        self._tensorboard = history.TensorBoard(self.workdir, write=self.chief)
        self._progbar = keras.utils.Progbar(total, verbose=self.verbose, stateful_metrics=["loss", "acc", "img/s"])
        began = time.perf_counter()
        if preemption.requested_on_any_worker(self.strategy):
            self._stop(progress, "preempted", f"SIGTERM before the first step: nothing new to save (step {start})")
            return self._finish(progress, records, time.perf_counter() - began)
        if start and self._evaluation_due(start, total) and not records.has(start):
            self._evaluate_and_record(progress, records)  # killed after the checkpoint, before its evaluation
        elif records.has(start):
            progress.window.reset(start)
        replicas = self.strategy.num_replicas_in_sync
        self._say(f"{'Resuming at' if start else 'Starting'} step {start} of {total} ({replicas} replicas)")
        iterator = iter(build_train_dataset(self.config, self.strategy, self.train_source, start))
        while progress.step < total:
            loss, preempted = self._run_step(iterator, preemption, progress)
            problem = self._non_finite(loss, progress)
            if problem:
                self._stop_non_finite(progress, problem)
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
        with pipelines.reading("a training batch"):
            loss, accuracy, stop = self._train_step(iterator, tf.constant(preemption.flag()))
        loss, accuracy = float(loss), float(accuracy)
        progress.step += 1
        if progress.step > progress.start + 1:  # the first step traces the graph
            progress.timed.append(time.perf_counter() - tick)
        progress.window.add(loss, accuracy)
        rate = progress.images_per_second(self.config.batch_size)
        self._progbar.update(progress.step, [("loss", loss), ("acc", accuracy), ("img/s", rate)])
        self._console.bar_open = bool(self.verbose) and progress.step < self._progbar.target
        if progress.step % self.schedule["log_every"] == 0:
            lr = float(self.optimizer.learning_rate)
            self._tensorboard.scalars(
                progress.step, {"train/loss": loss, "train/lr": lr, "train/images_per_second": rate}
            )
        return loss, float(stop) > 0

    def _checkpoint_due(self, step, total, preempted):
        return preempted or step % self.schedule["checkpoint_every"] == 0 or step == total

    def _evaluation_due(self, step, total):
        return step % self.schedule["eval_every"] == 0 or step == total

    def _save_checkpoint(self, progress):
        """Saves the checkpoint of this step if every weight is finite; else stops the run."""
        if not self._finite():
            self._stop_non_finite(progress, f"non-finite weights after step {progress.step}")
            return False
        self.window_state.assign(progress.window.state())
        self.manager.save(progress.step)
        progress.unverified = progress.step
        return True

    def _non_finite(self, loss, progress):
        """What this step made non-finite, or None. The first step from a checkpoint also
        checks the weights: a finite loss and finite weights after it show the checkpoint
        is good, and older ones may go."""
        if not math.isfinite(loss):
            return f"non-finite loss {loss} at step {progress.step}"
        if progress.unverified is not None:
            if not self._finite():
                return f"non-finite weights after step {progress.step}"
            progress.unverified = None
            self.manager.prune()
        return None

    def _stop(self, progress, status, reason):
        progress.status = status
        self._console.print(f"{reason} and stopped; re-run the same command to resume.")

    def _stop_non_finite(self, progress, reason):
        """Stops the run; rejects the checkpoint whose first step this was, if any."""
        unverified, directory = progress.unverified, self.manager.directory
        # The chief renames it; the other workers name what the chief did.
        rejected = unverified is not None and (
            self.manager.reject(unverified) or os.path.join(directory, f"rejected-step-{unverified:08d}")
        )
        resume = ([0] + [step for step, _ in self.manager.checkpoints()])[-1]
        progress.status = "nan"
        self._console.print(
            f"Stopping: {reason}, the first step from the checkpoint of step {progress.unverified}, which is "
            f"therefore not good (e.g. finite but exploded weights). Moved it to {rejected}; the next run resumes "
            f"from step {resume} and repeats the same steps (the run is deterministic): lower the learning rate, "
            "in a new work directory."
            if rejected
            else f"Stopping: {reason}; nothing of it was saved, and the newest checkpoint is the last good one."
        )

    def _evaluate_and_record(self, progress, records):
        metrics = self.evaluate()
        progress.last_evaluation = (progress.step, metrics)
        records.append({
            "step": progress.step,
            "epoch": round(progress.step / (self.train_source.size / self.config.batch_size), 3),
            "lr": float(self.optimizer.learning_rate),
            **progress.window.fields(),
            "eval_loss": metrics["eval_loss"],
            "eval_accuracy": metrics["eval_accuracy"],
            "images_per_second": round(progress.images_per_second(self.config.batch_size), 1),
        })  # fmt: skip
        progress.window.reset(progress.step)
        self._tensorboard.scalars(
            progress.step, {"eval/loss": metrics["eval_loss"], "eval/accuracy": metrics["eval_accuracy"]}
        )
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
            step, metrics = progress.last_evaluation
            results.update(metrics if step == progress.step else self.evaluate())
            results["history"] = records.rows
            self._save_outputs(results)
            self.manager.prune()
        return results

    def _save_outputs(self, results):
        if not self.chief:
            return
        if self.config.sync_bn:
            sync_batch_norm(self.model, False)
        for name, save in (("model.keras", self.model.save), ("model.weights.h5", self.model.save_weights)):
            path = os.path.join(self.workdir, name)
            with writing(path, "the trained model"):
                atomic_write(save, path)
        history.write_results(self.workdir, results)

    def _say(self, message):
        if self.verbose:
            self._console.print(message)


def train(config, workdir, strategy="auto", verbose=1, preemption=None):
    """Trains (or resumes) `config` in `workdir`; returns the results dict."""
    return Trainer(config, workdir, strategy, verbose).train(preemption)
