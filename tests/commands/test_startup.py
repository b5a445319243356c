"""The commands answer at once: `--help`, `--list-recipes` and argument errors load no
TensorFlow and no Keras, and each takes well under 2 s (`benchmarks/command_startup.py`
prints the times against `python -c pass`). The package loads its models on first use,
chooses JAX when TensorFlow is missing, and the quiet start-up keeps every line but the
known notices."""

import json
import os
import subprocess
import sys
import time

import pytest

import keras_preact
from keras_preact.utils import lazy, quiet

from tests.helpers import ROOT

BIN = os.path.dirname(sys.executable)
ANSWER_SECONDS = 2.0
# Each command's quick answers, run in one process that then reports what it imported.
QUICK = r"""
import contextlib, io, sys
from keras_preact import demo, diagnostics, evaluate, predict
from keras_preact.export import cli as export
from keras_preact.training import cli as train
from keras_preact.weights import cli as convert

calls = [(train.main, ["--help"]), (train.main, ["--list-recipes"]), (train.main, ["--recipe", "smoke"]),
         (train.main, ["--strategy", "x"]), (train.main, ["--recipe", "nope", "--workdir", "w"]),
         (export.main, ["--help"]), (export.main, ["--model", "PreActResNet8"]),
         (export.main, ["--model", "X", "--tflite", "m", "--quantization", "int4"]),
         (diagnostics.main, ["--help"]), (diagnostics.main, ["--steps", "x"]), (demo.main, ["--help"]),
         (convert.main, ["--help"]), (convert.main, ["--list"]), (convert.main, ["--source", "caffe"]),
         (evaluate.main, ["--help"]), (evaluate.main, ["--model", "ResNet50", "--weights", "imagenet"]),
         (evaluate.main, ["--model", "ResNet50", "--weights", "imagenet", "--data", "missing/folder"]),
         (evaluate.main, ["--model", "m.keras", "--data", "."]), (predict.main, ["--help"]),
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
def test_each_command_answers_in_under_2_s(command):
    start = time.perf_counter()
    done = subprocess.run([os.path.join(BIN, command[0]), *command[1:]], capture_output=True, text=True, timeout=60)
    seconds = time.perf_counter() - start
    assert done.returncode in (0, 2) and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert seconds < ANSWER_SECONDS, f"{' '.join(command)} took {seconds:.1f} s"


def test_list_recipes_prints_every_recipe(capsys):
    from keras_preact.training import cli, recipes

    assert cli.main(["--list-recipes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == sorted(recipes.RECIPES)


def test_the_light_copies_of_constants_match_the_modules_that_use_them():
    from keras_preact.data import augmentation
    from keras_preact.export import quantizations, tflite
    from keras_preact.training import config, strategy

    assert config.CIFAR_PADDING == augmentation.CIFAR_PADDING
    assert strategy.STRATEGIES is config.STRATEGIES
    assert tflite.QUANTIZATIONS is quantizations.QUANTIZATIONS


def test_the_package_loads_its_names_on_first_use():
    assert "convert_checkpoint" in keras_preact.__all__ and "PreActResNet1001" in keras_preact.__all__
    assert keras_preact.PreActResNet20 is keras_preact.get_model.__globals__["BUILDERS"]["PreActResNet20"]
    assert "fashion_mnist" in keras_preact.list_weights("PreActResNet20")  # registered as the models loaded
    with pytest.raises(AttributeError, match="has no attribute 'PreActResNet21'"):
        keras_preact.PreActResNet21  # noqa: B018


def test_work_asked_for_after_a_package_loaded_runs_at_once():
    ran = []
    keras_preact.list_weights()  # the registry's first read: the weights registered
    lazy.on_import("keras_preact.models.pretrained", lambda: ran.append(1))  # it has loaded: runs now
    lazy.on_import("a.package.not.loaded", lambda: ran.append(2))
    assert ran == [1]
    lazy.imported("a.package.not.loaded")
    assert ran == [1, 2]


@pytest.mark.parametrize(
    "installed, configured, environment, chosen",
    [
        ({"jax"}, "tensorflow", None, "jax"),  # the core with the [jax] extra
        ({"jax", "tensorflow"}, "tensorflow", None, None),  # Keras' default stays
        ({"jax"}, "torch", None, None),  # keras.json chose
        ({"jax"}, "tensorflow", "numpy", "numpy"),  # KERAS_BACKEND chose
        (set(), "tensorflow", None, None),  # nothing to choose: the import explains
    ],
)
def test_jax_is_chosen_only_without_tensorflow_and_another_choice(
    installed, configured, environment, chosen, monkeypatch
):
    monkeypatch.setattr(keras_preact.importlib.util, "find_spec", lambda name: name if name in installed else None)
    monkeypatch.setattr(keras_preact, "_configured_backend", lambda: configured)
    monkeypatch.setenv("KERAS_BACKEND", environment or "unset")  # recorded, so the choice below is undone
    if not environment:
        monkeypatch.delenv("KERAS_BACKEND")
    keras_preact._choose_backend()
    assert os.environ.get("KERAS_BACKEND") == chosen


def test_held_notices_keep_every_other_line(capfd, monkeypatch):
    monkeypatch.setattr(quiet, "_enabled", True)
    notice = "I0000 00:00:1.0 1 port.cc:153] oneDNN custom operations are on. You may see\n"
    with quiet.held_notices():
        os.write(2, notice.encode())
        os.write(2, b"E0000 a real error from C++\n")
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    assert capfd.readouterr().err == "E0000 a real error from C++\n"


def test_verbose_shows_everything(capfd, monkeypatch):
    monkeypatch.setattr(quiet, "_enabled", False)
    monkeypatch.setenv(quiet.VERBOSE_ENV, "1")
    quiet.start(verbose=False)
    assert quiet._enabled is False and quiet.is_verbose()
    with quiet.held_notices():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    assert "XNNPACK" in capfd.readouterr().err


@pytest.mark.parametrize(
    "tf_config, chief",
    [
        (None, True),
        ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}, True),
        ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}, False),
        ({"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]}, "task": {"type": "worker", "index": 1}}, False),
        ({"cluster": {"chief": ["a:1"], "worker": ["b:1"]}, "task": {"type": "chief", "index": 0}}, True),
    ],
)
def test_only_the_chief_says_what_it_wrote(tf_config, chief, monkeypatch):
    """The task that writes the outputs (`strategy.is_chief`: the chief or worker 0) is the
    one whose command prints "Wrote ..."."""
    from keras_preact.training import strategy

    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    assert strategy.is_chief_task() is chief
