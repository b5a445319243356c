"""Fetching files into Keras' cache so that any number of processes can share it.

Every registered weights file is fetched by `download` and guarded by `cache_lock`:

* a download goes to a temporary file in the cache folder (`.tmp-<pid>.<random>-<name>`),
  is checked, and only then renamed onto its name with `os.replace`, so no process ever
  reads half a file under a cache name, and a failed download leaves nothing behind;
* connecting and every read give up after `download_timeout()` seconds
  (`$KERAS_PREACT_DOWNLOAD_TIMEOUT`, default 60), so a server that never answers
  fails instead of hanging;
* a body shorter or longer than the `Content-Length` the server announced is an
  incomplete download, and at most `MAX_DOWNLOAD_BYTES` are read;
* each cache entry has a lock file (`<name>.lock`, held with `fcntl.flock`, or
  `msvcrt.locking` on Windows): a process takes it, looks at the cache again (another
  one may have finished meanwhile), and only then downloads, converts and writes.

One integrity scheme covers the cache (`is_intact`): a file is used only when its
SHA-256 equals the registered one or, for files made on this machine (converted
weights), the one its `.sha256` sidecar records. Anything else (a damaged file, a
missing, empty or garbled sidecar) is fetched again.
"""

import contextlib
import http.client
import math
import os
import secrets
import urllib.error
import urllib.request

from keras_preact.utils.files import file_sha256, read_sha256_sidecar, remove_quietly

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

TIMEOUT_VARIABLE = "KERAS_PREACT_DOWNLOAD_TIMEOUT"
DEFAULT_TIMEOUT_S = 60.0
# The most bytes one download may have: well above the largest registered file
# (fb.resnet.torch's resnet-200.t7, about 0.5 GB).
MAX_DOWNLOAD_BYTES = 2 * 1024**3
BLOCK_BYTES = 1 << 20
TEMPORARY_PREFIX = ".tmp-"


def keras_cache_dir():
    """Keras' cache folder (`$KERAS_HOME`, default `~/.keras`), created with its
    "models" subfolder, where registered weights are cached."""
    cache_dir = os.path.expanduser(os.environ.get("KERAS_HOME", "~/.keras"))
    os.makedirs(os.path.join(cache_dir, "models"), exist_ok=True)
    return cache_dir


def cache_path(filename):
    """The path of `filename` in the weights cache (`$KERAS_HOME/models`)."""
    return os.path.join(keras_cache_dir(), "models", filename)


def download_timeout():
    """Seconds a download waits to connect and for each read: `$KERAS_PREACT_DOWNLOAD_TIMEOUT`,
    default 60.

    Raises:
        ValueError: if the variable is set to anything but a positive number.
    """
    value = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    if not value:
        return DEFAULT_TIMEOUT_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (0 < seconds < math.inf):
        raise ValueError(f"Received: {TIMEOUT_VARIABLE}={value!r}; expected a number of seconds > 0, e.g. 300.")
    return seconds


def is_intact(path, sha256=None):
    """Whether the cached file `path` can be used: it exists and its SHA-256 equals
    `sha256` or, when None, the digest its sidecar `<path>.sha256` records.

    A missing or damaged sidecar (empty, binary, not hex) makes the file not intact:
    callers fetch it again rather than fail.
    """
    expected = sha256.lower() if sha256 else read_sha256_sidecar(path)
    if expected is None:
        return False
    try:
        return file_sha256(path) == expected
    except OSError:  # missing, or not a readable file
        return False


def _lock(fd):
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    while True:  # msvcrt.LK_LOCK gives up after 10 s of tries
        try:
            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
            return
        except OSError:
            continue


def _unlock(fd):
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


@contextlib.contextmanager
def cache_lock(path):
    """Holds the exclusive lock of the cache entry `path` (waiting for it as long as
    another process holds it), so that one process at a time fetches and writes it.

    The lock lives on `<path>.lock`, which stays in the cache, empty: deleting it while
    another process waits on it would let a third lock a new file. The system releases
    the lock of a process that dies.
    """
    fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        _lock(fd)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


