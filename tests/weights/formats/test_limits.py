"""Checkpoints crafted by a hostile user, byte by byte: every reader refuses views past
a storage, size bombs, loops and deep nesting with one `CheckpointError` line, within a
memory cap and in well under a second, and fuzzed files either read or raise it."""

import io
import json
import os
import struct
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from keras_preact.weights.formats import safetensors, torch7, torch_pickle
from keras_preact.weights.formats.limits import CheckpointError

from tests.helpers import HELPERS
from tests.helpers.crafted_checkpoints import Tensor, dumps, safetensors_file, state_pickle, torch7_file, torch_file

BOUNDED_READER = os.path.join(HELPERS, "bounded_reader.py")
MEMORY_CAP_MB = 1024
READERS = {"torch": torch_pickle.load, "safetensors": safetensors.load, "torch7": torch7.load}
FUZZ_EXAMPLES = int(os.environ.get("KERAS_PREACT_FUZZ_EXAMPLES", "500"))

# (offset, size, stride) over a storage of 12 elements, each reading outside it
OUT_OF_STORAGE = {
    "offset_past_end": (12, (2,), (1,)),
    "size_past_end": (0, (13,), (1,)),
    "huge_stride": (0, (2, 2), (1 << 40, 1)),
    "negative_stride": (11, (3,), (-1,)),
    "negative_offset": (-4, (3,), (1,)),
}


def _refused(reader, path, match):
    with pytest.raises(CheckpointError, match=match) as error:
        READERS[reader](path)
    message = str(error.value)
    assert "\n" not in message and len(message) < 300, message
    return message


def _crafted(kind, tmp_path, offset, size, stride):
    values = np.arange(12)
    if kind == "torch7":
        return torch7_file(tmp_path / "view.t7", values, size, stride, offset + 1)
    tensors = {"conv1.weight": Tensor(0, offset, size, stride)}
    return torch_file(tmp_path / f"view-{kind}.pth", tensors, {0: values}, kind)


@pytest.mark.parametrize("view", OUT_OF_STORAGE)
@pytest.mark.parametrize("kind", ["zip", "legacy", "torch7"])
def test_views_outside_their_storage_are_refused(kind, view, tmp_path):
    path = _crafted(kind, tmp_path, *OUT_OF_STORAGE[view])
    _refused("torch7" if kind == "torch7" else "torch", path, "storage|negative")


@pytest.mark.parametrize("kind", ["zip", "legacy", "torch7"])
def test_views_inside_their_storage_read_as_numpy_views(kind, tmp_path):
    """The same files with views that fit read exactly what NumPy's view reads."""
    path = _crafted(kind, tmp_path, 1, (2, 3), (4, 2))
    loaded = READERS["torch7" if kind == "torch7" else "torch"](path)
    array = loaded if kind == "torch7" else loaded["conv1.weight"]
    np.testing.assert_array_equal(array, [[1, 3, 5], [5, 7, 9]])


def test_a_converted_file_is_never_written_from_outside_the_storage(tmp_path, capsys):
    from keras_preact.commands import convert as cli

    path = torch_file(
        tmp_path / "r20.pth",
        {"features.init_block.conv.weight": Tensor(0, 0, (16, 3, 3, 3), (27, 9, 3, 1))},
        {0: np.zeros(1)},
        "legacy",
    )
    output = tmp_path / "out.weights.h5"
    with pytest.raises(SystemExit) as exit_status:
        cli.run(["--source", "pytorchcv", "--checkpoint", str(path), "--model", "ResNet20", "--output", str(output)])
    err = capsys.readouterr().err
    assert exit_status.value.code == 2 and "storage" in err.splitlines()[-1] and "Traceback" not in err
    assert os.listdir(tmp_path) == ["r20.pth"]


