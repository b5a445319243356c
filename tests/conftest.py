"""pytest's configuration for the whole suite: TensorFlow's notices hidden, and torch
imported before TensorFlow. (Helpers: tests/helpers/. Slow tests carry the `slow` mark
themselves, on the function or on a parameter: models of depth >= 1000, subprocess runs,
int8 conversions.)"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The converter tests run the peers (torch, torchvision, timm) in the test process.
# torchvision's extension crashes (SIGSEGV) when it loads after TensorFlow's, not
# before, so it is imported first wherever it is installed.
try:
    import torch  # noqa: E402
    import torchvision  # noqa: E402, F401

    torch.set_num_threads(1)  # the peers' forward passes are small; TensorFlow keeps the cores
except ImportError:
    pass
