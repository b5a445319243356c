"""Neutral helpers every layer may import: argument checks and file I/O."""
