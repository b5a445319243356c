"""Hugging Face safetensors files read into NumPy (the format runs no code by design).

A file is an 8-byte little-endian header length, a JSON header mapping each tensor's
name to its dtype, shape and byte range, and the raw little-endian tensors.
"""

import json
import struct

import numpy as np

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


def load(path):
    """Reads every tensor of a `.safetensors` file.

    Returns:
        A dict of name -> NumPy array (bfloat16 widened to float32), in file order.

    Raises:
        ValueError: if the file is not a safetensors file or names an unknown dtype.
    """
    with open(path, "rb") as f:
        raw = f.read()
    try:
        (size,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8 : 8 + size])
    except (struct.error, ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not a safetensors file: {e}") from None
    body = raw[8 + size :]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry.get("dtype") not in DTYPES:
            raise ValueError(
                f"{path}: tensor {name!r} has dtype {entry.get('dtype')!r}; expected one of {sorted(DTYPES)}."
            )
        begin, end = entry["data_offsets"]
        array = np.frombuffer(body[begin:end], DTYPES[entry["dtype"]]).reshape(entry["shape"])
        if entry["dtype"] == "BF16":
            array = (array.astype("<u4") << 16).view("<f4")
        tensors[name] = np.array(array)
    return tensors
