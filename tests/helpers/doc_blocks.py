"""The code blocks of the documentation, and a runner that runs the documents' blocks in
order, as a reader would (`python tests/helpers/doc_blocks.py WORKSPACE [DOC ...]`, by default
every document, in one process so that TensorFlow starts once for the Python blocks).

Every fenced block names its language: `sh`/`bash` blocks run in bash, `python` blocks
run in one Python namespace per document (so later blocks see earlier ones' names),
and `text` blocks (output, diagrams, argument lists) are not code. Within a block:

* a first line `# not run in tests: REASON` marks a block that cannot run here (a
  download, a GPU, several hosts, days of training); the reason must be given;
* `# in tests: CODE` makes CODE run in the tests only, where the block says so: a
  whole-line comment runs CODE at that point (Python: a statement, e.g. a smaller slice
  of the data; shell: a command); a comment after a shell command appends CODE to it
  (e.g. `--set total_steps=8`, which overrides the recipe's value).
"""

import contextlib
import dataclasses
import json
import os
import re
import subprocess
import sys
import time
import traceback

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))  # the repository
LANGUAGES = {"sh": "shell", "bash": "shell", "python": "python", "text": None}
FENCE = re.compile(r"^```(.*)$")
NOT_RUN = re.compile(r"^# not run in tests: (\S.*)$")
IN_TESTS = re.compile(r"^(?P<indent>\s*)# in tests: (?P<code>.+)$")
TRAILING = re.compile(r"^(?P<command>.*\S)\s+# in tests: (?P<code>.+)$")


@dataclasses.dataclass
class Block:
    document: str  # relative to the repository root
    line: int  # of the opening fence
    language: str  # "shell", "python" or None (not code)
    text: str
    not_run: str = None  # the marker's reason

    @property
    def where(self):
        return f"{self.document}:{self.line}"


def documents():
    """README.md, then docs/*.md and docs/*/*.md, in the order a reader follows them."""
    docs = sorted(
        os.path.relpath(os.path.join(d, f), ROOT)
        for d, _, files in os.walk(os.path.join(ROOT, "docs"))
        for f in files
        if f.endswith(".md")
    )
    return ["README.md", *docs]


def blocks(document):
    """The fenced blocks of `document`; a fence without a known language is an error."""
    found, opened, lines = [], None, []
    with open(os.path.join(ROOT, document)) as f:
        for number, line in enumerate(f, 1):
            fence = FENCE.match(line.rstrip("\n"))
            if fence and opened is None:
                opened, lines = (number, fence.group(1).strip()), []
            elif fence:
                found.append(_block(document, *opened, "".join(lines)))
                opened = None
            elif opened is not None:
                lines.append(line)
    if opened is not None:
        raise ValueError(f"{document}:{opened[0]}: a fenced block that never closes")
    return found


def _block(document, line, language, text):
    if language not in LANGUAGES:
        raise ValueError(
            f"{document}:{line}: a block of language {language!r}; expected one of {sorted(LANGUAGES)} "
            "(text for output, diagrams and argument lists)"
        )
    first = text.splitlines()[0] if text.strip() else ""
    marker = NOT_RUN.match(first)
    return Block(document, line, LANGUAGES[language], text, marker.group(1) if marker else None)


def code_in_tests(block):
    """The block's code as the tests run it: the `# in tests:` comments made code."""
    out = []
    for line in block.text.splitlines():
        whole, trailing = IN_TESTS.match(line), TRAILING.match(line)
        if whole:
            out.append(whole.group("indent") + whole.group("code"))
        elif trailing and block.language == "shell":
            out.append(f"{trailing.group('command')} {trailing.group('code')}")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def _run_shell(code, env):
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return done.returncode == 0, done.stdout


def _run_python(code, namespace, where):
    try:
        exec(compile(code, where, "exec"), namespace)
    except BaseException:  # noqa: BLE001 - the report names the block and shows the traceback
        return False, traceback.format_exc()
    return True, ""


def run_document(document, env):
    """Runs every block of `document` in the current directory, in order, stopping at the
    first that fails; prints one JSON line per block; returns whether all ran."""
    namespace = {"__name__": "__main__"}
    for block in blocks(document):
        if block.language is None or block.not_run:
            status, output, seconds = ("marked" if block.not_run else "text"), block.not_run or "", 0.0
        else:
            start = time.monotonic()
            with contextlib.redirect_stdout(sys.stderr):  # keep stdout for the report
                code = code_in_tests(block)
                run = _run_shell(code, env) if block.language == "shell" else _run_python(code, namespace, block.where)
            (ok, output), seconds = run, time.monotonic() - start
            status = "ran" if ok else "failed"
        output = output[-4000:] if status in ("failed", "marked") else ""
        print(json.dumps({"where": block.where, "status": status, "seconds": round(seconds, 1), "output": output}))
        sys.stdout.flush()
        if status == "failed":
            return False
    return True


def main(workspace, selected=()):
    """Runs the `selected` documents (default: all, in reading order) in `workspace`."""
    os.chdir(workspace)
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    for document in selected or documents():
        if not run_document(document, env):
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
