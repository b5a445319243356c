"""Tests of keras_preact.weights."""
