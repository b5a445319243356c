"""Lua Torch (`torch.save`, `.t7`) files read into Python data, never into code.

The binary format of torch7's `File.lua`: each object is an int32 type tag; numbers
are float64, booleans int32, strings an int32 length and bytes. Tables and Torch
objects carry an int32 index, and an index seen before is a reference to that object.
A Torch object then holds its version ("V 1") and class name; a `torch.*Tensor` is its
dimension count (int32), sizes and strides (int64 each), 1-based storage offset
(int64) and storage object; a `torch.*Storage` its element count (int64) and raw
elements. Any other class (an `nn` module) is the table of its fields. Integers are
little-endian, longs 8 bytes (files written on 64-bit Linux).

Lua functions (tags 6 to 8) are refused: a file of weights never needs code. Every
count and length the file declares is bounded by the bytes left in it, objects nest at
most `MAX_DEPTH` deep, and tensor views are checked against their storage (`limits`).
"""

import dataclasses
import math
import struct

import numpy as np

from keras_preact.weights.formats.limits import (
    MAX_DEPTH,
    MAX_DIMS,
    Budget,
    CheckpointError,
    check_view,
    read_regular_file,
    reading,
    shorten,
)

TYPE_NIL, TYPE_NUMBER, TYPE_STRING, TYPE_TABLE, TYPE_TORCH, TYPE_BOOLEAN = 0, 1, 2, 3, 4, 5
FUNCTION_TYPES = (6, 7, 8)

# Storage class -> NumPy dtype of its elements.
STORAGE_DTYPES = {
    "torch.DoubleStorage": "<f8",
    "torch.FloatStorage": "<f4",
    "torch.CudaStorage": "<f4",
    "torch.CudaDoubleStorage": "<f8",
    "torch.LongStorage": "<i8",
    "torch.IntStorage": "<i4",
    "torch.ShortStorage": "<i2",
    "torch.CharStorage": "i1",
    "torch.ByteStorage": "u1",
}
TENSOR_CLASSES = {name.replace("Storage", "Tensor") for name in STORAGE_DTYPES}


@dataclasses.dataclass
class TorchObject:
    """A Torch object other than a tensor: its class name ("nn.SpatialConvolution",
    "cudnn.SpatialBatchNormalization") and its fields (a dict)."""

    class_name: str
    fields: dict

    def __getitem__(self, key):
        return self.fields[key]

    def get(self, key, default=None):
        return self.fields.get(key, default)


class Torch7Error(CheckpointError):
    """The file is not a Torch7 file, or holds what a file of weights never needs."""


KIND = "Torch7 binary file (torch.save, .t7)"
# The fewest bytes one table entry (a key and a value, each a type tag) takes.
MIN_ENTRY_BYTES = 8


class _Reader:
    def __init__(self, data, path):
        self.data, self.pos, self.path, self.objects = data, 0, path, {}
        self.depth, self.budget = 0, Budget(path, len(data))

    def _error(self, problem, accepts=f"a {KIND}"):
        return Torch7Error(self.path, f"{problem} at offset {self.pos}", accepts)

    def _take(self, fmt):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise self._error("ends in the middle of an object")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values if len(values) > 1 else values[0]

    def _count(self, fmt, unit, what):
        """A count the file declares, refused if negative or past what the rest of the
        file can hold at `unit` bytes each."""
        count = self._take(fmt)
        if count < 0 or count * unit > len(self.data) - self.pos:
            raise self._error(f"{what} of {count}, more than the file holds")
        return count

    def _string(self):
        size = self._count("<i", 1, "a string length")
        text = self.data[self.pos : self.pos + size]
        self.pos += size
        return text.decode("latin-1")

    def read(self):
        tag = self._take("<i")
        if tag == TYPE_NIL:
            return None
        if tag == TYPE_NUMBER:
            number = self._take("<d")
            return int(number) if number.is_integer() else number
        if tag == TYPE_STRING:
            return self._string()
        if tag == TYPE_BOOLEAN:
            return self._take("<i") == 1
        if tag in FUNCTION_TYPES:
            raise self._error(
                f"refused: it holds a Lua function (type {tag}); none was run", "a file of weights never needs code"
            )
        if tag not in (TYPE_TABLE, TYPE_TORCH):
            raise self._error(f"unknown type tag {shorten(tag)}")
        index = self._take("<i")
        if index in self.objects:
            return self.objects[index]
        if self.depth >= MAX_DEPTH:
            raise self._error("objects nested too deeply", f"at most {MAX_DEPTH} levels")
        self.depth += 1
        try:
            return self._table(index) if tag == TYPE_TABLE else self._torch_object(index)
        finally:
            self.depth -= 1

    def _table(self, index):
        table = self.objects[index] = {}
        for _ in range(self._count("<i", MIN_ENTRY_BYTES, "a table of entries")):
            key = self.read()
            if isinstance(key, (dict, list, np.ndarray, TorchObject)):
                key = id(key)  # Lua allows any key; a file of weights has numbers and strings
            table[key] = self.read()
        return table

    def _torch_object(self, index):
        version = self._string()
        class_name = self._string() if version.startswith("V ") else version
        if class_name in STORAGE_DTYPES:
            dtype = np.dtype(STORAGE_DTYPES[class_name])
            count = self._count("<q", dtype.itemsize, f"a {class_name} of elements")
            end = self.pos + count * dtype.itemsize
            self.objects[index] = np.frombuffer(self.data, dtype, count, self.pos)
            self.pos = end
            return self.objects[index]
        if class_name in TENSOR_CLASSES:
            return self._tensor(index)
        obj = self.objects[index] = TorchObject(shorten(class_name, 100), {})
        fields = self.read()
        obj.fields.update(fields if isinstance(fields, dict) else {"value": fields})
        return obj

    def _tensor(self, index):
        ndim = self._take("<i")
        if not 0 <= ndim <= MAX_DIMS:
            raise self._error(f"a tensor of {ndim} dimensions", f"at most {MAX_DIMS}")
        size = [self._take("<q") for _ in range(ndim)]
        stride = [self._take("<q") for _ in range(ndim)]
        offset = self._take("<q") - 1
        storage = self.read()
        if ndim == 0 or storage is None:
            array = np.zeros([0], "float32")
        elif not isinstance(storage, np.ndarray):
            raise self._error("a tensor whose storage is not a torch storage")
        else:
            check_view(self.path, f"at offset {self.pos}", storage.size, offset, size, stride)
            self.budget.take(math.prod(size) * storage.itemsize, f"the tensor at offset {self.pos}")
            view = np.lib.stride_tricks.as_strided(
                storage[offset:], shape=size, strides=[s * storage.itemsize for s in stride], writeable=False
            )
            array = np.array(view)
        self.objects[index] = array
        return array


def load(path):
    """Reads a Torch7 binary file.

    Returns:
        The saved object: tensors as NumPy arrays, Lua tables as dicts (integral
        number keys as ints), other Torch objects as `TorchObject`.

    Raises:
        Torch7Error: (a `CheckpointError`) if the file is not a Torch7 binary file,
            declares more than it holds (`limits`) or holds a Lua function.
    """
    with reading(path, KIND):
        return loads(read_regular_file(path), path)


def loads(data, path):
    """`load` of a file's bytes already in memory (`path` names it in messages)."""
    with reading(path, KIND):
        return _Reader(data, path).read()
