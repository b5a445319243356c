"""The reader of safetensors files: what the safetensors library wrote reads back exactly.
(Headers that do not fit their data: test_limits.py.)"""

import numpy as np
import pytest

pytest.importorskip("torch")

from keras_preact.weights.formats import safetensors  # noqa: E402

from tests.helpers.peer_checkpoints import state_of_every_kind  # noqa: E402


def test_safetensors_files_read_back_exactly(tmp_path):
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in state_of_every_kind().items()}
    save_file(state, tmp_path / "model.safetensors")
    loaded = safetensors.load(tmp_path / "model.safetensors")
    for key, tensor in state.items():
        np.testing.assert_array_equal(loaded[key], tensor.float().numpy() if key == "bfloat16" else tensor.numpy())
