"""Peak memory and step time of a very deep model with and without block remat.

Each mode runs in a fresh subprocess: build the model (flat, or every unit wrapped
by `keras_preact.training.remat.rematerialize`), trace one SGD step, then time `--steps` steps
while a thread samples the process RSS every 5 ms. The activation memory of a step
is the peak RSS during the timed steps minus the RSS just before them (the weights,
the graph and the optimizer state are already allocated then).

    python benchmarks/remat.py [--model PreActResNet1001] [--batch 16] [--steps 3]
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time

MODES = ("flat", "remat")


def run_one(model_name, mode, batch, steps):
    import psutil
    from common import fixed_batch_step, random_batch

    import keras_preact
    from keras_preact.training.remat import rematerialize

    model = keras_preact.get_model(model_name, input_shape=(32, 32, 3), classes=10, classifier_activation=None)
    network = rematerialize(model) if mode == "remat" else model
    step = fixed_batch_step(model, random_batch(batch), network=network)
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    process = psutil.Process()
    base = process.memory_info().rss
    peak, running = [base], [True]

    def sample():
        while running[0]:
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    running[0] = False
    sampler.join()
    return {
        "model": model_name,
        "mode": mode,
        "batch": batch,
        "first_step_s": round(first, 1),
        "step_s": round(min(times), 3),
        "activation_mib": round((peak[0] - base) / 2**20, 1),
        "peak_rss_mib": round(peak[0] / 2**20, 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="PreActResNet1001")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.model, args.one, args.batch, args.steps)))
        return
    rows = {}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    for mode in MODES:
        command = [sys.executable, __file__, "--model", args.model, "--batch", str(args.batch)]
        command += ["--steps", str(args.steps)]
        out = subprocess.run([*command, "--one", mode], env=env, capture_output=True, text=True)
        if out.returncode:
            sys.exit(out.stderr[-3000:])
        rows[mode] = json.loads(out.stdout.strip().splitlines()[-1])
        print(json.dumps(rows[mode]), flush=True)
    flat, remat = rows["flat"], rows["remat"]
    memory = remat["activation_mib"] / flat["activation_mib"]
    time_ratio = remat["step_s"] / flat["step_s"]
    print(f"remat / flat: activation memory {memory:.2f}x (goal <= 0.4x), step time {time_ratio:.2f}x (goal <= 1.35x)")


if __name__ == "__main__":
    main()