def remove_temporaries(directory, names):
    """Removes the temporary files (`.tmp-<id>-<name>`, of `download` and
    `utils.files.atomic_write`) that a killed process left for any of `names`.

    Call it holding the entry's `cache_lock`: no live process writes them then.
    """
    for entry in os.listdir(directory):
        name = entry
        while name.startswith(TEMPORARY_PREFIX):  # a temporary file of a temporary file too
            name = name.split("-", 2)[-1]
        if name != entry and name in names:
            remove_quietly(os.path.join(directory, entry))


class _Refused(OSError):
    """A body that is not the file: incomplete, or larger than accepted."""


def _content_length(response):
    value = response.headers.get("Content-Length")
    try:
        length = int(value)
    except (TypeError, ValueError):
        return None
    return length if length >= 0 else None


def _copy_body(response, out, max_bytes):
    """Copies the body into `out`, refusing more than `max_bytes` or a length other than
    the announced one."""
    expected = _content_length(response)
    if expected is not None and expected > max_bytes:
        raise _Refused(f"it announces {expected} bytes, more than the {max_bytes} bytes accepted")
    received = 0
    while block := response.read(min(BLOCK_BYTES, max_bytes + 1 - received)):
        received += len(block)
        if received > max_bytes:
            raise _Refused(f"it has more than the {max_bytes} bytes accepted")
        out.write(block)
    if expected is not None and received != expected:
        raise _Refused(
            f"incomplete download: {received} bytes received, {expected} announced (Content-Length); "
            "the connection may have been cut, try again"
        )


def _timed_out(error):
    return isinstance(error, TimeoutError) or isinstance(getattr(error, "reason", None), TimeoutError)


def _transfer(url, out, what, hint, max_bytes):
    """Writes the body at `url` into the open file `out`.

    Raises:
        OSError: naming `url` and what went wrong (timeout, HTTP or network error,
            incomplete or oversized body), followed by `hint`.
    """
    timeout = download_timeout()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            _copy_body(response, out, max_bytes)
    except (OSError, ValueError, http.client.HTTPException) as e:
        if _timed_out(e):
            reason = f"timed out after {timeout:g} s without an answer (set {TIMEOUT_VARIABLE} to wait longer)"
        elif isinstance(e, urllib.error.URLError) and not isinstance(e, urllib.error.HTTPError):
            reason = str(e.reason)
        else:
            reason = str(e) or type(e).__name__
        raise OSError(f"Could not fetch {what} from {url}: {reason}. {hint}".strip()) from None


def _temporary_file(path):
    """Creates a new, empty temporary file beside `path` (named to keep its suffixes)."""
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f"{TEMPORARY_PREFIX}{os.getpid()}.{secrets.token_hex(4)}-{name}")
    return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp


def download(url, path, *, what, hint="", check=None, keep=True, attempts=2, max_bytes=MAX_DOWNLOAD_BYTES):
    """Downloads `url` beside `path` and, once it is complete and passes `check`,
    renames it onto `path` (atomically: readers see the old file or the new one).

    Hold the entry's `cache_lock` around it when other processes may fetch it too.

    Args:
        url: https://, http:// or file:// URL.
        path: where the file goes.
        what: what the file is, for messages ("the weights 'cifar10' of ResNet20").
        hint: what to do without network access, appended to errors that name the URL.
        check: None, or a function of the downloaded file's path that raises
            ValueError when the file is damaged (wrong hash, unreadable); its result
            is returned.
        keep: False to remove the download after `check` instead of renaming it.
        attempts: how many times a download that fails `check` is fetched in all.
        max_bytes: the most bytes accepted.

    Returns:
        What `check` returned (None without `check`).

    Raises:
        OSError: if `url` cannot be read in time, or its body is incomplete or too large.
        ValueError: if every attempt failed `check`. No file of it is left behind.
    """
    for attempt in range(1, attempts + 1):
        fd, tmp = _temporary_file(path)
        try:
            with os.fdopen(fd, "wb") as out:
                _transfer(url, out, what, hint, max_bytes)
            result = check(tmp) if check is not None else None
            if keep:
                os.replace(tmp, path)
            return result
        except ValueError as e:
            if attempt == attempts:
                times = "once" if attempts == 1 else f"{attempts} times"
                raise ValueError(f"{e} (fetched {times} from {url}; removed, nothing was cached)") from None
        finally:
            remove_quietly(tmp)
