"""File I/O shared by the layers: the SHA-256 sidecar files of the weights cache."""

import pytest

from keras_preact.utils.files import read_sha256_sidecar


@pytest.mark.parametrize(
    "content", [b"", b"\x00\xff\xfe binary", b"not-a-digest  file\n", b"ab" * 31 + b"\n", ("0" * 64).encode() * 80]
)
def test_a_damaged_sidecar_reads_as_missing(tmp_path, content):
    (tmp_path / "f.sha256").write_bytes(content)
    assert read_sha256_sidecar(str(tmp_path / "f")) is None
    (tmp_path / "f.sha256").write_bytes(b"AB" * 32 + b"  f\n")
    assert read_sha256_sidecar(str(tmp_path / "f")) == "ab" * 32
