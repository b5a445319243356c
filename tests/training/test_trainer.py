"""The trainer: distributed equivalence, kill and resume, SIGTERM, NaN, remat, CLI.

Distributed and fault tests run the trainer in subprocesses with hard timeouts
(logical CPU devices must be configured before TensorFlow starts).
"""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_preact
from keras_preact.data import sources
from keras_preact.training import recipes, trainer
from keras_preact.training.config import apply_overrides
from keras_preact.training.remat import rematerialize

from tests.helpers import HELPERS, ROOT
from tests.helpers.marks import needs_fashion_mnist
from tests.helpers.runs import synthetic_run, wait_for

WORKER = os.path.join(HELPERS, "train_worker.py")
KILL_AT = os.path.join(HELPERS, "kill_at.py")
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT}
# A small synthetic run for the fault tests: 40 steps, a checkpoint every 5, an evaluation every 10.
FAULT_RUN = synthetic_run(total_steps=40, checkpoint_every=5, boundary=30, eval_every=10)
TINY = ["model=PreActResNet8", "dataset=synthetic_cifar", "batch_size=16", "reference_batch_size=16",
        "eval_batch_size=64", "total_steps=2", "eval_every=2", "checkpoint_every=1", "deterministic=false"]  # fmt: skip


def _cli(args, timeout=240, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "keras_preact.train", *args],
        env=ENV, capture_output=True, text=True, timeout=timeout, cwd=ROOT, **kwargs,
    )  # fmt: skip


