"""Named training recipes: the paper's (a recipe per row of Table 3), the shipped weights'
as they were run, the demo's, and the error for an unknown name. (Their schedules:
test_schedules.py.)"""

import os

import pytest

from keras_preact.training import recipes

from tests.helpers import ROOT


def test_the_shipped_weights_recipe_is_kept_as_it_was_run():
    import json

    from keras_preact.weights.shipped import SHIPPED_INDEX

    with open(SHIPPED_INDEX) as f:
        shipped = json.load(f)["weights"]
    with open(os.path.join(ROOT, "saved_models", "manifest.json")) as f:
        manifest = json.load(f)
    for entry in shipped:
        assert recipes.get_recipe(entry["recipe"]).to_dict() == manifest["recipe"]


def test_the_demo_recipe_trains_one_epoch_of_a_subset_on_the_full_test_set():
    demo = recipes.get_recipe("demo").validate()
    assert (demo.model, demo.dataset, demo.train_subset, demo.eval_subset) == (
        "PreActResNet20",
        "fashion_mnist",
        12_000,
        None,
    )
    assert demo.total_steps == 12_000 // demo.batch_size == demo.eval_every
    assert demo.checkpoint_every < demo.total_steps  # the demo writes checkpoints as every run does


def test_every_row_of_table3_has_a_recipe():
    for dataset in ("cifar10", "cifar100"):
        for depth in (110, 164, 1001):
            assert recipes.get_recipe(f"{dataset}_resnet{depth}_v1").model == f"ResNet{depth}"
            assert recipes.get_recipe(f"{dataset}_resnet{depth}_v2").model == f"PreActResNet{depth}"
    for config in recipes.RECIPES.values():
        config.validate()


def test_unknown_recipe_lists_the_recipes():
    with pytest.raises(ValueError, match=r"recipe='cifar10'; expected one of \[.*'smoke'"):
        recipes.get_recipe("cifar10")
