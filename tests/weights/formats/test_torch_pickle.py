"""The reader of PyTorch's `torch.save` files (zip and legacy layouts): what PyTorch
wrote reads back exactly, and a file that asks to run code is refused before anything
of it runs. (Crafted and hostile files: test_limits.py.)"""

import os
import pickle
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from keras_preact.weights.formats import torch_pickle  # noqa: E402

from tests.helpers.peer_checkpoints import state_of_every_kind  # noqa: E402


@pytest.mark.parametrize("zip_layout", [True, False], ids=["zip", "legacy"])
def test_torch_save_files_read_back_exactly(zip_layout, tmp_path):
    state = state_of_every_kind()
    path = tmp_path / "state.pth"
    torch.save(state, path, _use_new_zipfile_serialization=zip_layout)
    loaded = torch_pickle.load(path)
    assert list(loaded) == list(state)
    for key, tensor in state.items():
        expected = tensor.float().numpy() if key == "bfloat16" else tensor.numpy()
        np.testing.assert_array_equal(loaded[key], expected)
        assert loaded[key].dtype == expected.dtype, key


def _crafted_pickle(marker):
    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    return pickle.dumps({"weight": Payload()}, protocol=2)


@pytest.mark.parametrize("zip_layout", [True, False], ids=["zip", "legacy"])
def test_a_pickle_that_names_another_global_is_refused_and_nothing_runs(zip_layout, tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pth"
    payload = _crafted_pickle(marker)
    if zip_layout:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", payload)
    else:
        header = b"".join(pickle.dumps(v, protocol=2) for v in (torch_pickle.LEGACY_MAGIC_NUMBER, 1001, {}))
        path.write_bytes(header + payload)
    with pytest.raises(
        torch_pickle.UnsafeCheckpointError, match=r"'(posix|os)\.system'.*Nothing from the file was run"
    ):
        torch_pickle.load(path)
    assert not marker.exists()


def test_a_file_that_is_no_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        torch_pickle.load(path)
