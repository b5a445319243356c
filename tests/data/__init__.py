"""Tests of keras_preact.data."""
