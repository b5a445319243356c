"""Runs a command with a signal injected at an exact point, for the fault tests.

    python tests/helpers/kill_at.py MODULE:ATTRIBUTE N[:SIGNAL] -m keras_preact.commands.train ARGS...
    python tests/helpers/kill_at.py MODULE:ATTRIBUTE N[:SIGNAL] SCRIPT.py ARGS...

`MODULE:ATTRIBUTE` names a function or method (e.g.
`keras_preact.training.evaluation:evaluate`, `keras_preact.training.trainer:Trainer._run_step`);
on its N-th call the process sends itself SIGNAL (default SIGKILL) before the call runs.
After SIGKILL nothing happens: no cleanup, no flush, as when a machine dies.
"""

import functools
import importlib
import os
import runpy
import signal
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))  # the repository


def inject(target, calls, signum=signal.SIGKILL):
    module_name, attribute = target.split(":")
    owner = importlib.import_module(module_name)
    *path, name = attribute.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, name)
    count = [0]

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        count[0] += 1
        if count[0] == calls:
            os.kill(os.getpid(), signum)
        return original(*args, **kwargs)

    setattr(owner, name, wrapper)


def main(target, when, *command):
    calls, _, name = when.partition(":")
    inject(target, int(calls), getattr(signal, name or "SIGKILL"))
    if command[0] == "-m":
        sys.argv = [command[1], *command[2:]]
        runpy.run_module(command[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(command)
        runpy.run_path(command[0], run_name="__main__")


if __name__ == "__main__":
    main(*sys.argv[1:])
