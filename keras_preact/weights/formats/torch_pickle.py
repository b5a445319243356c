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

The file is bounded before it is acted on (`limits`): each pickle is scanned first
(`pickletools`, which runs nothing) so that no memo index can make the unpickler
allocate past the file; every tensor's view is checked against its storage; zip
entries are read only up to a bounded expansion; containers are walked to a bounded
depth and count.
"""

import collections
import io
import pickle
import pickletools
import zipfile

import numpy as np

from keras_preact.weights.formats.limits import (
    MAX_DEPTH,
    MAX_VISITS,
    Budget,
    CheckpointError,
    check_view,
    read_regular_file,
    read_zip_entry,
    reading,
    shorten,
)

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001
KIND = "PyTorch checkpoint (torch.save, zip or legacy)"

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
MEMO_OPCODES = ("PUT", "BINPUT", "LONG_BINPUT")


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint asked for a Python global that a file of weights never needs."""


class _Storage:
    def __init__(self, type_name, key, numel):
        self.type_name, self.key, self.numel = type_name, key, numel


class _TensorRef:
    """A tensor of the pickle, resolved into an array once its storage is read."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


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
                self.path,
                f"refused: it asks for the Python global '{shorten(module)}.{shorten(name)}'. Nothing from the "
                "file was run",
                "allowed: tensors, torch storages, OrderedDict and plain containers",
            )
        return _ALLOWED[(module, name)]

    def persistent_load(self, pid):
        ok = isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and pid[1] in STORAGE_DTYPES
        if not (ok and isinstance(pid[2], (str, int)) and type(pid[4]) is int and pid[4] >= 0):
            raise CheckpointError(self.path, f"unknown persistent id {shorten(pid)}", "torch storages only")
        return _Storage(pid[1], shorten(pid[2], 100), pid[4])


def _scan(stream, path):
    """Walks one pickle's opcodes without running them (`pickletools.genops`) and
    refuses memo indices past the pickle's own opcode count, which would make the
    unpickler allocate a memo table of that size. Returns to where it started."""
    start, count = stream.tell(), 0
    for opcode, arg, _ in pickletools.genops(stream):
        count += 1
        if opcode.name in MEMO_OPCODES and not (isinstance(arg, int) and 0 <= arg <= count):
            raise CheckpointError(path, f"a pickle memo index {shorten(arg)} at opcode {count}", "a torch.save pickle")
    stream.seek(start)


def _unpickle(stream, path):
    _scan(stream, path)
    return _RestrictedUnpickler(stream, path).load()


def _rebuild(obj, path, tensor):
    """`obj` with every `_TensorRef` replaced by `tensor(ref)` and its containers rebuilt,
    at most `MAX_DEPTH` deep and `MAX_VISITS` distinct objects; an object the pickle
    shares (or a cycle) is rebuilt once, so a small pickle cannot make the walk long."""
    done = {}

    def walk(item, depth):
        if id(item) in done:
            return done[id(item)][1]
        if depth > MAX_DEPTH or len(done) >= MAX_VISITS:
            raise CheckpointError(path, "containers nested too deeply or too many", f"at most {MAX_DEPTH} levels")
        if isinstance(item, _TensorRef):
            result = tensor(item)
        elif isinstance(item, dict):
            result = type(item)((k, walk(v, depth + 1)) for k, v in item.items())
        elif isinstance(item, (list, tuple)):
            result = type(item)(walk(v, depth + 1) for v in item)
        else:
            return item
        done[id(item)] = (item, result)  # the item is kept so that its id is not reused
        return result

    return walk(obj, 0)


class _Tensors:
    """Turns `_TensorRef`s into arrays: storages come from `storage_bytes(storage)`,
    each view is checked against its storage, and every copy counts against the budget."""

    def __init__(self, path, budget, storage_bytes):
        self.path, self.budget, self.storage_bytes = path, budget, storage_bytes
        self.storages = {}

    def __call__(self, ref):
        return self._array(ref)

    def _flat(self, storage):
        if not isinstance(storage, _Storage) or storage.type_name not in STORAGE_DTYPES:
            raise CheckpointError(self.path, "a tensor without a torch storage", "tensors on torch storages")
        if storage.key not in self.storages:
            flat = np.frombuffer(self.storage_bytes(storage), STORAGE_DTYPES[storage.type_name])
            if storage.type_name == "BFloat16Storage":
                self.budget.take(4 * flat.size, f"storage {storage.key}")
                flat = (flat.astype("<u4") << 16).view("<f4")
            self.storages[storage.key] = flat
        return self.storages[storage.key]

    def _array(self, ref):
        flat = self._flat(ref.storage)
        size, stride = tuple(ref.size), tuple(ref.stride)
        check_view(self.path, f"on storage {ref.storage.key}", flat.size, ref.offset, size, stride)
        view = np.lib.stride_tricks.as_strided(
            flat[ref.offset :], shape=size, strides=[s * flat.itemsize for s in stride], writeable=False
        )
        self.budget.take(view.nbytes, f"a tensor on storage {ref.storage.key}")
        return np.array(view)


def _read_zip(data, path, budget):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise CheckpointError(path, "a zip file with no single data.pkl", "a torch.save zip archive")
        prefix = pickles[0][: -len("data.pkl")]
        obj = _unpickle(io.BytesIO(read_zip_entry(archive, pickles[0], path, budget)), path)

        def storage_bytes(storage):
            itemsize = np.dtype(STORAGE_DTYPES[storage.type_name]).itemsize
            return read_zip_entry(archive, f"{prefix}data/{storage.key}", path, budget, storage.numel * itemsize)

        return _rebuild(obj, path, _Tensors(path, budget, storage_bytes))


def _read_legacy(data, path, budget):
    stream = io.BytesIO(data)
    if _unpickle(stream, path) != LEGACY_MAGIC_NUMBER:
        raise CheckpointError(path, "no torch.save magic number", f"a {KIND}")
    if _unpickle(stream, path) != LEGACY_PROTOCOL_VERSION:
        raise CheckpointError(path, "another serialization protocol", f"protocol {LEGACY_PROTOCOL_VERSION}")
    _unpickle(stream, path)  # system info: a dict of plain values
    obj = _unpickle(stream, path)
    keys = _unpickle(stream, path)
    if not isinstance(keys, list) or len(keys) > (len(data) - stream.tell()) // 8:
        raise CheckpointError(path, "no list of storage keys after the pickle", f"a {KIND}")
    stored = _legacy_storages(data, stream.tell(), [shorten(k, 100) for k in keys], _storage_types(obj, path), path)

    def storage_bytes(storage):
        if storage.key not in stored:
            raise CheckpointError(path, f"a tensor on storage {storage.key}, which the file lacks", f"a {KIND}")
        return stored[storage.key]

    return _rebuild(obj, path, _Tensors(path, budget, storage_bytes))


def _storage_types(obj, path):
    """{storage key: storage type name} of the tensors in `obj`."""
    types = {}

    def note(ref):
        if isinstance(ref.storage, _Storage):
            types.setdefault(ref.storage.key, ref.storage.type_name)

    _rebuild(obj, path, note)
    return types


def _legacy_storages(data, position, keys, types, path):
    """{key: the storage's bytes (a view of `data`)}: each storage is an int64 element
    count and the elements, of the size the tensors naming it give (bytes if none)."""
    stored = {}
    for key in keys:
        count = int.from_bytes(data[position : position + 8], "little", signed=True)
        nbytes = count * np.dtype(STORAGE_DTYPES[types.get(key, "ByteStorage")]).itemsize
        if position + 8 > len(data) or count < 0 or position + 8 + nbytes > len(data):
            raise CheckpointError(
                path,
                f"storage {shorten(key)} declares {count} elements past the file's end",
                "storages inside the file",
            )
        stored[key] = memoryview(data)[position + 8 : position + 8 + nbytes]
        position += 8 + nbytes
    return stored


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
        CheckpointError: (a ValueError) if the file is not a PyTorch checkpoint or
            declares more than it holds (`limits`).
    """
    with reading(path, KIND):
        return loads(read_regular_file(path), path)


def loads(data, path):
    """`load` of a file's bytes already in memory (`path` names it in messages)."""
    with reading(path, KIND):
        budget = Budget(path, len(data))
        if zipfile.is_zipfile(io.BytesIO(data)):
            return _read_zip(data, path, budget)
        return _read_legacy(data, path, budget)