def _worker(out, workdir, strategy, cpu_devices, *overrides, env=None, wait=True, kill_at=None):
    """Runs tests/helpers/train_worker.py; `kill_at=(target, n)` SIGKILLs it at the n-th call of
    `target` (tests/helpers/kill_at.py)."""
    command = [sys.executable, WORKER, str(out), str(workdir), strategy, str(cpu_devices), *overrides]
    if kill_at:
        command[1:1] = [KILL_AT, kill_at[0], str(kill_at[1])]
    if not wait:
        return subprocess.Popen(command, env=env or ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    done = subprocess.run(command, env=env or ENV, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return np.load(out)


def _weights(npz):
    return [npz[f"arr_{i}"] for i in range(len([k for k in npz.files if k.startswith("arr_")]))]


def _max_difference(a, b):
    return max(float(np.max(np.abs(x - y))) for x, y in zip(_weights(a), _weights(b)))


# Sync BN makes the two replicas compute the one-device batch statistics; what remains
# is float summation order, which after 4 steps has moved the weights by 5e-7. From
# step 6 on, a ReLU input within 1e-6 of zero can cross it (docs/training.md), so the
# one-device comparison stops at step 4.
MIRRORED_TOLERANCE = 1e-5
# A 2-worker run computes what a 2-replica MirroredStrategy run computes (each replica
# gets the same examples, the sums have two terms): measured bit-identical after 8 steps.
MULTI_WORKER_TOLERANCE = 1e-5


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _TwoWorkers(tuple):
    """(chief weights, other weights) of a 2-worker run, with its work directory."""

    workdir = None


def _start_workers(tmp_path, *overrides, kill_at=None):
    """Starts 2 worker processes on localhost ports; `kill_at=(index, target, n)` makes
    worker `index` SIGKILL itself at the n-th call of `target`."""
    workers = [f"127.0.0.1:{_free_port()}" for _ in range(2)]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = {**ENV, "TF_CONFIG": json.dumps(tf_config)}
        out = tmp_path / f"w{index}.npz"
        fault = kill_at[1:] if kill_at and kill_at[0] == index else None
        processes.append(
            _worker(out, tmp_path / "mw", "multi_worker", 1, *overrides, env=env, wait=False, kill_at=fault)
        )
    return processes


def _multi_worker_run(tmp_path, *overrides):
    processes = _start_workers(tmp_path, *overrides)
    try:
        outputs = [p.communicate(timeout=240)[0] for p in processes]
    finally:
        for p in processes:
            p.kill()
    assert [p.returncode for p in processes] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    run = _TwoWorkers((np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")))
    run.workdir = tmp_path / "mw"
    return run


@pytest.fixture(scope="session")
def two_worker_run(tmp_path_factory):
    """An uninterrupted 8-step run of 2 worker processes on localhost ports (session-scoped:
    a module-scoped one is run again when its worker has run other modules in between)."""
    return _multi_worker_run(tmp_path_factory.mktemp("two_workers"))


@pytest.mark.xdist_group("multi_worker")
@pytest.mark.slow
def test_one_device_mirrored_and_multi_worker_runs_agree(tmp_path, two_worker_run):
    """One device, MirroredStrategy over 2 logical CPUs, and 2 worker processes on
    localhost ports, all on the same global batches."""
    one = _worker(tmp_path / "one.npz", tmp_path / "one", "one_device", 1, "total_steps=4")
    mirrored = _worker(tmp_path / "m.npz", tmp_path / "m", "mirrored", 2)
    assert _max_difference(one, np.load(tmp_path / "m-4.npz")) < MIRRORED_TOLERANCE
    assert _max_difference(one, np.load(_initial_weights(tmp_path))) > 1e-3  # it did train

    chief, other = two_worker_run
    assert _max_difference(chief, other) == 0.0
    for step in (2, 4, 6, 8):
        at_step = np.load(two_worker_run.workdir.parent / f"w0-{step}.npz")
        assert _max_difference(at_step, np.load(tmp_path / f"m-{step}.npz")) < MULTI_WORKER_TOLERANCE
    assert _max_difference(chief, mirrored) < MULTI_WORKER_TOLERANCE
    assert abs(float(chief["eval_loss"]) - float(mirrored["eval_loss"])) < 1e-5
    # Only the chief's checkpoints remain; the other worker's temporary ones are gone.
    assert sorted(os.listdir(two_worker_run.workdir / "checkpoints")) == [f"step-{s:08d}" for s in (2, 4, 6, 8)]


def _faulty_two_worker_run(tmp_path, index, calls):
    """A 2-worker run in which worker `index` sends itself a signal at its `calls`-th
    training step ("N:SIGTERM"; a bare N is SIGKILL). After a SIGKILL the other worker
    hangs in the step's collective until the cluster manager (here, this function) kills
    it; returns both outputs."""
    processes = _start_workers(tmp_path, kill_at=(index, "keras_preact.training.trainer:Trainer._run_step", calls))
    try:
        outputs = [processes[index].communicate(timeout=240)[0]]
        if processes[index].returncode == -signal.SIGKILL:
            _wait_for_saves(tmp_path / "mw" / "checkpoints")  # the survivor hangs after its save
            processes[1 - index].kill()
        outputs.append(processes[1 - index].communicate(timeout=120)[0])
    finally:
        for p in processes:
            p.kill()
    return processes, outputs


def _wait_for_saves(directory, timeout=30):
    """Waits until no checkpoint is being written in `directory` (a `.tmp-step-*` folder),
    as a cluster manager kills a survivor once it hangs, not while it saves."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(n.startswith(".tmp-step-") for n in _listing(directory)):
        time.sleep(0.2)


def _listing(directory):
    return os.listdir(directory) if os.path.isdir(directory) else []


def _checkpoint_steps(workdir):
    """The steps of the finished checkpoints (a worker killed while saving leaves a
    `.tmp-step-*` folder, which the next run removes)."""
    names = sorted(os.listdir(workdir / "checkpoints"))
    return [int(name.split("-")[1]) for name in names if name.startswith("step-")]


@pytest.mark.xdist_group("multi_worker")
@pytest.mark.slow
def test_two_workers_survive_sigterm_to_one_and_sigkill_of_either(tmp_path, two_worker_run):
    """One run of two workers, 8 steps, a checkpoint every 2, through three faults:
    SIGTERM to worker 1 before step 3 stops both after step 3 with its checkpoint (exit 0);
    after a restart, SIGKILL of worker 0 as it starts step 5; after another, SIGKILL of
    worker 1 as it starts step 7. Each restart resumes at the newest checkpoint, and the
    last one ends bit-identical to an uninterrupted 2-worker run."""
    processes, outputs = _faulty_two_worker_run(tmp_path, 1, "3:SIGTERM")
    assert [p.returncode for p in processes] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    assert all("status preempted step 3" in out for out in outputs)
    assert _checkpoint_steps(tmp_path / "mw") == [2, 3]
    for killed, calls, newest in ((0, 2, 4), (1, 3, 6)):  # steps 4, 5 | 5, 6, 7
        processes, outputs = _faulty_two_worker_run(tmp_path, killed, calls)
        assert processes[killed].returncode == -signal.SIGKILL, outputs[0][-3000:]
        assert _checkpoint_steps(tmp_path / "mw")[-1] == newest
    chief, other = _multi_worker_run(tmp_path)
    assert json.loads((tmp_path / "mw" / "results.json").read_text())["resumed_from"] == 6
    for resumed in (chief, other):
        assert _max_difference(resumed, two_worker_run[0]) == 0.0


def _initial_weights(tmp_path):
    keras.utils.set_random_seed(0)
    model = trainer.build_model(apply_overrides(recipes.get_recipe("smoke"), TINY), sources.DATASETS["synthetic_cifar"])
    path = tmp_path / "initial.npz"
    np.savez(path, *[np.asarray(v) for v in model.weights])
    return path


@pytest.fixture(scope="module")
def uninterrupted_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("uninterrupted")
    done = _cli([*FAULT_RUN, "--workdir", str(workdir)])
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir


def _history(workdir):
    """history.csv and results.json's history, without the timing column; each step once."""
    with open(workdir / "history.csv") as f:
        rows = [{k: v for k, v in row.items() if k != "images_per_second"} for row in csv.DictReader(f)]
    recorded = json.loads((workdir / "results.json").read_text())["history"]
    assert [r["step"] for r in recorded] == [int(r["step"]) for r in rows]
    assert len({r["step"] for r in rows}) == len(rows)
    return rows


def _load_weights(workdir):
    model = keras.saving.load_model(os.path.join(workdir, "model.keras"))
    return [np.asarray(v) for v in model.weights]


@pytest.mark.xdist_group("faults")
@pytest.mark.slow
def test_killed_run_resumes_at_its_checkpoint_and_ends_identical(tmp_path, uninterrupted_run):
    workdir = tmp_path / "run"
    command = [sys.executable, "-m", "keras_preact.train", *FAULT_RUN, "--workdir", str(workdir)]
    process = subprocess.Popen(command, env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(workdir / "checkpoints" / "step-00000015", process)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    saved = sorted(os.listdir(workdir / "checkpoints"))
    assert saved[-1] < "step-00000040" and not (workdir / "results.json").exists()
    # Damage the newest checkpoint on disk: the restart must fall back to the one before.
    newest = workdir / "checkpoints" / saved[-1]
    data = next(p for p in newest.iterdir() if p.name.startswith("ckpt.data"))
    data.write_bytes(data.read_bytes()[:100])
    done = _cli([*FAULT_RUN, "--workdir", str(workdir)])
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{newest.name}/{data.name} has 100 bytes" in done.stderr
    results = json.loads((workdir / "results.json").read_text())
    previous = int(saved[-2].split("-")[1])
    assert results["resumed_from"] == previous and 0 < previous < 40 and results["step"] == 40
    for a, b in zip(_load_weights(workdir), _load_weights(uninterrupted_run)):
        np.testing.assert_array_equal(a, b)
    assert _history(workdir) == _history(uninterrupted_run)


@pytest.mark.xdist_group("faults")
@pytest.mark.slow
def test_a_kill_between_a_checkpoint_and_its_evaluation_loses_no_history_row(tmp_path, uninterrupted_run):
    """SIGKILL right after the checkpoint of step 20, as its evaluation starts: the
    resumed run evaluates step 20 first, and its averages still cover steps 11-20."""
    workdir = tmp_path / "run"
    killed = subprocess.run(
        [sys.executable, KILL_AT, "keras_preact.training.evaluation:evaluate", "2", "-m", "keras_preact.train",
         *FAULT_RUN, "--workdir", str(workdir)],
        env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert sorted(os.listdir(workdir / "checkpoints"))[-1] == "step-00000020"
    assert [line.split(",")[0] for line in (workdir / "history.csv").read_text().splitlines()] == ["step", "10"]
    done = _cli([*FAULT_RUN, "--workdir", str(workdir)])
    assert done.returncode == 0, done.stderr[-3000:]
    rows = _history(workdir)
    assert rows == _history(uninterrupted_run)
    assert [(r["step"], r["train_from_step"], r["train_steps"]) for r in rows] == [
        (str(s), str(s - 9), "10") for s in (10, 20, 30, 40)
    ]


@pytest.mark.xdist_group("faults")
@pytest.mark.slow
def test_sigterm_saves_and_exits_cleanly(tmp_path):
    workdir = tmp_path / "run"
    command = [sys.executable, "-m", "keras_preact.train", *FAULT_RUN, "--workdir", str(workdir)]
    process = subprocess.Popen(command, env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(workdir / "checkpoints" / "step-00000005", process)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 0, err[-3000:]
    assert "SIGTERM: saved the checkpoint of step" in out
    stopped_at = json.loads(out.strip().splitlines()[-1])["step"]
    assert json.loads(out.strip().splitlines()[-1])["status"] == "preempted" and 5 <= stopped_at < 40
    assert f"step-{stopped_at:08d}" in os.listdir(workdir / "checkpoints")
    assert not (workdir / "results.json").exists()


@needs_fashion_mnist
@pytest.mark.slow
def test_cli_runs_the_smoke_recipe_end_to_end(tmp_path, capsys):
    done = _cli(["--recipe", "smoke", "--workdir", str(tmp_path), "--quiet"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Wrote model.keras" in done.stdout
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "completed" and results["step"] == 32 and results["eval_images"] == 1000
    assert results["eval_accuracy"] > 0.15 and results["images_per_second"] > 0
    assert results["versions"]["tensorflow"] == tf.__version__
    history = (tmp_path / "history.csv").read_text().splitlines()
    assert history[0].startswith("step,epoch,lr") and len(history) == 2
    assert any(f.startswith("events") for f in os.listdir(tmp_path / "tensorboard"))
    model = keras.saving.load_model(tmp_path / "model.keras")
    assert model.output_shape == (None, 10)
    from keras_preact.training.cli import main  # the reruns in this process: no TensorFlow start-up each

    capsys.readouterr()
    assert main(["--recipe", "smoke", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "nothing to do" in out and "Wrote" not in out  # nothing was written
    # A config written before a field existed (here crop_padding) means that field's default.
    saved = json.loads((tmp_path / "config.json").read_text())
    del saved["crop_padding"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert main(["--recipe", "smoke", "--workdir", str(tmp_path)]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert main(["--recipe", "smoke", "--workdir", str(tmp_path), "--set", "crop_padding=2"]) == 2
    assert "differs in ['crop_padding']" in capsys.readouterr().err
    assert main(["--recipe", "smoke", "--workdir", str(tmp_path), "--set", "seed=1"]) == 2
    assert "differs in ['seed']" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_errors_name_the_bad_value(tmp_path, capsys):
    done = _cli(["--recipe", "smoke", "--workdir", str(tmp_path), "--cpu-devices", "2", "--strategy", "mirrored",
                 "--set", "batch_size=7", "--set", "dataset=synthetic_cifar"])  # fmt: skip
    assert done.returncode == 2 and "batch_size=7, not divisible by the 2 replicas" in done.stderr
    from keras_preact.training.cli import main

    assert main(["--recipe", "smoke", "--workdir", str(tmp_path / "b"), "--set", "data_dir=/nonexistent"]) == 2
    assert "/nonexistent" in capsys.readouterr().err
    assert not (tmp_path / "b" / "config.json").exists()  # a corrected command can start there
    for option, value in (("--strategy", "tpu"), ("--cpu-devices", "-1")):
        with pytest.raises(SystemExit) as stopped:  # argparse: one line on stderr, exit 2
            main(["--recipe", "smoke", "--workdir", str(tmp_path / "c"), option, value])
        assert stopped.value.code == 2 and option in capsys.readouterr().err
    assert main(["--recipe", "cifar", "--workdir", str(tmp_path / "c")]) == 2
    assert "recipe='cifar'" in capsys.readouterr().err
    assert main(["--list-recipes"]) == 0 and capsys.readouterr().out.count("cifar10_resnet") == 6


def _tiny_trainer(tmp_path, *overrides):
    config = apply_overrides(recipes.get_recipe("smoke"), TINY + list(overrides))
    return trainer.Trainer(config, str(tmp_path), "one_device", verbose=0)


def test_a_finished_run_without_its_checkpoints_is_not_silently_redone(tmp_path):
    results = _tiny_trainer(tmp_path).train()
    assert results["status"] == "completed"
    assert _tiny_trainer(tmp_path).train()["step"] == results["step"]  # found, nothing to do
    for path in (tmp_path / "checkpoints").iterdir():
        for file in path.iterdir():
            file.unlink()
        path.rmdir()
    with pytest.raises(ValueError, match=r"holds the results of a finished run .* move results.json away"):
        _tiny_trainer(tmp_path).train()
    assert json.loads((tmp_path / "results.json").read_text())["step"] == results["step"]  # untouched


def test_evaluation_step_accepts_an_empty_batch(tmp_path):
    """A replica's share of the final evaluation batch can be empty (MirroredStrategy)."""
    run = _tiny_trainer(tmp_path)
    sums = run._eval_step(tf.zeros([0, 32, 32, 3]), tf.zeros([0], tf.int64))
    assert [float(v) for v in sums] == [0.0, 0.0, 0.0]
    sums = run._eval_step(tf.zeros([2, 32, 32, 3]), tf.constant([0, 1], tf.int64))
    assert float(sums[2]) == 2.0 and np.isfinite(float(sums[0])) and float(sums[0]) > 0


def test_non_finite_weights_after_a_checkpoint_reject_it(tmp_path):
    """At lr 1e30 step 1's update is finite but exploded and is checkpointed; step 2 makes
    the weights non-finite, so checkpoint 1 is rejected and a rerun starts from step 0."""
    run = _tiny_trainer(tmp_path, "base_lr=1e30", "warmup_steps=0", "total_steps=20")
    results = run.train()
    assert results["status"] == "nan" and results["step"] == 2
    assert run.manager.checkpoints() == [] and os.listdir(tmp_path / "checkpoints") == ["rejected-step-00000001"]
    assert _tiny_trainer(tmp_path, "base_lr=1e30", "warmup_steps=0", "total_steps=20").manager.restore_latest() is None


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_trains_and_the_process_settings_are_restored(tmp_path, policy):
    from tensorflow.python.framework import config as tf_config

    assert keras.mixed_precision.global_policy().name == "float32"
    determinism = tf_config.is_op_determinism_enabled()
    np.random.seed(123)
    expected_draw = np.random.random()
    np.random.seed(123)
    run = _tiny_trainer(tmp_path, f"mixed_precision={policy}", "deterministic=true")
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after building ...
    results = run.train()
    assert keras.mixed_precision.global_policy().name == "float32"  # ... and after training
    assert tf_config.is_op_determinism_enabled() == determinism
    assert np.random.random() == expected_draw  # NumPy's random state is put back too
    assert run.model.get_layer("conv1").compute_dtype == policy.split("_")[1]
    assert run.model.get_layer("conv1").kernel.dtype == "float32"
    assert (policy == "mixed_float16") == isinstance(run.optimizer, keras.optimizers.LossScaleOptimizer)
    assert results["status"] == "completed" and np.isfinite(results["eval_loss"])


@pytest.mark.parametrize("version", [1, 2])
def test_remat_gives_the_same_gradients_and_statistics(version):
    model = keras_preact.build_resnet(20, family="cifar", version=version, input_shape=(8, 8, 3))
    remat = rematerialize(model)
    assert [layer.name for layer in remat.layers[2:-1]] == [f"stage{s}_unit{u}" for s in (1, 2, 3) for u in (1, 2, 3)]
    images = tf.random.stateless_normal((4, 8, 8, 3), (1, 2))
    start = [np.asarray(v) for v in model.non_trainable_variables]

    def step(network):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(network(images, training=True) ** 2)
        return tape.gradient(loss, model.trainable_variables)

    expected = tf.function(step)(model)  # both traced: eager and graph kernels round differently
    expected_stats = [np.asarray(v) for v in model.non_trainable_variables]
    for variable, value in zip(model.non_trainable_variables, start):
        variable.assign(value)
    got = tf.function(step)(remat)
    for a, b in zip(expected, got):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5 * float(np.max(np.abs(a))))
    for a, b in zip(expected_stats, model.non_trainable_variables):  # updated once, not twice
        np.testing.assert_allclose(a, np.asarray(b), atol=1e-6)


def test_remat_trains_and_rejects_other_models(tmp_path):
    results = _tiny_trainer(tmp_path, "remat=true").train()
    assert results["status"] == "completed" and np.isfinite(results["eval_loss"])
    with pytest.raises(ValueError, match=r"no stageS_unitU_\* layers"):
        rematerialize(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))
