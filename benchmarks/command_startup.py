"""How long each command takes to answer at once (`--help`, `--list-recipes`, `--list`,
an argument error), next to a bare `python -c pass`, as a ratio.

Each command runs as a user types it (the console script next to this Python) `--runs`
times; the median wall time is printed with its ratio to the median of `python -c pass`
measured in the same loop (interleaved, so that a busy machine slows both alike).

Usage: python benchmarks/command_startup.py [--runs 5]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

BIN = os.path.dirname(sys.executable)
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import keras_preact'": [sys.executable, "-c", "import keras_preact"],
    "keras-preact-train --help": [os.path.join(BIN, "keras-preact-train"), "--help"],
    "keras-preact-train --list-recipes": [os.path.join(BIN, "keras-preact-train"), "--list-recipes"],
    "keras-preact-train --recipe smoke (no --workdir)": [os.path.join(BIN, "keras-preact-train"), "--recipe", "smoke"],
    "keras-preact-export --help": [os.path.join(BIN, "keras-preact-export"), "--help"],
    "keras-preact-export --model PreActResNet20 (nothing to do)": [
        os.path.join(BIN, "keras-preact-export"),
        "--model",
        "PreActResNet20",
    ],
    "keras-preact-diagnostics --help": [os.path.join(BIN, "keras-preact-diagnostics"), "--help"],
    "keras-preact-demo --help": [os.path.join(BIN, "keras-preact-demo"), "--help"],
    "keras-preact-convert --help": [os.path.join(BIN, "keras-preact-convert"), "--help"],
    "keras-preact-convert --list": [os.path.join(BIN, "keras-preact-convert"), "--list"],
    "keras-preact-evaluate --help": [os.path.join(BIN, "keras-preact-evaluate"), "--help"],
    "keras-preact-predict --help": [os.path.join(BIN, "keras-preact-predict"), "--help"],
}


def wall_time(command):
    """Seconds `command` takes, its output discarded (a non-zero status is expected of
    the argument errors)."""
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command (the median is printed)")
    args = parser.parse_args()
    times = {name: [] for name in COMMANDS}
    for run in range(args.runs):
        for name, command in COMMANDS.items():
            times[name].append(wall_time(command))
        print(f"run {run + 1}/{args.runs} done", file=sys.stderr, flush=True)
    base = statistics.median(times["python -c pass"])
    print(f"{'command':60s} {'median s':>9s} {'x python -c pass':>17s}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:60s} {median:9.3f} {median / base:17.1f}")


if __name__ == "__main__":
    main()
