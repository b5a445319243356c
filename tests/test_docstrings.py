"""Docstrings and documents in step with the code: every value a docstring, a comment
or a document gives a choice option (`stem_activation="none"`, `--set
lr_scaling=none`) is one the code accepts, and the builders' docstrings name every
value of each choice option they describe (or the table that lists them)."""

import os
import re

import pytest

from keras_preact.data.augmentation import IMAGENET_AUGMENTS
from keras_preact.models import arguments, layers, resnet, specs, units
from keras_preact.training.validation import LR_SCALINGS

from tests.helpers import ROOT

# option -> (the values the code accepts, the table that lists them)
OPTIONS = {
    "activation_order": (units.ACTIVATION_ORDERS, "ACTIVATION_ORDERS"),
    "shortcut": (units.SHORTCUTS, "SHORTCUTS"),
    "downsample_shortcut": (units.DOWNSAMPLE_SHORTCUTS, "DOWNSAMPLE_SHORTCUTS"),
    "stride_on": (units.STRIDE_POSITIONS, "STRIDE_POSITIONS"),
    "stem_activation": (arguments.STEM_ACTIVATIONS, "STEM_ACTIVATIONS"),
    "norm": (layers.NORMS, "NORMS"),
    "family": (specs.FAMILIES, "FAMILIES"),
    "lr_scaling": (LR_SCALINGS, "LR_SCALINGS"),
    "imagenet_augment": (IMAGENET_AUGMENTS, "IMAGENET_AUGMENTS"),
}
# `option="value"`, `option='value'`, `option=True/False` (never a choice), and in
# documents `--set option=value`.
SETTING = re.compile(r"\b(" + "|".join(OPTIONS) + r")=(\"|')([A-Za-z0-9_]+)\2")
SET_FLAG = re.compile(r"--set (" + "|".join(OPTIONS) + r")=([A-Za-z0-9_]+)")
BOOLEANS = re.compile(r"\b(" + "|".join(OPTIONS) + r")=(True|False)\b")


def _texts():
    """(path, text) of every package module and document."""
    for folder, suffix in (("keras_preact", ".py"), ("docs", ".md")):
        for directory, _, names in os.walk(os.path.join(ROOT, folder)):
            for name in sorted(names):
                if name.endswith(suffix):
                    path = os.path.join(directory, name)
                    yield os.path.relpath(path, ROOT), open(path, encoding="utf-8").read()
    yield "README.md", open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()


def unknown_settings(texts):
    """'path: option=value' for each value of a choice option that the code does not accept."""
    wrong = []
    for path, text in texts:
        found = [(m.group(1), m.group(3)) for m in SETTING.finditer(text)]
        found += [(m.group(1), m.group(2)) for m in SET_FLAG.finditer(text)]
        found += [(m.group(1), m.group(2)) for m in BOOLEANS.finditer(text)]
        wrong += [f"{path}: {option}={value}" for option, value in found if value not in OPTIONS[option][0]]
    return wrong


def test_every_value_given_to_a_choice_option_exists():
    texts = list(_texts())
    assert len(texts) > 50
    assert unknown_settings(texts) == []


@pytest.mark.parametrize(
    "text",
    ["stem_activation=False", 'downsample_shortcut="input_projections"', "--set lr_scaling=sqrt", "norm='batch'"],
)
def test_a_drifted_value_is_caught(text):
    assert unknown_settings([("module.py", f"x = 1\n# {text}\n")]) != []


def _args_entries(function):
    """{argument: its entry's text} of the Args section of `function`'s docstring."""
    section = function.__doc__.split("Args:")[1].split("Returns:")[0].split("Raises:")[0]
    entries, name = {}, None
    for line in section.splitlines():
        match = re.match(r"\s{8}(\w+)(, \w+)*: ", line)
        if match:
            name = match.group(1)
            entries[name] = line
        elif name:
            entries[name] += " " + line.strip()
    return entries


@pytest.mark.parametrize("function", [resnet.build_resnet, units.residual_unit], ids=lambda f: f.__name__)
def test_the_builders_docstrings_name_every_value_of_their_options(function):
    entries = _args_entries(function)
    described = [option for option in OPTIONS if option in entries]
    assert len(described) >= 3, entries.keys()
    for option in described:
        values, table = OPTIONS[option]
        text = entries[option]
        missing = [v for v in values if f'"{v}"' not in text]
        assert table in text or not missing, f"{function.__name__}'s {option} entry omits {missing}"
