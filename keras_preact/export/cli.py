"""The `keras-preact-export` command: a model from a registered name, a .keras file or a
training work directory, exported to a SavedModel and/or TFLite files, with parity."""

import argparse
import json
import os
import sys

import keras
import numpy as np

from keras_preact.data import sources
from keras_preact.export.parity import (
    directory_size,
    keras_logits,
    parity,
    pipeline_images,
    run_saved_model,
    run_tflite,
)
from keras_preact.export.saved_model import export_saved_model
from keras_preact.export.tflite import CALIBRATED, QUANTIZATIONS, export_tflite
from keras_preact.models import get_model, get_weights_info, includes_preprocessing
from keras_preact.utils.checks import check_choice


def _load_model(args):
    """The model, its `preprocess_input` dataset and its data source name, from the CLI's source flags."""
    if args.workdir:
        with open(os.path.join(args.workdir, "config.json")) as f:
            config = json.load(f)
        path = os.path.join(args.workdir, "model.keras")
        if not os.path.exists(path):
            raise ValueError(f"Received: --workdir {args.workdir} without model.keras; is the training finished?")
        return keras.saving.load_model(path), sources.DATASETS[config["dataset"]].stats, config["dataset"]
    if args.keras_file:
        return keras.saving.load_model(args.keras_file), args.dataset or "imagenet", args.data
    kwargs = {}
    if args.input_shape:
        kwargs["input_shape"] = tuple(int(v) for v in args.input_shape.split(","))
    if args.classes:
        kwargs["classes"] = args.classes
    model = get_model(args.model, weights=args.weights, **kwargs)
    info = get_weights_info(args.model, args.weights) if isinstance(args.weights, str) else None
    dataset = args.dataset or (info.preprocessing if info else "imagenet")
    return model, dataset, args.data or (info.name if info and info.name in sources.DATASETS else None)


def run(argv=None):
    """Parses `argv`, exports, and returns the parity report {path: {bytes, max_abs_diff, top1_agreement}}.

    Bad arguments exit through argparse (status 2, one line, no traceback).
    """
    parser = argparse.ArgumentParser(
        prog="keras-preact-export",
        description="Export a keras_preact model to a TF Serving SavedModel and/or TFLite files, and check parity.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="a registered model name, e.g. PreActResNet20 (with --weights)")
    source.add_argument("--keras-file", help="a saved .keras model")
    source.add_argument("--workdir", help="a training work directory (model.keras + config.json)")
    parser.add_argument("--weights", help="with --model: a registered weights name or a .weights.h5 path")
    parser.add_argument("--input-shape", help="with --model: H,W,C")
    parser.add_argument("--classes", type=int, help="with --model: classifier outputs")
    parser.add_argument("--dataset", help="the preprocess_input statistics (default: from the weights or workdir)")
    parser.add_argument(
        "--data", help="the pipeline source for calibration and parity images, e.g. fashion_mnist (default: inferred)"
    )
    parser.add_argument("--saved-model", metavar="BASE_DIR", help="write <BASE_DIR>/<name>/<version>/")
    parser.add_argument("--name", help="the SavedModel's model name (default: the model's name)")
    parser.add_argument("--version", type=int, help="the SavedModel version (default: next free)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing SavedModel version")
    parser.add_argument("--tflite", metavar="PREFIX", help="write <PREFIX>_<quantization>.tflite")
    parser.add_argument("--quantization", default="float32", help=f"comma-separated, of {', '.join(QUANTIZATIONS)}")
    parser.add_argument("--calibration-images", type=int, default=500, help="int8 representative images")
    parser.add_argument("--parity-images", type=int, default=1000, help="images to measure parity on")
    args = parser.parse_args(argv)
    if not (args.saved_model or args.tflite):
        parser.error("nothing to do: pass --saved-model BASE_DIR and/or --tflite PREFIX")
    try:
        return _export(args)
    except (ValueError, OSError) as e:
        parser.error(str(e))


def main(argv=None):
    """The `keras-preact-export` command; returns the exit status (0 on success)."""
    run(argv)
    return 0


def _export(args):
    quantizations = args.quantization.split(",")
    for quantization in quantizations:
        check_choice("quantization", quantization, QUANTIZATIONS)
    model, dataset, data = _load_model(args)
    shape = tuple(model.input_shape[1:])
    if data:
        raw = includes_preprocessing(model)  # it takes [0, 255] images and normalises them itself
        test_images = pipeline_images(data, sources.DATASETS[data].eval_split, args.parity_images, shape, raw=raw)
        wants_int8 = args.tflite and any(q in CALIBRATED for q in quantizations)
        calibration = (
            pipeline_images(data, "train", args.calibration_images, shape, seed=1, raw=raw) if wants_int8 else None
        )
    else:
        print("No --data: parity on random images, and no int8 calibration data.")
        test_images = np.random.default_rng(0).normal(size=(min(args.parity_images, 64), *shape)).astype("float32")
        calibration = None
    expected = keras_logits(model, test_images)
    report = {}
    if args.saved_model:
        path = export_saved_model(model, args.saved_model, args.name, args.version, dataset, args.overwrite)
        got = run_saved_model(path, test_images)
        report[path] = {"bytes": directory_size(path), **parity(expected, got)}
    if args.tflite:
        for quantization in quantizations:
            path = f"{args.tflite}_{quantization}.tflite"
            size = export_tflite(model, path, quantization, calibration, dataset)
            report[path] = {"bytes": size, **parity(expected, run_tflite(path, test_images))}
    print(f"Parity against Keras model(x, training=False) on {len(test_images)} {data or 'random'} images:")
    for path, row in report.items():
        print(
            f"  {path}: {row['bytes'] / 1e6:.2f} MB, max |logit diff| {row['max_abs_diff']:.3g}, "
            f"top-1 agreement {row['top1_agreement'] * 100:.2f}%"
        )
    return report


if __name__ == "__main__":
    sys.exit(main())
