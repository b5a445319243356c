"""Tests of keras_preact.models."""
