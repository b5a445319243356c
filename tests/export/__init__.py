"""Tests of keras_preact.export."""
