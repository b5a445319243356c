"""The commands the package installs point at functions that exist, and the `python -m`
entry points start."""

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
    }
    for target in scripts.values():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function)), target


@pytest.mark.slow
def test_python_m_diagnostics_shows_its_usage():
    """`python -m keras_preact.train`, `.export` and `.demo` run in tests/commands/
    (test_train.py, test_export.py, test_demo.py); the diagnostics' entry point is
    checked here."""
    command = [sys.executable, "-m", "keras_preact.diagnostics", "--help"]
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage: keras-preact-diagnostics")
