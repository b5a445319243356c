"""End-to-end tests of the command-line tools (keras-preact-train, -export, -convert, -diagnostics, -evaluate,
-predict, the demo and the training launcher), one module per command."""
