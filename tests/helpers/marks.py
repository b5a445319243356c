"""Markers: tests that need the real Fashion-MNIST files, and parameters run on one
pytest-xdist worker."""

import os

import pytest


def _fashion_mnist_installed():
    from keras_preact.data.readers import FASHION_MNIST_DIR, FASHION_MNIST_FILES

    files = [f for split in FASHION_MNIST_FILES.values() for f in split]
    return all(os.path.isfile(os.path.join(FASHION_MNIST_DIR, f)) for f in files)


# Tests that read the real Fashion-MNIST files (`.ci/run` installs them).
needs_fashion_mnist = pytest.mark.skipif(
    not _fashion_mnist_installed(),
    reason="dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)",
)


def grouped(name, *values, id=None, slow=False):
    """A parameter that pytest-xdist runs on the same worker as the others of `name`,
    so that a model cached per worker is built once; marked `slow` if `slow` (a model of
    depth >= 1000: `tests.helpers.models.is_deep`)."""
    marks = [pytest.mark.xdist_group(name)] + ([pytest.mark.slow] if slow else [])
    return pytest.param(*(values or (name,)), id=id or name, marks=marks)
