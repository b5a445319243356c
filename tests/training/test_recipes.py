"""Recipes, the learning-rate schedule and atomic checkpoints (no training)."""

import os
import tempfile

import numpy as np
import pytest
import tensorflow as tf

from keras_preact.training import recipes
from keras_preact.training.checkpoints import AtomicCheckpointManager, CorruptCheckpointError
from keras_preact.training.config import apply_overrides
from keras_preact.training.schedules import StepSchedule

from tests.helpers import ROOT


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


def test_linear_scaling_keeps_the_epochs_and_scales_the_rate():
    config = apply_overrides(recipes.get_recipe("cifar100_resnet164_v1"), ["batch_size=256"])
    scaled = config.scaled()
    assert scaled["base_lr"] == pytest.approx(0.2) and scaled["warmup_lr"] == pytest.approx(0.02)
    assert (scaled["warmup_steps"], scaled["boundaries"], scaled["total_steps"]) == (200, [16_000, 24_000], 32_000)
    unscaled = apply_overrides(config, ["lr_scaling=none"]).scaled()
    assert unscaled["base_lr"] == pytest.approx(0.1) and unscaled["total_steps"] == 64_000


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


def test_unknown_recipe_lists_the_recipes():
    with pytest.raises(ValueError, match=r"recipe='cifar10'; expected one of \[.*'smoke'"):
        recipes.get_recipe("cifar10")


def _manager(directory, value=0.0, **kwargs):
    variable = tf.Variable(value)
    return AtomicCheckpointManager(tf.train.Checkpoint(v=variable), str(directory), **kwargs), variable


def test_checkpoints_are_complete_directories_and_pruned(tmp_path):
    manager, variable = _manager(tmp_path, max_to_keep=2)
    for step in (1, 2, 3):
        variable.assign(float(step))
        manager.save(step)
    assert [s for s, _ in manager.checkpoints()] == [1, 2, 3]  # none is pruned before the newest is good
    manager.prune()
    assert sorted(os.listdir(tmp_path)) == ["step-00000002", "step-00000003"]  # no temporary left
    assert manager.reject(3).endswith("rejected-step-00000003") and manager.reject(4) is None
    assert [s for s, _ in manager.checkpoints()] == [2]  # a rejected checkpoint is kept, never restored
    assert sorted(os.listdir(tmp_path)) == ["rejected-step-00000003", "step-00000002"]
    manager.save(3)
    os.makedirs(tmp_path / ".tmp-step-00000004-1")  # a writer killed mid-save
    restored, variable = _manager(tmp_path)
    assert restored.restore_latest() == 3 and float(variable) == 3.0


def test_a_truncated_checkpoint_is_skipped_with_its_file_named(tmp_path):
    manager, variable = _manager(tmp_path)
    for step in (1, 2):
        variable.assign(float(step))
        manager.save(step)
    data = next(p for p in (tmp_path / "step-00000002").iterdir() if p.name.startswith("ckpt.data"))
    data.write_bytes(data.read_bytes()[:-2])
    restored, variable = _manager(tmp_path)
    with pytest.warns(UserWarning, match=r"step-00000002/ckpt.data-00000-of-00001 has \d+ bytes.*truncated"):
        assert restored.restore_latest() == 1
    assert float(variable) == 1.0
    data = next(p for p in (tmp_path / "step-00000001").iterdir() if p.name.startswith("ckpt.data"))
    data.write_bytes(b"")
    with pytest.warns(UserWarning), pytest.raises(CorruptCheckpointError, match=r"step-00000001/ckpt.data"):
        _manager(tmp_path)[0].restore_latest()


def test_non_chief_workers_write_nowhere_near_the_shared_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "private"))
    (tmp_path / "private").mkdir()
    written = []
    manager, _ = _manager(tmp_path / "shared", is_chief=False)
    write = manager.checkpoint.write
    monkeypatch.setattr(manager.checkpoint, "write", lambda prefix: written.append(prefix) or write(prefix))
    assert manager.save(5) is None
    assert os.listdir(tmp_path / "shared") == [] and manager.restore_latest() is None
    assert written and written[0].startswith(str(tmp_path / "private"))  # written, then removed
    assert os.listdir(tmp_path / "private") == []


def test_temporary_folders_of_a_killed_save_are_removed_at_the_next_start(tmp_path):
    manager, _ = _manager(tmp_path)
    manager.save(3)
    for name in (".tmp-step-00000004-123", ".tmp-step-00000005-77"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "ckpt.index").write_bytes(b"half")
    (tmp_path / ".tmp-other").mkdir()  # not a checkpoint's: left alone
    restarted, _ = _manager(tmp_path)
    assert restarted.removed_temporaries == [".tmp-step-00000004-123", ".tmp-step-00000005-77"]
    assert sorted(os.listdir(tmp_path)) == [".tmp-other", "step-00000003"]
    assert restarted.restore_latest() == 3
    _manager(tmp_path / "w", is_chief=False)  # a non-chief never removes anything
