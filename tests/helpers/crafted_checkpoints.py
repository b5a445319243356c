"""Checkpoint files written byte by byte, without PyTorch, as a hostile user crafts them.

Each writer takes tensors as plain descriptions, so a test can declare any storage,
offset, size and stride, whether or not they fit:

* `torch_file`: `torch.save`'s zip or legacy layout (a protocol-2 pickle naming
  `torch._utils._rebuild_tensor_v2` and `torch.FloatStorage`, as PyTorch writes it);
* `safetensors_file`: an 8-byte header length, a JSON header and the data;
* `torch7_file`: one `torch.FloatTensor` in torch7's binary format.
"""

import collections
import io
import json
import pickle
import struct
import zipfile

import numpy as np

Tensor = collections.namedtuple("Tensor", "storage offset size stride", defaults=(0, None, None))


class Global:
    """A global a pickle names (module, name), written without importing it."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):  # never called: pickle only checks that it could be
        raise NotImplementedError


class _Rebuild:
    def __init__(self, tensor, key, numel):
        self.tensor, self.key, self.numel = tensor, key, numel

    def __reduce__(self):
        t = self.tensor
        size = tuple(t.size) if t.size is not None else (self.numel,)
        stride = tuple(t.stride) if t.stride is not None else _contiguous(size)
        storage = _StorageRef(self.key, self.numel)
        return Global("torch._utils", "_rebuild_tensor_v2"), (storage, t.offset, size, stride, False, {})


class _StorageRef:
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


def _contiguous(size):
    return tuple(int(np.prod(size[i + 1 :])) for i in range(len(size)))


class _Pickler(pickle._Pickler):
    """The pure-Python pickler, writing `Global`s as GLOBAL opcodes and storages as
    persistent ids, as `torch.save` does."""

    dispatch = dict(pickle._Pickler.dispatch)

    legacy = False

    def persistent_id(self, obj):
        if isinstance(obj, _StorageRef):
            pid = ("storage", Global("torch", "FloatStorage"), obj.key, "cpu", obj.numel)
            return pid + (None,) if self.legacy else pid  # the legacy layout adds view metadata
        return None

    def _global(self, obj):
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())

    dispatch[Global] = _global


def dumps(obj, legacy=False):
    buffer = io.BytesIO()
    pickler = _Pickler(buffer, protocol=2)
    pickler.legacy = legacy
    pickler.dump(obj)
    return buffer.getvalue()


def state_pickle(tensors, numels, legacy=False):
    """The pickle of a state dict {name: Tensor}; `numels[key]` is each storage's size."""
    state = collections.OrderedDict(
        (name, _Rebuild(t, str(t.storage), numels[str(t.storage)])) for name, t in tensors.items()
    )
    return dumps(state, legacy)


def _storages(tensors, storages):
    """{key: float32 array} of the storages the tensors name."""
    return {str(k): np.asarray(v, "<f4") for k, v in storages.items()}


def torch_file(path, tensors, storages, layout="zip", compress=False):
    """Writes `tensors` ({name: Tensor}) on `storages` ({key: values}) in `torch.save`'s
    zip or legacy layout; returns `path`."""
    arrays = _storages(tensors, storages)
    payload = state_pickle(tensors, {k: a.size for k, a in arrays.items()}, layout == "legacy")
    if layout == "zip":
        method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        with zipfile.ZipFile(path, "w", method) as archive:
            archive.writestr("archive/data.pkl", payload)
            archive.writestr("archive/version", "3\n")
            for key, array in arrays.items():
                archive.writestr(f"archive/data/{key}", array.tobytes())
        return path
    header = b"".join(pickle.dumps(v, protocol=2) for v in (0x1950A86A20F9469CFC6C, 1001, {}))
    body = b"".join(struct.pack("<q", a.size) + a.tobytes() for a in arrays.values())
    with open(path, "wb") as f:
        f.write(header + payload + pickle.dumps(list(arrays), protocol=2) + body)
    return path


def safetensors_file(path, header, data=b""):
    """Writes a safetensors file with the given header (a dict) and data bytes."""
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
    return path


def torch7_file(path, values, size=None, stride=None, offset=1):
    """Writes one torch.FloatTensor on a FloatStorage of `values`, with the given view
    (1-based offset, as torch7 stores it)."""
    values = np.asarray(values, "<f4")
    size = list(size) if size is not None else [values.size]
    stride = list(stride) if stride is not None else list(_contiguous(size))

    def string(text):
        return struct.pack("<i", len(text)) + text.encode()

    data = struct.pack("<ii", 4, 1) + string("V 1") + string("torch.FloatTensor")
    data += struct.pack(f"<i{len(size)}q{len(stride)}qq", len(size), *size, *stride, offset)
    data += struct.pack("<ii", 4, 2) + string("V 1") + string("torch.FloatStorage")
    data += struct.pack("<q", values.size) + values.tobytes()
    with open(path, "wb") as f:
        f.write(data)
    return path
