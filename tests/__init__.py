"""The test suite, laid out as the package: the tests of `keras_preact/x/y.py` are in
`tests/x/test_y.py`; `tests/commands/` runs the command-line tools end to end; the
modules at this level cover the whole package (layout, install, docs, entry points,
compatibility); `tests/helpers/` holds what the tests share (imported as
`tests.helpers.<module>`, the folders being packages so that equal basenames do not
clash)."""
