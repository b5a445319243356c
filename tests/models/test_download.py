"""The weights cache shared by processes: concurrent fetches, damaged sidecars, downloads
cut short, servers that never answer. Real processes, files and sockets on 127.0.0.1.

Run as a script, this module is the worker of the concurrency tests:
`python tests/models/test_download.py CONFIG INDEX` loads the registered weights CONFIG
names, in rounds that start together (a barrier of files), and writes what failed.
"""

import contextlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import keras_preact
from keras_preact.models import download, pretrained, strict_loading
from keras_preact.utils.files import file_sha256, read_sha256_sidecar
from keras_preact.weights.ported import converted_filename, fetch_ported

NAME = "test_cache"
SHAPE = (8, 8, 3)
WORKERS, ROUNDS = 4, 20
PYTORCHCV = dict(
    input_shape=(32, 32, 3), classes=10, preprocessing="cifar_pytorchcv", builder_options={"stem_activation": "none"}
)


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty Keras cache, no proxy between the tests and 127.0.0.1, and the test's
    registrations removed afterwards."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    for variable in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    yield tmp_path / "keras" / "models"
    for model in ("PreActResNet20", "PreActResNet50"):
        pretrained.unregister_weights(model, NAME)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """pytorchcv's preresnet20_cifar10 with random weights, zipped as pytorchcv releases it."""
    pytest.importorskip("torch")
    from tests.helpers.peer_checkpoints import pytorchcv_release

    return pytorchcv_release(tmp_path_factory.mktemp("release"))


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """A .weights.h5 file of PreActResNet20 (random weights), as the package ships one."""
    path = tmp_path_factory.mktemp("shipped") / "preact20.weights.h5"
    model = keras_preact.PreActResNet20(input_shape=SHAPE, classes=5)
    model.save_weights(path)
    x = np.random.default_rng(0).normal(size=(2, *SHAPE)).astype("float32")
    return {"path": str(path), "sha256": file_sha256(path), "x": x, "logits": np.asarray(model(x))}


def register_ported(url, source_hash, model="PreActResNet20", source="pytorchcv", **details):
    options = {**PYTORCHCV, **details} if source == "pytorchcv" else details
    return keras_preact.register_weights(
        model, NAME, url=url, source=source, source_hash=source_hash, fetch=fetch_ported, **options
    )


def register_timm(url):
    imagenet = dict(input_shape=(224, 224, 3), classes=1000, preprocessing="imagenet_inception")
    return register_ported(url, None, "PreActResNet50", "timm", builder_options={"stem_activation": "none"}, **imagenet)


def register_shipped(url, sha256):
    shape = dict(input_shape=SHAPE, classes=5, preprocessing="cifar10")
    return keras_preact.register_weights("PreActResNet20", NAME, url=url, sha256=sha256, **shape)


def left_in(directory):
    """The cache's files other than lock files."""
    return sorted(p.name for p in directory.iterdir() if p.suffix != ".lock")


@contextlib.contextmanager
def serve(*bodies, extra_length=0):
    """An HTTP server on 127.0.0.1 answering the n-th GET with bodies[n] (the last one
    after), announcing a Content-Length `extra_length` bytes above what it sends.

    Yields:
        (its base URL, the list of paths requested so far).
    """
    requested = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = bodies[min(len(requested), len(bodies) - 1)]
            requested.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) + extra_length))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", requested
    finally:
        server.shutdown()
        server.server_close()


