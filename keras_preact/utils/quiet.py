"""Quiet commands: TensorFlow's C++ start-up notices and the log lines known to be
harmless are hidden; every other warning and error still shows. (Keras' warning that the
structure of a model's inputs does not match had its cause here: a functional model built
on `model.inputs`, a list, and called with one tensor; the package builds on `model.input`.)

The commands call `start(verbose)` once their arguments are parsed, before TensorFlow
loads. `--verbose`, or `KERAS_PREACT_VERBOSE=1` in the environment, shows everything.
Library calls are never filtered: only a command turns this on.

TensorFlow prints some notices before its logging starts (so `TF_CPP_MIN_LOG_LEVEL`
cannot hide them) and others from C++ while it probes for CUDA: `load_tensorflow`
imports it and probes the devices with file descriptor 2 held, then writes back every
line that is not one of `NOTICES`.
"""

import contextlib
import logging
import os
import re
import sys
import tempfile

VERBOSE_ENV = "KERAS_PREACT_VERBOSE"
# Lines that TensorFlow and LiteRT print on every start on a machine without a GPU.
NOTICES = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|port\.cc:\d+\] oneDNN custom operations are on"
    r"|cudart_stub\.cc:\d+\] Could not find cuda drivers"
    r"|cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized"
    r"|^To enable the following instructions: .* rebuild TensorFlow"
    r"|cuda_platform\.cc:\d+\] failed call to cuInit"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation placer already registered"
    r"|Created TensorFlow Lite XNNPACK delegate for CPU"
    r"|^fully_quantize: \d+, inference_type: \d+"
)
# TensorFlow's logged warnings known to be harmless: the preemption flag of a
# multi-worker run is read with one eager `strategy.run` per step.
HARMLESS_LOGS = re.compile(r"Using CollectiveAllReduceStrategy eagerly has significant overhead")

_enabled = False


def is_verbose(flag=False):
    """Whether everything is shown: `--verbose` given, or KERAS_PREACT_VERBOSE set (not 0)."""
    return bool(flag) or os.environ.get(VERBOSE_ENV, "0") not in ("", "0")


def start(verbose=False):
    """Turns the filtering on for this process (a command calls it after parsing its
    arguments), unless `verbose` or KERAS_PREACT_VERBOSE asks for everything."""
    global _enabled
    if is_verbose(verbose):
        os.environ[VERBOSE_ENV] = "1"  # the processes the command starts show everything too
        return
    _enabled = True
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # C++ INFO and WARNING lines after start-up
    logging.getLogger("tensorflow").addFilter(_drop_harmless_logs)


def _drop_harmless_logs(record):
    return not HARMLESS_LOGS.search(record.getMessage())


@contextlib.contextmanager
def held_notices():
    """Holds what is written to file descriptor 2 (C++ code included) and writes back the
    lines that are not start-up `NOTICES`; does nothing unless a command called `start`."""
    if not _enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = [line for line in held.read().decode(errors="replace").splitlines(True) if not NOTICES.search(line)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


def load_tensorflow():
    """Imports TensorFlow and probes its devices with the start-up notices held back;
    returns the module."""
    with held_notices():
        import tensorflow as tf

        tf.config.list_physical_devices()
    return tf
