"""Choosing a `tf.distribute` strategy by name, and who writes the outputs."""

import json
import os

import tensorflow as tf

from keras_preact.training.config import STRATEGIES
from keras_preact.utils.checks import check_choice


def split_cpu(count):
    """Splits the CPU into `count` logical devices (before TensorFlow starts), so that
    `MirroredStrategy` can run replicas on a machine without GPUs."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)


def cluster_size():
    """The number of tasks TF_CONFIG names (0 without TF_CONFIG)."""
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    return sum(len(v) for v in tf_config.get("cluster", {}).values())


def make_strategy(name="auto"):
    """A `tf.distribute.Strategy` by name.

    "auto": `multi_worker` when TF_CONFIG names several tasks, `mirrored` over the GPUs
    when there are several, else one device (the default strategy on a CPU).
    "mirrored": all GPUs, or all logical CPU devices (see `split_cpu`) without GPUs.
    "multi_worker": `MultiWorkerMirroredStrategy` from TF_CONFIG. "one_device": the
    first GPU, or the default strategy on a CPU.

    Raises:
        ValueError: for an unknown name, or "multi_worker" without TF_CONFIG.
    """
    check_choice("strategy", name, STRATEGIES)
    tasks = cluster_size()
    if name == "auto":
        # Physical devices: listing logical ones starts TensorFlow's runtime, after which
        # MultiWorkerMirroredStrategy can no longer configure its collectives.
        gpus = tf.config.list_physical_devices("GPU")
        name = "multi_worker" if tasks > 1 else "mirrored" if len(gpus) > 1 else "one_device"
    if name == "multi_worker":
        if not tasks:
            raise ValueError("strategy='multi_worker' needs TF_CONFIG with a cluster and this task's type and index.")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored":
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if gpus:
        return tf.distribute.OneDeviceStrategy(gpus[0].name)
    # Without a GPU, the default strategy: under OneDeviceStrategy("/cpu:0") the trainer ran
    # the Fashion-MNIST PreActResNet20 step at 123 instead of 255 img/s on a 2-core CPU.
    return tf.distribute.get_strategy()


def is_chief_task():
    """Whether TF_CONFIG makes this process the one that writes a run's outputs (the
    chief, or worker 0 without one; any process without TF_CONFIG)."""
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    return task.get("type") in (None, "chief") or (task.get("type") == "worker" and int(task.get("index", 0)) == 0)


def is_chief(strategy):
    """Whether this task writes the run's outputs (the chief, or worker 0 without one)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0)
