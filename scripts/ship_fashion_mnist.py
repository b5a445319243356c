"""Curate the shipped Fashion-MNIST artifacts from a finished training run.

    python scripts/ship_fashion_mnist.py --workdir runs/fm60_v2 [--report-workdir runs/fm60_v1 ...]
    python scripts/ship_fashion_mnist.py --workdir runs/fm60_v2 --report-workdir runs/fm60_v1 --runs-only

1. copies the run's `model.weights.h5` into the package data,
   keras_preact/weights/files/<model>_fashion_mnist.weights.h5, and lists it in that
   folder's weights.json, from which `keras_preact` registers `weights="fashion_mnist"`;
2. exports it with the export command (TF Serving SavedModel, TFLite float32 and int8
   calibrated on 500 training images);
3. measures every artifact's accuracy on the 10,000 real test images (the weights through
   the public API, the SavedModel through `serving_default`, the TFLite files through
   the LiteRT interpreter);
4. writes saved_models/manifest.json (SHA-256, bytes, accuracy, recipe, training wall time
   and images/s, versions) for every artifact, the package's weights file included.

`--report-workdir` adds other finished runs (the v1 counterpart, other recipes) to the
manifest's `training_runs` without shipping them; runs of other recipes already listed
there are kept. `--runs-only` rewrites only that list in the existing manifest (steps 1-3
skipped, the artifacts untouched).
"""

import argparse
import json
import os
import shutil
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import keras_preact  # noqa: E402
from keras_preact import export  # noqa: E402
from keras_preact.data import readers  # noqa: E402
from keras_preact.export import cli as export_cli  # noqa: E402
from keras_preact.training import history  # noqa: E402
from keras_preact.utils.files import file_sha256 as sha256  # noqa: E402
from keras_preact.weights.shipped import SHIPPED_DIR, SHIPPED_INDEX  # noqa: E402


def accuracy(logits, labels):
    return float(np.mean(np.argmax(logits, -1) == labels))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument(
        "--report-workdir",
        "--v1-workdir",
        dest="report_workdirs",
        action="append",
        default=[],
        help="another finished run reported in the manifest, not shipped (repeatable)",
    )
    parser.add_argument("--runs-only", action="store_true", help="only rewrite training_runs of the manifest")
    parser.add_argument("--out", default=os.path.join(ROOT, "saved_models"))
    parser.add_argument("--weights-dir", default=SHIPPED_DIR, help="the package-data folder of the weights")
    args = parser.parse_args()
    saved_dir = os.path.abspath(args.out)
    with open(os.path.join(args.workdir, "results.json")) as f:
        results = json.load(f)
    config = results["config"]
    runs = [_training(results)]
    for workdir in args.report_workdirs:
        with open(os.path.join(workdir, "results.json")) as f:
            runs.append(_training(json.load(f)))
    manifest_path = os.path.join(saved_dir, "manifest.json")
    earlier = {}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            earlier = json.load(f)
    runs = _with_earlier_runs(earlier.get("training_runs", []), runs)
    if args.runs_only:
        _write_manifest(manifest_path, {**earlier, "training_runs": runs})
        return
    model_name, prefix = config["model"], config["model"].lower() + "_fashion_mnist"
    os.makedirs(saved_dir, exist_ok=True)
    weights = os.path.join(os.path.abspath(args.weights_dir), prefix + ".weights.h5")
    shutil.copyfile(os.path.join(args.workdir, "model.weights.h5"), weights)

    images, labels = readers.load_fashion_mnist("test")
    images = np.asarray(keras_preact.preprocess_input(images.astype("float32"), "fashion_mnist"))
    model = keras_preact.get_model(model_name, weights=weights, input_shape=(28, 28, 1), classes=10)
    keras_accuracy = accuracy(export.keras_logits(model, images), labels)

    serving_base = os.path.join(saved_dir, "serving")
    shutil.rmtree(serving_base, ignore_errors=True)
    command = [
        "--model", model_name, "--weights", weights, "--input-shape", "28,28,1", "--classes", "10",
        "--dataset", "fashion_mnist", "--data", "fashion_mnist", "--name", prefix, "--version", "1",
        "--saved-model", serving_base, "--tflite", os.path.join(saved_dir, prefix), "--quantization", "float32,int8",
    ]  # fmt: skip
    report = export_cli.run(command)

    artifacts = [{
        "path": os.path.relpath(weights, saved_dir),
        "format": "keras_weights",
        "model": model_name,
        "weights_name": "fashion_mnist",
        "input_shape": [28, 28, 1],
        "classes": 10,
        "preprocessing": "fashion_mnist",
        "sha256": sha256(weights),
        "bytes": os.path.getsize(weights),
        "test_accuracy": keras_accuracy,
    }]  # fmt: skip
    for path, row in report.items():
        if os.path.isdir(path):
            logits = export.run_saved_model(path, images)
            files = sorted(os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs)
            entry = {
                "format": "tf_serving_saved_model",
                "files": {os.path.relpath(f, saved_dir): sha256(f) for f in files},
                "bytes": sum(os.path.getsize(f) for f in files),
            }
        else:
            logits = export.run_tflite(path, images)
            entry = {
                "format": "tflite_" + path.rsplit("_", 1)[1][: -len(".tflite")],
                "sha256": sha256(path),
                "bytes": os.path.getsize(path),
            }
        entry = {"path": os.path.relpath(path, saved_dir), **entry, "test_accuracy": accuracy(logits, labels)}
        entry["top1_agreement_with_keras"] = row["top1_agreement"]
        entry["max_abs_logit_diff_from_keras"] = row["max_abs_diff"]
        artifacts.append(entry)

    command_of = {model_name: "keras-preact-train --recipe " + _recipe(config) + " --workdir runs/" + prefix}
    manifest = {
        "description": "Curated Fashion-MNIST artifacts of keras_preact (the Keras weights are package data in "
        "keras_preact/weights/files/); see docs/deployment.md.",
        "recipe": config,
        "reproduce": command_of,
        "export_command": "keras-preact-export "
        + " ".join(os.path.relpath(a, ROOT) if a.startswith(ROOT) else a for a in command),
        "training_runs": runs,
        "test_images": int(len(labels)),
        "versions": history.versions(),
        "artifacts": artifacts,
    }
    _write_manifest(manifest_path, manifest)
    _write_weights_index(
        os.path.join(os.path.abspath(args.weights_dir), os.path.basename(SHIPPED_INDEX)), artifacts[0], config
    )
    for entry in artifacts:
        print(f"{entry['path']:60s} {entry['bytes'] / 1e6:6.2f} MB  test accuracy {entry['test_accuracy'] * 100:.2f}%")


