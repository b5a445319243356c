"""Every TrainConfig field is checked (type, range, shape) before a run touches its work
directory: through the command line, bad values end with exit 2, one message naming the
field, and nothing written. Property-based: hypothesis generates the bad values."""

import dataclasses
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_preact.commands.train import main
from keras_preact.training import recipes
from keras_preact.training.config import TrainConfig, apply_overrides

# field -> values it must refuse (as JSON text for --set), beyond those of its type
NOT_INTEGERS = ["true", "false", "1.5", '"8"', "null", "[1]", "NaN"]
POSITIVE = ["batch_size", "eval_batch_size", "reference_batch_size", "total_steps", "eval_every",
            "checkpoint_every", "keep_checkpoints", "log_every"]  # fmt: skip
RATES = {"base_lr": ["0", "-0.1", "NaN", "Infinity", "true", '"0.1"', "null"], "momentum": ["1", "-0.5", "NaN", "true"],
         "weight_decay": ["-1e-4", "NaN", "Infinity", "false"], "warmup_lr": ["0", "NaN", "true"]}  # fmt: skip
BAD = {
    **{field: NOT_INTEGERS + ["0", "-3"] for field in POSITIVE},
    "warmup_steps": NOT_INTEGERS + ["-1"],
    "seed": NOT_INTEGERS + ["-1", str(2**64)],
    "train_subset": ["0", "true", "2.5", "[]"],
    "eval_subset": ["-1", "false"],
    **RATES,
    "boundaries": ["5", "[0]", "[300, 200]", "[10, 10]", '["a"]', "[true]", "null", "[1.5]"],
    "deterministic": ["1", "0", '"yes"', "null"],
    "sync_bn": ["1", '"true"'],
    "remat": ["0", "[]"],
    "lr_scaling": ['"sqrt"', "1", "null"],
    "mixed_precision": ['"float16"', "true", "16"],
    "imagenet_augment": ['"random"', "0"],
    "eval_crop": ["224.0", "256", "true", '"224"'],
    "crop_padding": ["-1", "28", "true", "2.0"],
    "model": ['"ResNet19"', "20", "null", "[]"],
    "dataset": ['"mnist"', "1", "[]"],
    "data_dir": ['""', "3", "[]"],
    "manual_dir": ['""', "false"],
    "model_kwargs": [
        "[]",
        "1",
        '"x"',
        '{"depth": 20}',
        '{"shortcut": "gated"}',
        '{"stride_on": "1x1"}',
        '{"norm": "batch"}',
    ],
}


def test_every_field_has_bad_values_to_try():
    assert set(BAD) == {f.name for f in dataclasses.fields(TrainConfig)}


@pytest.mark.parametrize("field, text", [(f, t) for f, values in BAD.items() for t in values])
def test_a_bad_value_is_refused_naming_the_field(field, text):
    with pytest.raises(ValueError, match=rf"{field}="):
        apply_overrides(recipes.get_recipe("smoke"), [f"{field}={text}"])


def test_every_recipe_passes():
    for config in recipes.RECIPES.values():
        config.validate()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_command_refuses_generated_bad_configs_and_writes_nothing(tmp_path, capsys, data):
    field = data.draw(st.sampled_from(sorted(BAD)))
    text = data.draw(st.sampled_from(BAD[field]))
    workdir = tmp_path / f"run-{field}"
    code = main(["--recipe", "smoke", "--workdir", str(workdir), "--quiet", "--set", f"{field}={text}"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("keras-preact-train: error: ") and f"{field}=" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not os.path.exists(workdir)  # not even the directory: a corrected command starts clean


def test_the_values_a_recipe_states_are_kept_as_json_round_trips():
    config = apply_overrides(recipes.get_recipe("smoke"), ["momentum=0", "boundaries=[10, 20]", "seed=7"])
    assert (config.momentum, config.boundaries, config.seed) == (0.0, (10, 20), 7)
    assert json.loads(json.dumps(config.to_dict()))["boundaries"] == [10, 20]
