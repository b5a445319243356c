"""The documentation runs as written: every `sh` and `python` block of README.md and
docs/ runs in order, in one working folder shared by the documents (so docs/training.md
finds the runs that README.md started, as a reader who follows them in order would),
with the small substitutions the blocks state in `# in tests:` comments; a block that
cannot run here says why in a `# not run in tests:` first line (tests/helpers/doc_blocks.py).
A new block that does not run fails the suite.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import HELPERS, doc_blocks
from tests.helpers.marks import needs_fashion_mnist

ROOT = doc_blocks.ROOT
README_MAX_LINES = 250
# What the documents' commands read from a checkout; the rest (runs/, serving/, out/) is
# written into the working folder.
CHECKOUT = ("keras_preact", "training", "scripts", "benchmarks", "saved_models", "docs", "README.md", "setup.cfg")


def test_every_block_names_its_language_and_every_marker_its_reason():
    counts = {"shell": 0, "python": 0, "marked": 0, "text": 0}
    for document in doc_blocks.documents():
        for block in doc_blocks.blocks(document):  # raises for an unknown or missing language
            kind = "marked" if block.not_run else (block.language or "text")
            counts[kind] += 1
            assert not (block.language is None and block.not_run), block.where
    assert counts["shell"] + counts["python"] >= 10, counts


def test_in_tests_comments_become_code():
    block = doc_blocks.Block("d.md", 1, "shell", "cmd --a 1  # in tests: --a 2\n# in tests: echo hi\nplain # note\n")
    assert doc_blocks.code_in_tests(block) == "cmd --a 1 --a 2\necho hi\nplain # note\n"
    block = doc_blocks.Block("d.md", 1, "python", "x = f()\n    # in tests: x = x[:8]\ny = 1  # in tests: no\n")
    assert doc_blocks.code_in_tests(block) == "x = f()\n    x = x[:8]\ny = 1  # in tests: no\n"


def test_an_unknown_language_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(doc_blocks, "ROOT", str(tmp_path))
    (tmp_path / "d.md").write_text("text\n```\nplain\n```\n")
    with pytest.raises(ValueError, match=r"d.md:2: a block of language ''"):
        doc_blocks.blocks("d.md")


def test_the_readme_is_short():
    with open(os.path.join(ROOT, "README.md")) as f:
        assert len(f.readlines()) <= README_MAX_LINES


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A folder laid out like a checkout, its code linked, where the commands write."""
    folder = tmp_path_factory.mktemp("docs")
    for name in CHECKOUT:
        os.symlink(os.path.join(ROOT, name), folder / name)
    return folder


@pytest.mark.slow
@pytest.mark.xdist_group("docs")
@needs_fashion_mnist
def test_every_block_runs_in_order(workspace):
    env = {**os.environ, "KERAS_HOME": str(workspace / ".keras"), "MPLBACKEND": "Agg", "PYTHONPATH": ROOT}
    env.pop("KERAS_PREACT_VERBOSE", None)
    done = subprocess.run(
        [sys.executable, os.path.join(HELPERS, "doc_blocks.py"), str(workspace)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    failed = [row for row in rows if row["status"] == "failed"]
    assert not failed, f"{failed[0]['where']} failed:\n{failed[0]['output']}"
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(rows) == sum(len(doc_blocks.blocks(d)) for d in doc_blocks.documents())
    counts = {status: sum(row["status"] == status for row in rows) for status in ("ran", "marked", "text")}
    print(f"{counts['ran']} blocks ran, {counts['marked']} marked as not run here, {counts['text']} text")
    for row in rows:
        print(
            f"{row['where']}: {row['status']} {row['seconds']} s {row['output'] if row['status'] == 'marked' else ''}"
        )
