"""The reader of Lua Torch's `.t7` files: what torch7's format holds reads as `torchfile`
reads it, and a file with a Lua function is refused, none run."""

import io

import numpy as np
import pytest

pytest.importorskip("torch")  # the writer of the test files (tests/helpers/torch7_models.py)

from keras_preact.weights.formats import torch7  # noqa: E402

from tests.helpers.torch7_models import container, module, save  # noqa: E402


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
