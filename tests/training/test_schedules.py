"""The step learning-rate schedule the recipes give, at the paper's boundaries."""

import numpy as np
import pytest

from keras_preact.training import recipes
from keras_preact.training.schedules import StepSchedule


def _lr(config, steps):
    s = config.scaled()
    schedule = StepSchedule(s["base_lr"], s["boundaries"], s["warmup_lr"], s["warmup_steps"])
    return [float(schedule(step)) for step in steps]


def test_cifar_schedule_matches_the_paper_at_its_boundaries():
    config = recipes.get_recipe("cifar10_resnet1001_v2")
    steps = [0, 399, 400, 31_999, 32_000, 47_999, 48_000, 63_999]
    np.testing.assert_allclose(_lr(config, steps), [0.01, 0.01, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-6)
    assert config.scaled()["total_steps"] == 64_000
    assert (config.momentum, config.weight_decay, config.batch_size) == (0.9, 1e-4, 128)


def test_imagenet_recipe_divides_at_epochs_30_and_60_without_warmup():
    config = recipes.get_recipe("imagenet_resnet200_v2")
    epoch = recipes.IMAGENET_TRAIN_IMAGES // 256
    steps = [0, 30 * epoch - 1, 30 * epoch, 60 * epoch]
    np.testing.assert_allclose(_lr(config, steps), [0.1, 0.1, 0.01, 0.001], rtol=1e-6)
    assert (config.model, config.batch_size) == ("PreActResNet200", 256)


@pytest.mark.parametrize("suffix, epochs, weight_decay, decay_epochs", [("_60ep", 60, 5e-4, (30, 45))])
def test_fashion_mnist_recipes_pair_v1_and_v2_and_divide_lr_by_10_twice(suffix, epochs, weight_decay, decay_epochs):
    v1, v2 = (recipes.get_recipe(f"fashion_mnist_resnet20{suffix}_{v}") for v in ("v1", "v2"))
    assert (v1.model, v2.model) == ("ResNet20", "PreActResNet20")
    assert {**v1.to_dict(), "model": None} == {**v2.to_dict(), "model": None}
    epoch = 60_000 // v2.batch_size
    assert (v2.total_steps, v2.weight_decay, v2.crop_padding) == (epochs * epoch, weight_decay, 2)
    first, second = (int(decay * epoch) for decay in decay_epochs)
    steps = [0, 400, first - 1, first, second - 1, second, epochs * epoch - 1]
    np.testing.assert_allclose(_lr(v2, steps), [0.01, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-6)
