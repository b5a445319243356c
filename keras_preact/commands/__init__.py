"""The command-line tools, one module each; each is a console script and runs as
`python -m keras_preact.commands.NAME`:

* `train`: `keras-preact-train`, a recipe through the trainer;
* `export`: `keras-preact-export`, SavedModel and TFLite exports;
* `convert`: `keras-preact-convert`, a released checkpoint to Keras;
* `evaluate`, `predict`: `keras-preact-evaluate` (top-1/top-5 over labelled images) and
  `keras-preact-predict` (the top classes of image files); `model_options` holds the
  arguments they share;
* `diagnostics`: `keras-preact-diagnostics`, signal propagation as a CSV and a PNG;
* `demo`: `keras-preact-demo` (`make demo`), the `demo` recipe, export and parity.

A command parses and checks its arguments before it imports TensorFlow (so `--help`
and argument errors answer at once), calls the library layers below, and reports an
error in one line with an exit status. This layer may import every other; nothing
imports it.
"""
