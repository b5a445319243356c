"""Atomic checkpoints: complete directories, pruned; a truncated one skipped naming its
file; non-chief workers write nowhere near the shared directory; a killed save's
temporary folders removed at the next start."""

import os
import tempfile

import pytest
import tensorflow as tf

from keras_preact.training.checkpoints import AtomicCheckpointManager, CorruptCheckpointError


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
