"""The checkpoint readers: what PyTorch, safetensors and Torch7 wrote reads back
exactly, and a file that asks to run code is refused before anything of it runs."""

import io
import os
import pickle
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from keras_preact.weights.formats import safetensors, torch7, torch_pickle  # noqa: E402

from tests.helpers.torch7_models import container, module, save  # noqa: E402


def _state():
    generator = torch.Generator().manual_seed(0)
    base = torch.randn(4, 6, generator=generator)
    return {
        "float32": torch.randn(3, 2, 3, 3, generator=generator),
        "transposed": base.t(),  # a strided view of a larger storage
        "slice": base[1:3, 2:],  # with a storage offset
        "float16": torch.randn(5, generator=generator).half(),
        "bfloat16": torch.randn(5, generator=generator).bfloat16(),
        "int64": torch.tensor([1, -2, 3]),
        "scalar": torch.tensor(7),
    }


@pytest.mark.parametrize("zip_layout", [True, False], ids=["zip", "legacy"])
def test_torch_save_files_read_back_exactly(zip_layout, tmp_path):
    state = _state()
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


def test_safetensors_files_read_back_exactly(tmp_path):
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in _state().items()}
    save_file(state, tmp_path / "model.safetensors")
    loaded = safetensors.load(tmp_path / "model.safetensors")
    for key, tensor in state.items():
        np.testing.assert_array_equal(loaded[key], tensor.float().numpy() if key == "bfloat16" else tensor.numpy())


def test_torch7_files_read_back_as_torchfile_reads_them(tmp_path):
    """Objects, shared references, numbers, strings, booleans and strided tensors
    written in torch7's format read the same with this reader and with `torchfile`."""
    import torchfile

    weight = np.arange(24, dtype="float32").reshape(2, 3, 4)
    conv = module("cudnn.SpatialConvolution", weight=weight, kW=3, train=False, name="c1")
    tree = container("nn.Sequential", [conv, module("nn.ReLU", inplace=True), conv])
    save(tree, tmp_path / "model.t7")
    ours, theirs = torch7.load(tmp_path / "model.t7"), torchfile.load(str(tmp_path / "model.t7"))
    assert ours.class_name == theirs.torch_typename().decode() == "nn.Sequential"
    first, second = ours["modules"][1], ours["modules"][3]
    assert first is second  # the repeated object is a reference
    np.testing.assert_array_equal(first["weight"], theirs[b"modules"][0][b"weight"])
    assert (first["kW"], first["train"], first["name"]) == (3, False, "c1")


def test_a_torch7_file_with_a_lua_function_is_refused(tmp_path):
    path = tmp_path / "code.t7"
    data = io.BytesIO()
    data.write((3).to_bytes(4, "little") + (1).to_bytes(4, "little") + (1).to_bytes(4, "little"))
    data.write((2).to_bytes(4, "little") + (2).to_bytes(4, "little") + b"fn")
    data.write((6).to_bytes(4, "little") + b"\x1bLua bytecode")
    path.write_bytes(data.getvalue())
    with pytest.raises(torch7.Torch7Error, match="holds a Lua function.*none was run"):
        torch7.load(path)
