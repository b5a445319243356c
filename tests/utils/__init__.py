"""Tests of keras_preact.utils."""
