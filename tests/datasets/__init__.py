"""Tests of keras_preact.datasets."""
