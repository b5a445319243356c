"""`TrainConfig`: linear scaling of the rate and of every step count (the schedule's and
the intervals', one unit), and `--set` overrides parsed as JSON, named when bad."""

import pytest

from keras_preact.training import recipes
from keras_preact.training.config import apply_overrides


def test_linear_scaling_keeps_the_epochs_and_scales_the_rate():
    config = apply_overrides(recipes.get_recipe("cifar100_resnet164_v1"), ["batch_size=256"])
    scaled = config.scaled()
    assert scaled["base_lr"] == pytest.approx(0.2) and scaled["warmup_lr"] == pytest.approx(0.02)
    assert (scaled["warmup_steps"], scaled["boundaries"], scaled["total_steps"]) == (200, [16_000, 24_000], 32_000)
    intervals = ("eval_every", "checkpoint_every", "log_every")
    assert [scaled[k] for k in intervals] == [getattr(config, k) // 2 for k in intervals]
    unscaled = apply_overrides(config, ["lr_scaling=none"]).scaled()
    assert unscaled["base_lr"] == pytest.approx(0.1) and unscaled["total_steps"] == 64_000
    assert [unscaled[k] for k in intervals] == [getattr(config, k) for k in intervals]


def test_a_smaller_batch_checkpoints_and_evaluates_at_the_same_epochs():
    """Batch 32 of the smoke recipe (reference 64): twice the steps, and the intervals
    twice as long, so checkpoints and evaluations fall at the same points of the data."""
    config = apply_overrides(recipes.get_recipe("smoke"), ["batch_size=32"])
    scaled = config.scaled()
    factor = config.reference_batch_size // config.batch_size
    assert scaled["total_steps"] == config.total_steps * factor
    for key in ("eval_every", "checkpoint_every", "log_every"):
        assert scaled[key] == getattr(config, key) * factor, key


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["batch_size"], r"--set 'batch_size'; expected key=value"),
        (["batchsize=3"], r"unknown key. Expected one of \[.*'batch_size'"),
        (["model=ResNet7"], r"model='ResNet7'; expected a registered model"),
        (["dataset=mnist"], r"dataset='mnist'; expected one of"),
        (["mixed_precision=float16"], r"mixed_precision='float16'; expected one of \(None, 'mixed_float16'"),
        (["batch_size=0"], r"batch_size=0; expected an integer >= 1"),
        (["eval_crop=256"], r"eval_crop=256; expected one of \(224, 320\)"),
        (["crop_padding=28"], r"crop_padding=28; expected an integer from 0 to 27"),
        (["crop_padding=-1"], r"crop_padding=-1; expected an integer from 0 to 27"),
    ],
)
def test_bad_overrides_are_named(overrides, message):
    with pytest.raises(ValueError, match=message):
        apply_overrides(recipes.get_recipe("smoke"), overrides)


def test_overrides_parse_json_values():
    config = apply_overrides(
        recipes.get_recipe("smoke"),
        ["momentum=0", "boundaries=[5,9]", "sync_bn=true", 'model_kwargs={"shortcut": "conv1x1"}'],
    )
    assert config.momentum == 0.0 and isinstance(config.momentum, float)
    assert config.boundaries == (5, 9) and config.sync_bn is True and config.model_kwargs == {"shortcut": "conv1x1"}
