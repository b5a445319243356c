"""Fashion-MNIST IDX files: the real ones when installed, and broken ones made here."""

import gzip

import numpy as np
import pytest

from keras_preact.data.readers import load_fashion_mnist, read_idx

from conftest import needs_fashion_mnist


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
