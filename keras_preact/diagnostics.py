"""`python -m keras_preact.diagnostics`: the `keras-preact-diagnostics` command
(`keras_preact.training.diagnostics`)."""

from keras_preact.training.diagnostics import main

if __name__ == "__main__":
    main()
