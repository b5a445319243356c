"""Lua Torch (`torch.save`, `.t7`) files read into Python data, never into code.

The binary format of torch7's `File.lua`: each object is an int32 type tag; numbers
are float64, booleans int32, strings an int32 length and bytes. Tables and Torch
objects carry an int32 index, and an index seen before is a reference to that object.
A Torch object then holds its version ("V 1") and class name; a `torch.*Tensor` is its
dimension count (int32), sizes and strides (int64 each), 1-based storage offset
(int64) and storage object; a `torch.*Storage` its element count (int64) and raw
elements. Any other class (an `nn` module) is the table of its fields. Integers are
little-endian, longs 8 bytes (files written on 64-bit Linux).

Lua functions (tags 6 to 8) are refused: a file of weights never needs code.
"""

import dataclasses
import struct

import numpy as np

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


class Torch7Error(ValueError):
    """The file is not a Torch7 file, or holds what a file of weights never needs."""


class _Reader:
    def __init__(self, data, path):
        self.data, self.pos, self.path, self.objects = data, 0, path, {}

    def _take(self, fmt):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise Torch7Error(f"{self.path} ends in the middle of an object (offset {self.pos}).")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values if len(values) > 1 else values[0]

    def _string(self):
        size = self._take("<i")
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
            raise Torch7Error(
                f"Refused to read {self.path}: it holds a Lua function (type {tag}) at offset {self.pos - 4}; "
                "a file of weights never needs code, and none was run."
            )
        if tag not in (TYPE_TABLE, TYPE_TORCH):
            raise Torch7Error(f"{self.path} is not a Torch7 file: unknown type tag {tag} at offset {self.pos - 4}.")
        index = self._take("<i")
        if index in self.objects:
            return self.objects[index]
        return self._table(index) if tag == TYPE_TABLE else self._torch_object(index)

    def _table(self, index):
        table = self.objects[index] = {}
        for _ in range(self._take("<i")):
            key = self.read()
            table[key] = self.read()
        return table

    def _torch_object(self, index):
        version = self._string()
        class_name = self._string() if version.startswith("V ") else version
        if class_name in STORAGE_DTYPES:
            count = self._take("<q")
            dtype = np.dtype(STORAGE_DTYPES[class_name])
            end = self.pos + count * dtype.itemsize
            self.objects[index] = np.frombuffer(self.data[self.pos : end], dtype)
            self.pos = end
            return self.objects[index]
        if class_name in TENSOR_CLASSES:
            return self._tensor(index)
        obj = self.objects[index] = TorchObject(class_name, {})
        fields = self.read()
        obj.fields.update(fields if isinstance(fields, dict) else {"value": fields})
        return obj

    def _tensor(self, index):
        ndim = self._take("<i")
        size = [self._take("<q") for _ in range(ndim)]
        stride = [self._take("<q") for _ in range(ndim)]
        offset = self._take("<q") - 1
        storage = self.read()
        if ndim == 0 or storage is None:
            array = np.zeros([0], "float32")
        else:
            view = np.lib.stride_tricks.as_strided(
                storage[offset:], shape=size, strides=[s * storage.itemsize for s in stride]
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
        Torch7Error: if the file is not a Torch7 binary file or holds a Lua function.
    """
    with open(path, "rb") as f:
        data = f.read()
    reader = _Reader(data, str(path))
    return reader.read()
