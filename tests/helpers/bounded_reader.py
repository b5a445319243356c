"""Runs the checkpoint readers in a process whose address space is capped, as the
size-bomb and fuzz tests need (`RLIMIT_AS`: an allocation past the cap fails at once).

    python tests/helpers/bounded_reader.py read LIMIT_MB READER FILE [READER FILE ...]
    python tests/helpers/bounded_reader.py fuzz LIMIT_MB READER FILE EXAMPLES SEED

Only the readers are imported (not the package, whose TensorFlow would not start under
the cap). `read` prints one JSON line per file: the outcome ("ok", or the error's class
name), the error message and the seconds taken. `fuzz` mutates FILE's bytes with
hypothesis (byte overwrites, insertions, a truncation) EXAMPLES times and requires each
mutant to read or to raise `CheckpointError` within a second; it prints a JSON summary.
"""

import json
import os
import resource
import sys
import time
import types

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))  # the repository
for package in ("keras_preact", "keras_preact.weights", "keras_preact.weights.formats"):
    stub = types.ModuleType(package)
    stub.__path__ = [os.path.join(ROOT, *package.split("."))]
    sys.modules[package] = stub

from keras_preact.weights.formats import safetensors, torch7, torch_pickle  # noqa: E402
from keras_preact.weights.formats.limits import CheckpointError  # noqa: E402

READERS = {"torch": torch_pickle.load, "safetensors": safetensors.load, "torch7": torch7.load}


def outcome(reader, path):
    start = time.perf_counter()
    try:
        READERS[reader](path)
        result, message = "ok", ""
    except Exception as e:  # noqa: BLE001 - reported, the test judges it
        result, message = type(e).__name__, str(e)
    return {
        "file": os.path.basename(path),
        "outcome": result,
        "message": message,
        "seconds": time.perf_counter() - start,
    }


def fuzz(reader, path, examples, seed):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    original = open(path, "rb").read()
    mutated = os.path.join(os.path.dirname(path), "mutant-" + os.path.basename(path))
    counts = {"ok": 0, "CheckpointError": 0}
    edits = st.lists(st.tuples(st.integers(0, len(original) - 1), st.binary(min_size=1, max_size=8)), max_size=6)

    @hypothesis_seed(seed)
    @settings(max_examples=examples, deadline=1000, database=None, suppress_health_check=list(HealthCheck))
    @given(edits=edits, insert=st.booleans(), cut=st.one_of(st.none(), st.integers(0, len(original))))
    def mutate_and_read(edits, insert, cut):
        data = bytearray(original if cut is None else original[:cut])
        for position, chunk in edits:
            position %= max(len(data), 1)
            data[position : position if insert else position + len(chunk)] = chunk
        with open(mutated, "wb") as f:
            f.write(data)
        try:
            READERS[reader](mutated)
            counts["ok"] += 1
        except CheckpointError as e:
            assert "\n" not in str(e) and len(str(e)) < 300, str(e)
            counts["CheckpointError"] += 1

    mutate_and_read()
    return counts


def main(argv):
    mode, limit_mb = argv[0], int(argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (limit_mb << 20, limit_mb << 20))
    if mode == "read":
        for reader, path in zip(argv[2::2], argv[3::2]):
            print(json.dumps(outcome(reader, path)), flush=True)
    else:
        reader, path, examples, seed = argv[2], argv[3], int(argv[4]), int(argv[5])
        print(json.dumps({"reader": reader, "examples": examples, **fuzz(reader, path, examples, seed)}))


if __name__ == "__main__":
    main(sys.argv[1:])
