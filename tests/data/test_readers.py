"""Fashion-MNIST IDX files: the real ones when installed, and broken ones made here;
`keras_preact.datasets`; and why tensorflow-datasets could not load a dataset."""

import gzip
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_preact.data.readers import load_fashion_mnist, read_idx

from tests.helpers.marks import needs_fashion_mnist


def write_idx(path, array, magic_type=0x08):
    header = bytes([0, 0, magic_type, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype("uint8").tobytes())


@needs_fashion_mnist
def test_real_test_split():
    images, labels = load_fashion_mnist("test")
    assert images.shape == (10000, 28, 28, 1) and images.dtype == np.uint8
    assert labels.shape == (10000,) and set(np.unique(labels)) == set(range(10))
    assert np.bincount(labels).tolist() == [1000] * 10


def test_round_trip_of_a_small_file(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, (3, 5, 4))
    write_idx(tmp_path / "x.gz", array)
    np.testing.assert_array_equal(read_idx(str(tmp_path / "x.gz")), array)


def test_truncated_file_is_reported_not_hung(tmp_path):
    write_idx(tmp_path / "full.gz", np.zeros((4, 28, 28)))
    data = gzip.decompress((tmp_path / "full.gz").read_bytes())
    (tmp_path / "short.gz").write_bytes(gzip.compress(data[:-10]))
    with pytest.raises(ValueError, match=r"short.gz is truncated or corrupt: its header says shape \(4, 28, 28\)"):
        read_idx(str(tmp_path / "short.gz"))
    (tmp_path / "cut.gz").write_bytes((tmp_path / "full.gz").read_bytes()[:40])
    with pytest.raises(ValueError, match=r"cut.gz is corrupt, truncated or unreadable"):
        read_idx(str(tmp_path / "cut.gz"))


def test_not_an_idx_file(tmp_path):
    write_idx(tmp_path / "floats.gz", np.zeros((2, 2)), magic_type=0x0D)
    with pytest.raises(ValueError, match=r"not an IDX file of unsigned bytes"):
        read_idx(str(tmp_path / "floats.gz"))


def test_missing_directory_says_how_to_get_the_data(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"apt-get install dataset-fashion-mnist"):
        load_fashion_mnist("train", str(tmp_path))
    with pytest.raises(ValueError, match=r"split='validation'"):
        load_fashion_mnist("validation", str(tmp_path))


def test_out_of_range_label(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((2, 28, 28)))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([3, 12]))
    with pytest.raises(ValueError, match=r"has label 12; Fashion-MNIST labels are 0-9"):
        load_fashion_mnist("test", str(tmp_path))


@needs_fashion_mnist
def test_load_data_is_shaped_like_keras_datasets_with_a_channel_axis():
    from keras_preact.datasets import fashion_mnist

    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    assert x_train.shape == (60000, *fashion_mnist.IMAGE_SHAPE) and x_test.shape == (10000, 28, 28, 1)
    assert x_train.dtype == np.uint8 and y_train.shape == (60000,) and y_test.dtype == np.int64


def test_load_data_without_the_files_says_how_to_get_them(tmp_path):
    from keras_preact.datasets import fashion_mnist

    with pytest.raises(FileNotFoundError, match=r"apt-get install dataset-fashion-mnist"):
        fashion_mnist.load_data(str(tmp_path))


def _raised(error, cause):
    """`error` raised from `cause`, as tfds chains them."""
    try:
        try:
            raise cause
        except Exception as e:
            raise error from e
    except Exception as e:
        return e


@pytest.mark.parametrize(
    "error, says",
    [
        (_raised(RuntimeError("x"), ModuleNotFoundError("No module", name="importlib_resources")), "the module "),
        (_raised(OSError("Max retries exceeded"), ConnectionRefusedError(111, "refused")), ": no network ("),
        (AssertionError("Dataset cifar10: could not find data in /d"), "has no prepared 'cifar10'"),
    ],
    ids=["missing module", "no network", "no data"],
)
def test_a_tfds_failure_names_its_cause(error, says):
    from keras_preact.data.tfds_failures import tfds_failure

    message = str(tfds_failure("cifar10", "/d", error, "Offline, do this."))
    assert says in message and message.endswith("." if "module" in says else "Offline, do this.")
    assert ("importlib_resources" in message) == (says == "the module ")


@pytest.mark.slow
def test_tfds_gets_as_far_as_the_download_offline(tmp_path):
    """tensorflow-datasets imports what its download needs (importlib_resources) and
    fails on the network, here a proxy that refuses at once, with one retry."""
    code = (
        "from tensorflow_datasets.core.download import downloader\n"
        "from keras_preact.data import readers\n"
        "downloader.MAX_RETRIES = 0\n"
        "try:\n"
        f"    readers.load_cifar('cifar10', 'test', tfds_data_dir={str(tmp_path)!r})\n"
        "except FileNotFoundError as e:\n"
        "    print(e)\n"
    )
    proxy = "http://127.0.0.1:9"  # the discard port: nothing listens
    env = {**os.environ, "HTTPS_PROXY": proxy, "HTTP_PROXY": proxy, "https_proxy": proxy, "http_proxy": proxy}
    env.pop("NO_PROXY", None), env.pop("no_proxy", None)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "could not download 'cifar10'" in done.stdout and ": no network (" in done.stdout, done.stdout
    assert "--set data_dir=DIR" in done.stdout
