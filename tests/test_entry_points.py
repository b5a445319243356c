"""One pattern for commands: each console script the package installs is the `main` of
a module of `keras_preact.commands` named after it, and each of those modules runs as
`python -m keras_preact.commands.NAME`."""

import configparser
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def _console_scripts():
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    lines = config["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict(line.replace(" ", "").split("=") for line in lines)


def test_console_scripts_point_at_functions_that_exist():
    import importlib

    scripts = _console_scripts()
    assert set(scripts) == {
        "keras-preact-train",
        "keras-preact-export",
        "keras-preact-diagnostics",
        "keras-preact-convert",
        "keras-preact-evaluate",
        "keras-preact-predict",
        "keras-preact-demo",
    }
    for target in scripts.values():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function)), target


def test_every_command_is_a_module_of_keras_preact_commands_named_after_it():
    import keras_preact.commands

    folder = os.path.dirname(keras_preact.commands.__file__)
    modules = {n[:-3] for n in os.listdir(folder) if n.endswith(".py") and n != "__init__.py"}
    scripts = _console_scripts()
    assert {f"keras-preact-{m.split('.')[-1]}" for m in modules if m != "model_options"} == set(scripts)
    for script, target in scripts.items():
        assert target == f"keras_preact.commands.{script.removeprefix('keras-preact-')}:main"


@pytest.mark.parametrize("script", sorted(_console_scripts()))
def test_python_m_runs_each_command(script):
    name = script.removeprefix("keras-preact-")
    command = [sys.executable, "-m", f"keras_preact.commands.{name}", "--help"]
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(f"usage: {script}")
