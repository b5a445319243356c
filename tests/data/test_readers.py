"""Dataset readers: Fashion-MNIST IDX files (the real ones when installed, and broken
ones made here), CIFAR's official binary files, and CIFAR through tensorflow-datasets."""

import gzip
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_preact.data import readers
from keras_preact.data.readers import load_fashion_mnist, read_idx

from tests.helpers.cifar_files import write_cifar
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


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_binary_loader_reads_the_official_layout(tmp_path, name):
    written = write_cifar(str(tmp_path), name)
    for split in ("train", "test"):
        images, labels = readers.load_cifar(name, split, str(tmp_path))
        np.testing.assert_array_equal(images, written[split][0])
        np.testing.assert_array_equal(labels, written[split][1])
        assert images.dtype == np.uint8 and images.shape[1:] == (32, 32, 3)


def test_cifar_loader_rejects_bad_files(tmp_path):
    root = str(tmp_path)
    write_cifar(root, "cifar10")
    path = os.path.join(root, "cifar-10-batches-bin", "test_batch.bin")
    with open(path, "ab") as f:
        f.write(b"\0" * 100)
    with pytest.raises(ValueError, match=r"test_batch.bin is truncated or not a CIFAR binary file"):
        readers.load_cifar("cifar10", "test", root)
    record = np.zeros((2, 3073), np.uint8)
    record[1, 0] = 10
    record.tofile(path)
    with pytest.raises(ValueError, match=r"test_batch.bin: record 1 has label 10; expected 0 to 9"):
        readers.load_cifar("cifar10", "test", root)
    with pytest.raises(FileNotFoundError, match=r"cifar-100-binary.*cifar-100-binary.tar.gz"):
        readers.load_cifar("cifar100", "train", root)
    with pytest.raises(ValueError, match=r"name='cifar1000'"):
        readers.load_cifar("cifar1000", "train", root)


def test_cifar_through_tfds_when_no_directory():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=12):
        images, labels = readers.load_cifar("cifar10", "train")
    assert images.shape == (12, 32, 32, 3) and images.dtype == np.uint8
    assert labels.shape == (12,) and labels.max() < 10
