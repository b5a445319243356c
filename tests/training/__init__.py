"""Tests of keras_preact.training."""
