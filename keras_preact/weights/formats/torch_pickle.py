"""PyTorch checkpoints (`torch.save`) read into NumPy without PyTorch and without
running code from the file.

A PyTorch file is a pickle: a program that may call any Python function while it is
read, which is why `torch.load` with `weights_only=False` must never see a download.
Here a restricted `pickle.Unpickler` rebuilds only what a state dict holds: tensors
(`torch._utils._rebuild_tensor_v2` and kin, on `torch.<Type>Storage` storages) in
`collections.OrderedDict` and plain containers. Any other global the file names is
refused with `UnsafeCheckpointError`, before it is looked up or called.

Both layouts of `torch.save` are read: the zip archive of PyTorch >= 1.6
(`<name>/data.pkl` plus one `<name>/data/<key>` entry per storage) and the legacy
stream of older releases (magic number, protocol, system info, the pickle, the storage
keys, then each storage as an int64 element count and its bytes).
"""

import collections
import io
import pickle
import struct
import zipfile

import numpy as np

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001

# torch.<Name>Storage -> the NumPy dtype of its elements ("bfloat16" is widened below).
STORAGE_DTYPES = {
    "DoubleStorage": "<f8",
    "FloatStorage": "<f4",
    "HalfStorage": "<f2",
    "BFloat16Storage": "<u2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


class UnsafeCheckpointError(ValueError):
    """A checkpoint asked for a Python global that a file of weights never needs."""


class _Storage:
    def __init__(self, type_name, key, numel):
        self.type_name, self.key, self.numel = type_name, str(key), int(numel)


class _TensorRef:
    """A tensor of the pickle, resolved into an array once its storage is read."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, int(offset), tuple(size), tuple(stride)

    def resolve(self, storages):
        flat = storages[self.storage.key]
        if self.storage.type_name == "BFloat16Storage":
            flat = (flat.astype("<u4") << 16).view("<f4")
        if not self.size:
            return np.array(flat[self.offset])
        itemsize = flat.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset :], shape=self.size, strides=[s * itemsize for s in self.stride]
        )
        return np.array(view)


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=None, backward_hooks=None, *unused):
    return data


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): name for name in STORAGE_DTYPES},
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, path):
        super().__init__(file)
        self.path = path

    def find_class(self, module, name):
        if (module, name) not in _ALLOWED:
            raise UnsafeCheckpointError(
                f"Refused to read {self.path}: it asks for the Python global '{module}.{name}', which a "
                "file of weights never needs (allowed: tensors, torch storages, OrderedDict and plain "
                "containers). Nothing from the file was run."
            )
        return _ALLOWED[(module, name)]

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and pid[1] in STORAGE_DTYPES):
            raise UnsafeCheckpointError(f"Refused to read {self.path}: unknown persistent id {pid!r}.")
        return _Storage(pid[1], pid[2], pid[4])


def _resolve(obj, storages):
    if isinstance(obj, _TensorRef):
        return obj.resolve(storages)
    if isinstance(obj, dict):
        return type(obj)((k, _resolve(v, storages)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(v, storages) for v in obj)
    return obj


def _collect_storages(obj, found):
    if isinstance(obj, _TensorRef):
        found[obj.storage.key] = obj.storage
    elif isinstance(obj, dict):
        for v in obj.values():
            _collect_storages(v, found)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _collect_storages(v, found)
    return found


def _read_zip(path):
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise ValueError(f"{path} is a zip file but not a PyTorch checkpoint: it has no single data.pkl.")
        prefix = pickles[0][: -len("data.pkl")]
        obj = _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), path).load()
        storages = {}
        for key, storage in _collect_storages(obj, {}).items():
            data = archive.read(f"{prefix}data/{key}")
            storages[key] = np.frombuffer(data, STORAGE_DTYPES[storage.type_name], count=storage.numel)
    return _resolve(obj, storages)


def _read_legacy(path):
    with open(path, "rb") as f:
        if _RestrictedUnpickler(f, path).load() != LEGACY_MAGIC_NUMBER:
            raise ValueError(f"{path} is not a PyTorch checkpoint (no torch.save magic number).")
        if _RestrictedUnpickler(f, path).load() != LEGACY_PROTOCOL_VERSION:
            raise ValueError(f"{path} has a PyTorch serialization protocol other than {LEGACY_PROTOCOL_VERSION}.")
        _RestrictedUnpickler(f, path).load()  # system info: a dict of plain values
        obj = _RestrictedUnpickler(f, path).load()
        keys = _RestrictedUnpickler(f, path).load()
        wanted = _collect_storages(obj, {})
        storages = {}
        for key in keys:
            (count,) = struct.unpack("<q", f.read(8))
            dtype = np.dtype(STORAGE_DTYPES[wanted[key].type_name]) if key in wanted else np.dtype("u1")
            storages[str(key)] = np.frombuffer(f.read(count * dtype.itemsize), dtype)
    return _resolve(obj, storages)


def load(path):
    """Reads a `torch.save` file into NumPy arrays in the file's containers.

    Args:
        path: a `.pth` / `.pt` file in either of `torch.save`'s layouts.

    Returns:
        What was saved, tensors as NumPy arrays (bfloat16 widened to float32); for a
        state dict, an `OrderedDict` of parameter name -> array.

    Raises:
        UnsafeCheckpointError: if the file names any global but the allowed ones
            (the message names it); nothing from the file runs.
        ValueError: if the file is not a PyTorch checkpoint.
    """
    path = str(path)
    try:
        return _read_zip(path) if zipfile.is_zipfile(path) else _read_legacy(path)
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, struct.error, KeyError, IndexError) as e:
        raise ValueError(f"{path} is not a readable PyTorch checkpoint: {e!r}") from None
