"""What the tests share: markers, model and run helpers, checkpoint writers, and the
scripts some tests run in a process of their own (`kill_at.py`, `train_worker.py`,
`bounded_reader.py`, `doc_blocks.py`, run by path: `os.path.join(HELPERS, name)`).
`data/` holds files written by earlier releases."""

import os

HELPERS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HELPERS))  # the repository's root
