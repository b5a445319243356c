"""The commands answer at once: `--help`, `--list-recipes` and argument errors load no
TensorFlow and no Keras (`benchmarks/command_startup.py` prints their times against
`python -c pass`: about 0.05 s); the light copies of constants that make this possible
match the modules that use them."""

import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT

BIN = os.path.dirname(sys.executable)
# Each command's quick answers, run in one process that then reports what it imported.
QUICK = r"""
import contextlib, io, sys
from keras_preact.commands import convert, demo, diagnostics, evaluate, export, predict, train

calls = [(train.main, ["--help"]), (train.main, ["--list-recipes"]), (train.main, ["--recipe", "smoke"]),
         (train.main, ["--strategy", "x"]), (train.main, ["--recipe", "nope", "--workdir", "w"]),
         *[(train.main, ["--recipe", "smoke", "--workdir", "w", "--set", s])
           for s in ("batch_size=-1", "model=Nope", "dataset=nope", "base_lr=NaN", "nokey=1", "boundaries=[3,2]")],
         (export.main, ["--help"]), (export.main, ["--model", "PreActResNet8"]),
         (export.main, ["--model", "X", "--tflite", "m", "--quantization", "int4"]),
         (diagnostics.main, ["--help"]), (diagnostics.main, ["--steps", "x"]), (demo.main, ["--help"]),
         (diagnostics.main, ["--dataset", "mnist"]),
         (convert.main, ["--help"]), (convert.main, ["--list"]), (convert.main, ["--source", "caffe"]),
         (evaluate.main, ["--help"]), (evaluate.main, ["--model", "ResNet50", "--weights", "imagenet"]),
         (evaluate.main, ["--model", "ResNet50", "--weights", "imagenet", "--data", "missing/folder"]),
         (evaluate.main, ["--model", "m.keras", "--data", "."]), (predict.main, ["--help"]),
         (evaluate.main, ["--model", "ResNet50", "--weights", "imagenet", "--data", "tfds:"]),
         (predict.main, ["missing.jpg", "--model", "ResNet50", "--weights", "imagenet"]),
         (predict.main, [sys.executable, "--model", "ResNet50", "--weights", "imagenet"])]
for main, argv in calls:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            main(argv)
        except SystemExit:
            pass
print(sorted(m for m in ("tensorflow", "keras", "jax") if m in sys.modules))
"""


def test_quick_answers_load_no_tensorflow_or_keras():
    env = {**os.environ, "PYTHONPATH": ROOT}
    done = subprocess.run([sys.executable, "-c", QUICK], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "command",
    [
        ["keras-preact-train", "--help"],
        ["keras-preact-train", "--list-recipes"],
        ["keras-preact-train", "--recipe", "smoke"],
        ["keras-preact-train", "--recipe", "smoke", "--workdir", "w", "--set", "model=PreActResNet21"],
        ["keras-preact-demo", "--help"],
        ["keras-preact-export", "--help"],
        ["keras-preact-diagnostics", "--help"],
        ["keras-preact-convert", "--help"],
        ["keras-preact-convert", "--list"],
        ["keras-preact-evaluate", "--help"],
        ["keras-preact-evaluate", "--model", "ResNet50", "--weights", "imagenet", "--data", "missing/folder"],
        ["keras-preact-predict", "--help"],
        ["keras-preact-predict", "missing.jpg", "--model", "ResNet50", "--weights", "imagenet"],
    ],
    ids=lambda c: " ".join(c),
)
def test_each_console_script_answers_in_one_line_or_its_usage(command):
    """The installed scripts answer as the commands do in process: their output, or
    the usage and one error line with status 2, never a traceback."""
    done = subprocess.run([os.path.join(BIN, command[0]), *command[1:]], capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 2) and "Traceback" not in done.stderr, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert (done.returncode, len(errors)) in ((0, 0), (2, 1)), done.stderr[-2000:]


def test_the_light_copies_of_constants_match_the_modules_that_use_them():
    from keras_preact.data import augmentation
    from keras_preact.export import quantizations, tflite
    from keras_preact.training import config, strategy

    assert config.CIFAR_PADDING == augmentation.CIFAR_PADDING
    assert strategy.STRATEGIES is config.STRATEGIES
    assert tflite.QUANTIZATIONS is quantizations.QUANTIZATIONS