def _size_bombs(directory):
    """{name: (reader, file)}: small files that declare gigabytes."""
    bombs = {}
    huge = (1 << 29,)  # 2 GiB of float32 from one element
    bombs["pickle_stride0"] = (
        "torch",
        torch_file(directory / "s0.pth", {"w": Tensor(0, 0, huge, (0,))}, {0: [1]}, "legacy"),
    )
    bombs["zip_stride0"] = ("torch", torch_file(directory / "s0z.pth", {"w": Tensor(0, 0, huge, (0,))}, {0: [1]}))
    bombs["torch7_stride0"] = ("torch7", torch7_file(directory / "s0.t7", [1], huge, [0]))
    zipped = directory / "deflated.pth"  # 64 MB of zeros in a 64 KB deflated entry
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", state_pickle({"w": Tensor(0, 0, (16 << 20,), (1,))}, {"0": 16 << 20}))
        archive.writestr("archive/data/0", bytes(64 << 20))
    bombs["zip_deflated"] = ("torch", zipped)
    header = {"w": {"dtype": "F32", "shape": [1 << 30], "data_offsets": [0, 4 << 30]}}
    bombs["safetensors_shape"] = ("safetensors", safetensors_file(directory / "big.safetensors", header, b"\0" * 4))
    bombs["dev_zero"] = ("torch", "/dev/zero")
    return bombs


@pytest.mark.slow
def test_size_bombs_are_refused_under_a_1_gb_memory_cap(tmp_path):
    bombs = _size_bombs(tmp_path)
    arguments = [str(a) for reader, path in bombs.values() for a in (reader, path)]
    done = subprocess.run(
        [sys.executable, BOUNDED_READER, "read", str(MEMORY_CAP_MB), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == len(bombs)
    for name, result in zip(bombs, results):
        assert result["outcome"] == "CheckpointError", (name, result)
        assert "needs more memory" not in result["message"], (name, result)  # refused by a bound, not by the cap
        assert len(result["message"]) < 300 and result["seconds"] < 1, (name, result)


def _torch7_rewinding_table(path):
    """A table of 2^31-1 entries whose first key is a string of length -9: a reader that
    trusts both rewinds its cursor to the same place forever."""
    data = struct.pack("<iii", 3, 1, 2**31 - 1) + struct.pack("<ii", 2, -9)
    path.write_bytes(data)
    return path


def _deep_pickle(path, depth=5_000):
    data = b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."
    legacy = b"".join(dumps(v) for v in (0x1950A86A20F9469CFC6C, 1001, {}))
    path.write_bytes(legacy + data + dumps([]))
    return path


def _deep_safetensors(path, depth=100_000):
    text = ('{"w": ' + "[" * depth + "]" * depth + "}").encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text)
    return path


def _deep_torch7(path, depth=10_000):
    data = b"".join(struct.pack("<iii", 3, i + 1, 1) + struct.pack("<id", 1, 1.0) for i in range(depth))
    path.write_bytes(data + struct.pack("<i", 0))
    return path


def _cyclic_pickle(path):
    """Pairs of the same pair, 100 levels down: 2^100 visits for a naive walk."""
    data = b"\x80\x02]q\x00" + b"h\x00h\x00\x86q\x00" * 100 + b"."
    legacy = b"".join(dumps(v) for v in (0x1950A86A20F9469CFC6C, 1001, {}))
    path.write_bytes(legacy + data + dumps([]))
    return path


def _memo_bomb(path):
    """LONG_BINPUT with index 2^32-1: CPython's unpickler would allocate a 32 GB memo."""
    data = b"\x80\x02}r\xff\xff\xff\xff."
    path.write_bytes(b"".join(dumps(v) for v in (0x1950A86A20F9469CFC6C, 1001, {})) + data)
    return path


LOOPS = {
    "torch7_rewinding_table": ("torch7", _torch7_rewinding_table),
    "deep_pickle": ("torch", _deep_pickle),
    "shared_pickle": ("torch", _cyclic_pickle),
    "memo_bomb": ("torch", _memo_bomb),
    "deep_safetensors": ("safetensors", _deep_safetensors),
    "deep_torch7": ("torch7", _deep_torch7),
}


@pytest.mark.parametrize("case", LOOPS)
def test_loops_and_deep_nesting_are_refused_in_under_a_second(case, tmp_path):
    reader, craft = LOOPS[case]
    path = craft(tmp_path / case)
    start = time.perf_counter()
    _refused(reader, path, None)
    assert time.perf_counter() - start < 1


def _zip_with(path, flag_bits=0, method=zipfile.ZIP_STORED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", dumps({}))
    data = bytearray(buffer.getvalue())
    for signature, flags_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        at = data.index(signature)
        data[at + flags_at : at + flags_at + 2] = struct.pack("<H", flag_bits)
        data[at + method_at : at + method_at + 2] = struct.pack("<H", method)
    path.write_bytes(bytes(data))
    return path


def test_named_globals_are_cut_and_damaged_zips_are_one_line(tmp_path):
    legacy = b"".join(dumps(v) for v in (0x1950A86A20F9469CFC6C, 1001, {}))
    long_name = tmp_path / "long.pth"
    long_name.write_bytes(legacy + b"\x80\x02c" + b"m" * 5_000_000 + b"\nsystem\n.")
    assert "refused" in _refused("torch", long_name, "global")
    _refused("torch", _zip_with(tmp_path / "encrypted.pth", flag_bits=1), "encrypted")
    _refused("torch", _zip_with(tmp_path / "method.pth", method=14), "method 14")
    fifo = tmp_path / "fifo.pth"
    os.mkfifo(fifo)  # opening it to read would wait for a writer forever
    for not_a_file in (fifo, tmp_path, "/dev/zero"):
        _refused("torch", not_a_file, "not a regular file")


SAFETENSORS_HEADERS = {
    "overlap": {
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
    },
    "negative_offset": {"a": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}},
    "shape_minus_one": {"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}},
    "past_the_data": {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}},
    "size_mismatch": {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 8]}},
    "not_an_entry": {"a": [1, 2]},
}


