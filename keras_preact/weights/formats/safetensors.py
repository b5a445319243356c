"""Hugging Face safetensors files read into NumPy (the format runs no code by design).

A file is an 8-byte little-endian header length, a JSON header mapping each tensor's
name to its dtype, shape and byte range, and the raw little-endian tensors. Before any
tensor is read, the header is checked as the format's specification requires: every
byte range lies inside the data, ranges do not overlap, and each holds exactly the
bytes its dtype and shape need (`limits` bounds the rest).
"""

import json
import math

import numpy as np

from keras_preact.weights.formats.limits import (
    MAX_DIMS,
    Budget,
    CheckpointError,
    read_regular_file,
    reading,
    shorten,
)

DTYPES = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "BF16": "<u2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
    "BOOL": "?",
}
KIND = "safetensors file"
MAX_HEADER_BYTES = 100 << 20  # the format's own limit on the JSON header


def _header(data, path):
    size = int.from_bytes(data[:8], "little")
    if len(data) < 8 or size > min(MAX_HEADER_BYTES, len(data) - 8):
        raise CheckpointError(path, f"a header of {size} bytes in a file of {len(data)}", f"a {KIND}")
    try:
        header = json.loads(data[8 : 8 + size])
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(path, f"a header that is not JSON ({e})", f"a {KIND}") from None
    if not isinstance(header, dict):
        raise CheckpointError(path, "a header that is not a JSON object", f"a {KIND}")
    return header, 8 + size


def _entry(name, entry, body_bytes, path):
    """(dtype, shape, begin, end) of one tensor's header entry, checked."""
    if not isinstance(entry, dict) or entry.get("dtype") not in DTYPES:
        dtype = entry.get("dtype") if isinstance(entry, dict) else entry
        raise CheckpointError(
            path, f"tensor {shorten(name)} has dtype {shorten(dtype)}", f"dtypes {', '.join(sorted(DTYPES))}"
        )
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    ints = isinstance(shape, list) and isinstance(offsets, list) and len(offsets) == 2
    if not (ints and all(type(v) is int and v >= 0 for v in shape + offsets) and len(shape) <= MAX_DIMS):
        raise CheckpointError(
            path,
            f"tensor {shorten(name)} has shape {shorten(shape)} and offsets {shorten(offsets)}",
            "non-negative integers",
        )
    begin, end = offsets
    nbytes = math.prod(shape) * np.dtype(DTYPES[entry["dtype"]]).itemsize
    if not begin <= end <= body_bytes or end - begin != nbytes:
        raise CheckpointError(
            path,
            f"tensor {shorten(name)} spans bytes {begin}..{end} of {body_bytes} for {nbytes} bytes",
            "each tensor's bytes inside the data, exactly its shape's size",
        )
    return DTYPES[entry["dtype"]], shape, begin, end


def _check_no_overlap(ranges, path):
    previous = 0
    for begin, end, name in sorted(ranges):
        if begin < previous:
            raise CheckpointError(path, f"tensor {shorten(name)} overlaps another", "tensors in disjoint byte ranges")
        previous = end


def load(path):
    """Reads every tensor of a `.safetensors` file.

    Returns:
        A dict of name -> NumPy array (bfloat16 widened to float32), in file order.

    Raises:
        CheckpointError: (a ValueError) if the file is not a safetensors file, names
            an unknown dtype, or has a tensor outside the data or overlapping another.
    """
    with reading(path, KIND):
        return loads(read_regular_file(path), path)


def loads(data, path):
    """`load` of a file's bytes already in memory (`path` names it in messages)."""
    with reading(path, KIND):
        header, start = _header(data, path)
        body = memoryview(data)[start:]
        entries = {name: _entry(name, e, len(body), path) for name, e in header.items() if name != "__metadata__"}
        _check_no_overlap([(b, e, name) for name, (_, _, b, e) in entries.items() if e > b], path)
        budget, tensors = Budget(path, len(data)), {}
        for name, (dtype, shape, begin, end) in entries.items():
            array = np.frombuffer(body[begin:end], dtype).reshape(shape)
            if dtype == "<u2" and header[name]["dtype"] == "BF16":
                budget.take(2 * array.nbytes, f"tensor {shorten(name)}")
                array = (array.astype("<u4") << 16).view("<f4")
            tensors[shorten(name, 200)] = np.array(array)
        return tensors
