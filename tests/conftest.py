import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import re  # noqa: E402

import pytest  # noqa: E402

# The converter tests run the peers (torch, torchvision, timm) in the test process.
# torchvision's extension crashes (SIGSEGV) when it loads after TensorFlow's, not
# before, so it is imported first wherever it is installed.
try:
    import torch  # noqa: E402
    import torchvision  # noqa: E402, F401

    torch.set_num_threads(1)  # the peers' forward passes are small; TensorFlow keeps the cores
except ImportError:
    pass

# Test ids that name a model of depth >= 1000 or an int8 conversion: marked `slow`
# (tests that start subprocesses carry the mark themselves).
SLOW_IDS = re.compile(r"1001|1202|int8")


def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_IDS.search(item.nodeid):
            item.add_marker(pytest.mark.slow)