@pytest.mark.parametrize("case", SAFETENSORS_HEADERS)
def test_safetensors_headers_that_do_not_fit_the_data_are_refused(case, tmp_path):
    path = safetensors_file(tmp_path / "x.safetensors", SAFETENSORS_HEADERS[case], bytes(12))
    _refused("safetensors", path, "tensor")


def _valid_files(directory):
    values = np.arange(24, dtype="float32")
    tensors = {"conv.weight": Tensor(0, 0, (2, 3, 2, 2), (12, 4, 2, 1)), "bn.running_var": Tensor(1)}
    storages = {0: values, 1: values[:4]}
    header = {
        "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "b": {"dtype": "BF16", "shape": [4], "data_offsets": [24, 32]},
    }
    return {
        "torch-zip": ("torch", torch_file(directory / "ok.pth", tensors, storages)),
        "torch-legacy": ("torch", torch_file(directory / "ok-legacy.pth", tensors, storages, "legacy")),
        "safetensors": ("safetensors", safetensors_file(directory / "ok.safetensors", header, bytes(range(32)))),
        "torch7": ("torch7", torch7_file(directory / "ok.t7", values[:12], (3, 4), (4, 1))),
    }


@pytest.mark.slow
@pytest.mark.parametrize("case", ["torch-zip", "torch-legacy", "safetensors", "torch7"])
def test_fuzzed_files_read_or_raise_the_package_error_within_a_memory_cap(case, tmp_path):
    reader, path = _valid_files(tmp_path)[case]
    READERS[reader](path)  # the unmutated file reads
    done = subprocess.run(
        [sys.executable, BOUNDED_READER, "fuzz", str(MEMORY_CAP_MB), reader, str(path), str(FUZZ_EXAMPLES), "0"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    summary = json.loads(done.stdout.splitlines()[-1])
    print(summary)
    assert summary["ok"] + summary["CheckpointError"] >= FUZZ_EXAMPLES * 0.9
    assert summary["CheckpointError"] > 0 and summary["ok"] > 0
