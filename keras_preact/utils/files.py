"""File I/O shared by the layers: atomic writes and SHA-256 digests.

Nothing here knows about models, data, training or export; every layer may use it.
"""

import hashlib
import os
import shutil


def atomic_write(save, path):
    """Writes a file through `save(tmp_path)`, then renames it to `path`, so a reader
    never sees half a file. The temporary name prefixes the base name, so it keeps
    every suffix a writer checks (".keras", ".weights.h5"). If the write fails (a full
    disk, say), the temporary file is removed and `path` is left as it was."""
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".tmp-{os.getpid()}-{name}")
    try:
        save(tmp)
        os.replace(tmp, path)
    except BaseException:
        remove_quietly(tmp)
        raise


def remove_quietly(path):
    """Removes a file or directory tree if it exists; a failure to remove is ignored."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.remove(path)
    except OSError:
        pass


def atomic_write_text(text, path):
    """`atomic_write` of a text file."""

    def save(tmp):
        with open(tmp, "w") as f:
            f.write(text)

    atomic_write(save, path)


def atomic_write_bytes(data, path):
    """`atomic_write` of a binary file."""

    def save(tmp):
        with open(tmp, "wb") as f:
            f.write(data)

    atomic_write(save, path)


def file_digest(path, algorithm="sha256"):
    """Hex digest of a file with a `hashlib` algorithm ("sha256", "sha1", ...), read in
    1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path):
    """Hex SHA-256 of a file."""
    return file_digest(path, "sha256")


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_sha256_sidecar(path):
    """Writes `<path>.sha256` ("<hex>  <name>", as sha256sum prints) atomically."""
    atomic_write_text(f"{file_sha256(path)}  {os.path.basename(path)}\n", path + ".sha256")


def read_sha256_sidecar(path):
    """The hex SHA-256 recorded in `<path>.sha256`, or None when the sidecar is missing
    or damaged (empty, binary, not 64 hex digits): a damaged sidecar is no record."""
    try:
        with open(path + ".sha256", "rb") as f:
            words = f.read(4096).split()
    except OSError:
        return None
    digest = words[0].decode("ascii", "replace").lower() if words else ""
    return digest if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest) else None
