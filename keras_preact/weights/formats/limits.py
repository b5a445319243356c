"""What the readers accept of a file, checked before they act on it.

A checkpoint comes from anywhere, so every count, size, offset and depth it declares
is bounded before anything is allocated, viewed or walked:

* only regular files are read, of at most `MAX_FILE_BYTES`;
* a tensor's view (offset, sizes, strides) lies inside its storage, with offset and
  strides >= 0, at most `MAX_DIMS` dimensions, and no more elements than its storage
  holds (a broadcast is never materialised);
* the arrays a reader builds total at most `MAX_EXPANSION` times the file's size
  (`Budget`): a small file cannot declare gigabytes, and a compressed zip entry
  cannot expand past that ratio;
* containers nest at most `MAX_DEPTH` deep, and a walk visits at most
  `MAX_VISITS` objects (shared or cyclic references cannot blow it up);
* lengths and counts are never negative and never exceed what the rest of the file
  can hold.

Every refusal is a `CheckpointError`: one line naming the file, what is wrong and
what the reader accepts, with long names from the file cut.
"""

import contextlib
import math
import os
import stat
import zipfile

MAX_FILE_BYTES = 2 << 30  # 2 GiB: eight times the largest registered checkpoint (~260 MB)
MAX_EXPANSION = 4  # arrays built <= 4 x the file's bytes (+ 1 MiB), and a zip entry's ratio
MAX_DIMS = 8
MAX_DEPTH = 64
MAX_VISITS = 1_000_000  # distinct objects; a ResNet-1001 state dict has about 3,000 tensors
MAX_SHOWN = 60  # characters of a name from the file shown in a message


class CheckpointError(ValueError):
    """A checkpoint file that is damaged, hostile or not of the expected format.

    The message is one line: the file, what is wrong, and what the reader accepts.
    """

    def __init__(self, path, problem, accepts=None):
        text = f"{shorten(os.fspath(path), 100)}: {shorten(problem, 140)}"
        super().__init__(text + (f"; {accepts}" if accepts else "") + ".")


def shorten(text, limit=MAX_SHOWN):
    """`text` on one line, cut to `limit` characters (an ellipsis marks the cut)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_regular_file(path, limit=MAX_FILE_BYTES):
    """The bytes of `path`, a regular file of at most `limit` bytes.

    Raises:
        CheckpointError: for a device, FIFO, folder or other non-regular file, or a
            file over the limit; OSError if it cannot be opened.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not wait for a writer
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
        os.close(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CheckpointError(path, "not a regular file", "checkpoints are read from regular files only")
        raise CheckpointError(path, f"{info.st_size} bytes", f"checkpoints of at most {limit} bytes are read")
    with open(fd, "rb") as f:
        data = f.read(info.st_size + 1)  # a read allocates what it asks for: ask for the file's size
    if len(data) > info.st_size:
        raise CheckpointError(path, "grew while it was read", "a checkpoint that no other process is writing")
    return data


class Budget:
    """The bytes of arrays a reader may still build for one file."""

    def __init__(self, path, file_bytes):
        self.path, self.left = path, MAX_EXPANSION * file_bytes + (1 << 20)

    def take(self, nbytes, what):
        if nbytes > self.left:
            raise CheckpointError(
                self.path,
                f"{what} declares {nbytes} bytes, more than the file can hold",
                f"the arrays of a file total at most {MAX_EXPANSION}x its size",
            )
        self.left -= nbytes


def check_view(path, name, storage_elements, offset, size, stride):
    """Checks that a strided view lies inside its storage before it is taken.

    Args:
        path, name: for the message (the file and the tensor).
        storage_elements: the element count of the storage.
        offset, size, stride: the view, in elements.

    Raises:
        CheckpointError: for non-integer or negative values, more than `MAX_DIMS`
            dimensions, sizes and strides of different lengths, a last element past
            the storage's end, or more elements than the storage holds.
    """
    accepts = "a tensor lies inside its storage (offset, sizes and strides >= 0)"
    values = [offset, *size, *stride]
    if not all(type(v) is int for v in values) or len(size) != len(stride) or len(size) > MAX_DIMS:
        raise CheckpointError(
            path, f"tensor {shorten(name)} has offset/size/stride {shorten((offset, size, stride))}", accepts
        )
    if min(size, default=0) < 0:
        raise CheckpointError(path, f"tensor {shorten(name)} has a negative size", accepts)
    elements = math.prod(size)
    if elements == 0:
        return  # nothing is read
    if min(values) < 0:
        raise CheckpointError(path, f"tensor {shorten(name)} has a negative offset or stride", accepts)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= storage_elements:
        raise CheckpointError(
            path, f"tensor {shorten(name)} reads element {last} of a storage of {storage_elements}", accepts
        )
    if elements > storage_elements:
        raise CheckpointError(
            path,
            f"tensor {shorten(name)} has {elements} elements over a storage of {storage_elements}",
            "a tensor of weights has no more elements than its storage",
        )


@contextlib.contextmanager
def reading(path, kind):
    """Turns any failure while reading `path` as a `kind` file into one `CheckpointError`.

    The readers check what they can; a damaged file can still fail deeper (a short
    pickle, a zip entry that is not what its header says), and that too is reported in
    one line, never as a traceback.
    """
    try:
        yield
    except CheckpointError:
        raise
    except RecursionError:
        raise CheckpointError(path, "nested too deeply", f"a {kind} nests at most {MAX_DEPTH} deep") from None
    except MemoryError:
        raise CheckpointError(path, "needs more memory than its size allows", f"a readable {kind}") from None
    except OSError:
        raise
    except Exception as e:  # noqa: BLE001 - any other failure is a damaged file
        raise CheckpointError(path, f"not a readable {kind} ({type(e).__name__}: {e})") from None


def read_zip_entry(archive, name, path, budget, expected=None):
    """The bytes of one entry of an open `zipfile.ZipFile`, refusing encryption, methods
    other than stored and deflated, a size other than `expected` (when given) and an
    expansion past `MAX_EXPANSION`; the bytes count against `budget`.

    Raises:
        CheckpointError: naming the archive `path` and the entry.
    """
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise CheckpointError(path, f"no zip entry {shorten(name)}", "a zip archive with that entry") from None
    if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise CheckpointError(
            path,
            f"zip entry {shorten(name)} is encrypted or compressed with method {info.compress_type}",
            "stored or deflated entries",
        )
    if expected is not None and info.file_size != expected:
        raise CheckpointError(
            path,
            f"zip entry {shorten(name)} holds {info.file_size} bytes, not {expected}",
            "storages of the size their tensors declare",
        )
    if info.file_size > MAX_EXPANSION * info.compress_size + (1 << 16):
        raise CheckpointError(
            path,
            f"zip entry {shorten(name)} expands {info.compress_size} bytes to {info.file_size}",
            f"entries expand at most {MAX_EXPANSION}x",
        )
    budget.take(info.file_size, f"zip entry {shorten(name)}")
    with archive.open(info) as f:
        return f.read(info.file_size)