def _training(results):
    """A run's entry in the manifest's training_runs."""
    return {
        "model": results["config"]["model"],
        "recipe": _recipe(results["config"]),
        "test_accuracy": results["eval_accuracy"],
        "wall_seconds": results["wall_seconds"],
        "images_per_second": results["images_per_second"],
        "steps": results["step"],
        # wall time and images/s cover steps resumed_from..steps (0 for an uninterrupted run)
        "resumed_from": results.get("resumed_from", 0),
        "status": results["status"],
    }


def _with_earlier_runs(earlier, runs):
    """`runs`, then the existing manifest's runs (`earlier`) of other recipes (their work
    directories may be gone, so they are carried over rather than dropped)."""
    recipes = {run["recipe"] for run in runs}
    return runs + [run for run in earlier if run.get("recipe") not in recipes]


def _write_manifest(path, manifest):
    with open(path, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


def _write_weights_index(path, entry, config):
    """Lists the shipped weights file in the package's weights.json (replacing an entry of
    the same model and name)."""
    index = {"weights": []}
    if os.path.exists(path):
        with open(path) as f:
            index = json.load(f)
    shipped = {
        "model": entry["model"],
        "name": entry["weights_name"],
        "file": os.path.basename(entry["path"]),
        "sha256": entry["sha256"],
        "bytes": entry["bytes"],
        "input_shape": entry["input_shape"],
        "classes": entry["classes"],
        "preprocessing": entry["preprocessing"],
        "test_accuracy": entry["test_accuracy"],
        "recipe": _recipe(config),
        "license": "Apache-2.0",
    }
    others = [w for w in index["weights"] if (w["model"], w["name"]) != (shipped["model"], shipped["name"])]
    _write_manifest(path, {**index, "weights": [shipped, *others]})


def _recipe(config):
    from keras_preact.training.recipes import RECIPES

    for name, recipe in RECIPES.items():
        if recipe.to_dict() == config:
            return name
    return "<custom>"


if __name__ == "__main__":
    main()