def truncated_safetensors():
    """The first half of a timm-style safetensors file: its header promises more data."""
    data = np.zeros((64, 3, 7, 7), "<f4").tobytes()
    header = json.dumps({"stem.conv.weight": {"dtype": "F32", "shape": [64, 3, 7, 7], "data_offsets": [0, len(data)]}})
    whole = len(header).to_bytes(8, "little") + header.encode() + data
    return whole[: len(whole) // 2]


@pytest.mark.parametrize("content", [b"", b"\x80\x81\xfe\xff", b"z" * 64 + b"  x\n", b"0" * 64 + b"  x\n"])
def test_a_damaged_sidecar_is_fetched_again_not_a_crash(release, keras_home, content):
    info = register_ported("file://" + release["zip"], "sha1:" + release["sha1"])
    path = fetch_ported(info)
    sidecar = keras_home / f"{converted_filename(info)}.sha256"
    sidecar.write_bytes(content)
    assert fetch_ported(info) == path
    assert read_sha256_sidecar(path) == file_sha256(path)
    model = keras_preact.PreActResNet20(weights=NAME, classifier_activation=None)
    np.testing.assert_allclose(np.asarray(model(release["x"], training=False)), release["logits"], atol=1e-4)


def test_a_truncated_source_left_in_the_cache_is_fetched_again(release, keras_home):
    # A source with no publisher's hash (as timm's and fb.resnet.torch's): a file cut
    # short that an earlier run left, under the old name or a temporary one, is not read.
    info = register_ported("file://" + release["zip"], None)
    keras_home.mkdir(parents=True)
    cut = open(release["zip"], "rb").read()[:1000]
    leftovers = [
        f"pytorchcv_preactresnet20_{os.path.basename(release['zip'])}",
        f".tmp-1.ab-{converted_filename(info)}",
    ]
    for name in leftovers:
        (keras_home / name).write_bytes(cut)
    fetch_ported(info)
    assert left_in(keras_home) == sorted([converted_filename(info), f"{converted_filename(info)}.sha256"])


def test_the_temporary_file_of_a_killed_download_is_removed_by_the_next_fetch(shipped, keras_home):
    info = register_shipped("file://" + shipped["path"], shipped["sha256"])
    keras_home.mkdir(parents=True)
    (keras_home / f".tmp-99.0a1b2c3d-{info.filename}").write_bytes(b"half a file")
    (keras_home / ".tmp-99.0a1b2c3d-other.weights.h5").write_bytes(b"another entry's, left alone")
    pretrained.fetch_weights(info)
    assert left_in(keras_home) == sorted([".tmp-99.0a1b2c3d-other.weights.h5", info.filename])


def test_a_download_that_cannot_be_read_is_fetched_once_more(release, keras_home):
    whole = open(release["zip"], "rb").read()
    with serve(whole[: len(whole) // 2], whole) as (base, requested):
        info = register_ported(f"{base}/{os.path.basename(release['zip'])}", None)
        model = keras_preact.PreActResNet20(weights=NAME, classifier_activation=None)
    assert len(requested) == 2
    np.testing.assert_allclose(np.asarray(model(release["x"], training=False)), release["logits"], atol=1e-4)
    assert left_in(keras_home) == sorted([converted_filename(info), f"{converted_filename(info)}.sha256"])


def test_a_truncated_timm_download_is_refused_after_a_second_try(keras_home):
    with serve(truncated_safetensors()) as (base, requested):
        url = f"{base}/timm/resnetv2_50.a1h_in1k/model.safetensors"
        register_timm(url)
        with pytest.raises(ValueError, match=r"cannot be read as a timm checkpoint") as error:
            keras_preact.PreActResNet50(weights=NAME)
    assert len(requested) == 2
    assert f"fetched 2 times from {url}; removed, nothing was cached" in str(error.value)
    assert left_in(keras_home) == []


def test_a_body_shorter_than_its_content_length_is_refused(shipped, keras_home):
    body = open(shipped["path"], "rb").read()
    with serve(body[:5000], extra_length=len(body) - 5000) as (base, _):
        url = f"{base}/preact20.weights.h5"
        register_shipped(url, shipped["sha256"])
        with pytest.raises(OSError, match=rf"{url}: incomplete download: 5000 bytes received, {len(body)} announced"):
            keras_preact.PreActResNet20(weights=NAME)
    assert left_in(keras_home) == []


def test_a_download_larger_than_accepted_is_refused(shipped, tmp_path):
    with pytest.raises(OSError, match="more than the 1000 bytes accepted"):
        download.download("file://" + shipped["path"], str(tmp_path / "x.weights.h5"), what="x", max_bytes=1000)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("kind", ["shipped", "ported"])
def test_a_server_that_never_answers_times_out(kind, keras_home, monkeypatch):
    monkeypatch.setenv(download.TIMEOUT_VARIABLE, "0.5")
    with socket.socket() as listener:  # accepts connections (the kernel does) and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/model.safetensors"
        if kind == "shipped":
            register_shipped(url, "0" * 64)
        else:
            register_timm(url)
        build = keras_preact.PreActResNet20 if kind == "shipped" else keras_preact.PreActResNet50
        outcome = {}
        thread = threading.Thread(target=lambda: outcome.update(error=_raised(build, weights=NAME)), daemon=True)
        started = time.monotonic()
        thread.start()
        thread.join(60)  # the test's own bound: a fetch without a timeout would hang here
        assert not thread.is_alive(), "the fetch did not time out"
    assert isinstance(outcome["error"], OSError), outcome["error"]
    assert f"{url}: timed out after 0.5 s" in str(outcome["error"])
    assert time.monotonic() - started < 30
    assert ("pass its path" if kind == "shipped" else "keras-preact-convert --source timm") in str(outcome["error"])


def _raised(function, **kwargs):
    try:
        function(**kwargs)
    except Exception as e:
        return e
    return None


@pytest.mark.parametrize("value", ["soon", "0", "-5", "inf", "nan"])
def test_the_timeout_variable_must_be_a_positive_number(value, monkeypatch):
    monkeypatch.setenv(download.TIMEOUT_VARIABLE, value)
    with pytest.raises(ValueError, match=rf"{download.TIMEOUT_VARIABLE}='{value}'; expected a number of seconds > 0"):
        download.download_timeout()


# The concurrency tests: WORKERS processes (this module as a script) each run ROUNDS
# rounds; in each, all start fetching from an empty cache at once, then worker 0 checks
# the cache and empties it.


def _barrier(directory, name, index, count, timeout=300):
    open(os.path.join(directory, f"{name}.{index}"), "w").close()
    deadline = time.monotonic() + timeout
    while not all(os.path.exists(os.path.join(directory, f"{name}.{i}")) for i in range(count)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"barrier {name}: not every worker arrived within {timeout} s")
        time.sleep(0.01)


def _cache_problems(models, names, sha256, every):
    """What is wrong with an entry after a round: the cache holds other files than
    `every` entry's (and their lock files), or the entry's file (`names[0]`) has a
    SHA-256 other than `sha256` or its sidecar's."""
    found = sorted(n for n in os.listdir(models) if not n.endswith(".lock"))
    problems = [f"cache holds {found}, expected {sorted(every)}"] if found != sorted(every) else []
    path = os.path.join(models, names[0])
    if os.path.exists(path) and file_sha256(path) != (sha256 or read_sha256_sidecar(path)):
        problems.append(f"{names[0]}: its SHA-256 differs from the expected one")
    return problems


def _entry(kind, config):
    """(WeightsInfo, the model it loads into, the cache files it leaves, their SHA-256)."""
    if kind == "ported":
        info = register_ported(config["url"], config["source_hash"])
        model = keras_preact.PreActResNet20(weights=None, stem_activation="none", classifier_activation=None)
        return info, model, [converted_filename(info), converted_filename(info) + ".sha256"], None
    info = register_shipped(config["shipped_url"], config["sha256"])
    return info, keras_preact.PreActResNet20(input_shape=SHAPE, classes=5), [info.filename], info.sha256


def _load(kind, entry, config):
    info, model, _, _ = entry
    strict_loading.load_weights_strict(model, pretrained.fetch_weights(info))
    x, logits = np.load(config[f"{kind}_x"]), np.load(config[f"{kind}_logits"])
    np.testing.assert_allclose(np.asarray(model(x, training=False)), logits, atol=1e-4)


def _worker(config_path, index):
    """One process of the concurrency test: each round, the ported and the shipped
    weights; writes {"loaded": rounds loaded without error, "errors": [...]}."""
    with open(config_path) as f:
        config = json.load(f)
    entries = {kind: _entry(kind, config) for kind in ("ported", "shipped")}
    expected = [name for entry in entries.values() for name in entry[2]]
    models, loaded, errors = os.path.join(os.environ["KERAS_HOME"], "models"), 0, []
    for round_ in range(config["rounds"]):
        _barrier(config["barriers"], f"start{round_}", index, config["workers"])
        try:
            for kind, entry in entries.items():
                _load(kind, entry, config)
            loaded += 1
        except Exception as e:
            errors.append(f"worker {index}, round {round_}: {type(e).__name__}: {e}")
        _barrier(config["barriers"], f"loaded{round_}", index, config["workers"])
        if index == 0:
            for kind, (_, _, names, sha256) in entries.items():
                errors += [f"round {round_}: {p}" for p in _cache_problems(models, names, sha256, expected)]
            shutil.rmtree(models)
        _barrier(config["barriers"], f"emptied{round_}", index, config["workers"])
    with open(f"{config_path}.{index}.json", "w") as f:
        json.dump({"loaded": loaded, "errors": errors}, f)


def run_workers(tmp_path, config, arrays, timeout=900):
    """Runs the workers to the end; returns their results and the wall time."""
    (tmp_path / "barriers").mkdir()
    config = dict(config)
    for name, array in arrays.items():
        np.save(tmp_path / f"{name}.npy", array)
        config[name] = str(tmp_path / f"{name}.npy")
    config.update(barriers=str(tmp_path / "barriers"), workers=WORKERS, rounds=ROUNDS)
    (tmp_path / "config.json").write_text(json.dumps(config))
    # The workers run on JAX, one thread each: the cache code is the same on every
    # backend, and JAX starts in a fraction of TensorFlow's time.
    one_thread = {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}
    one_thread.update(OMP_NUM_THREADS="1", KERAS_BACKEND="jax")
    env = {**os.environ, **one_thread, "KERAS_HOME": str(tmp_path / "keras"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.monotonic()
    command = [sys.executable, os.path.abspath(__file__), str(tmp_path / "config.json")]
    processes = [subprocess.Popen([*command, str(i)], env=env, stderr=subprocess.PIPE) for i in range(WORKERS)]
    try:
        stderr = [p.communicate(timeout=timeout)[1].decode() for p in processes]
        errors = [
            f"worker {i} exited with {p.returncode}: {stderr[i][-3000:]}"
            for i, p in enumerate(processes)
            if p.returncode
        ]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
    assert not any(errors), errors
    results = [json.loads((tmp_path / f"config.json.{i}.json").read_text()) for i in range(WORKERS)]
    return results, time.monotonic() - started


@pytest.mark.slow
def test_processes_fetching_the_same_weights_at_once_all_load_them(release, shipped, tmp_path, capsys):
    """Ported weights (downloaded, checked, converted) and shipped ones (downloaded and
    checked), each round from an empty cache, by every process at once."""
    config = {
        "url": "file://" + release["zip"],
        "source_hash": "sha1:" + release["sha1"],
        "shipped_url": "file://" + shipped["path"],
        "sha256": shipped["sha256"],
    }
    arrays = {"ported_x": release["x"], "ported_logits": release["logits"]}
    arrays.update(shipped_x=shipped["x"], shipped_logits=shipped["logits"])
    results, seconds = run_workers(tmp_path, config, arrays)
    assert [r["errors"] for r in results] == [[]] * WORKERS
    assert [r["loaded"] for r in results] == [ROUNDS] * WORKERS
    with capsys.disabled():
        print(f"\n{WORKERS} processes x {ROUNDS} rounds of ported and shipped weights: {seconds:.1f} s")


if __name__ == "__main__":
    _worker(sys.argv[1], int(sys.argv[2]))
