"""Deferred imports: packages whose names load their modules on first use, and work that
an upper layer asks a lower package to run once that package has loaded.

`import keras_preact` and the subpackages with TensorFlow or Keras behind them
(`training`, `export`) load nothing heavy until a name is used, so the commands answer
`--help` and argument errors without starting TensorFlow.
"""

import importlib
import sys

_PENDING = {}  # package -> functions to run once it has loaded
_LOADED = set()  # packages that have called `imported`


def lazy_getattr(package, table):
    """A module `__getattr__` for `package` that imports `table[name]` (a module path)
    on the first use of `name`, and keeps the value as an attribute of the package."""

    def __getattr__(name):
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(table[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__


def on_import(package, function):
    """Runs `function()` when `package` calls `imported(package)` at the end of its
    `__init__` (right away if it already has)."""
    if package in _LOADED:
        function()
    else:
        _PENDING.setdefault(package, []).append(function)


def imported(package):
    """Called at the end of `package`'s `__init__`: runs what was asked for with `on_import`."""
    _LOADED.add(package)  # first, so that a function reading the package again does not rerun them
    for function in _PENDING.pop(package, []):
        function()
