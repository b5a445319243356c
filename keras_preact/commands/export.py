"""The `keras-preact-export` command: a model from a registered name, a .keras file or a
training work directory, exported to a SavedModel and/or TFLite files, with parity.

Each SavedModel is named after its model and weights (`preactresnet20_fashion_mnist`,
`preactresnet20_<workdir name>`), so different models never become versions of one
servable; `--name` chooses another name.
"""

import argparse
import json
import os
import re
import sys

from keras_preact.export.quantizations import CALIBRATED, QUANTIZATIONS
from keras_preact.utils import quiet
from keras_preact.utils.checks import check_choice


def _parser():
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
    parser.add_argument(
        "--data", help="the images for int8 calibration and parity, e.g. fashion_mnist (default: inferred)"
    )
    parser.add_argument(
        "--dataset", help="the preprocess_input statistics (default: from the weights, the workdir or --data)"
    )
    parser.add_argument("--saved-model", metavar="BASE_DIR", help="write <BASE_DIR>/<name>/<version>/")
    parser.add_argument("--name", help="the SavedModel's name (default: the model's and its weights', see above)")
    parser.add_argument("--version", type=int, help="the SavedModel version (default: next free)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing SavedModel version")
    parser.add_argument("--tflite", metavar="PREFIX", help="write <PREFIX>_<quantization>.tflite")
    parser.add_argument("--quantization", default="float32", help=f"comma-separated, of {', '.join(QUANTIZATIONS)}")
    parser.add_argument("--calibration-images", type=int, default=500, help="int8 representative images")
    parser.add_argument("--parity-images", type=int, default=1000, help="images to measure parity on")
    parser.add_argument(
        "--verbose", action="store_true", help=f"show TensorFlow's start-up notices too (or set {quiet.VERBOSE_ENV}=1)"
    )
    return parser


def run(argv=None):
    """Parses `argv`, exports, and returns the parity report {path: {bytes, max_abs_diff, top1_agreement}}.

    Bad arguments exit through argparse (status 2, one line, no traceback).
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if not (args.saved_model or args.tflite):
        parser.error("nothing to do: pass --saved-model BASE_DIR and/or --tflite PREFIX")
    quiet.start(args.verbose)
    try:
        quantizations = args.quantization.split(",")
        for quantization in quantizations:
            check_choice("quantization", quantization, QUANTIZATIONS)
        _make_tflite_folder(args.tflite)
        quiet.load_tensorflow()
        return _export(args, quantizations)
    except (ValueError, OSError) as e:
        parser.error(str(e))


def main(argv=None):
    """The `keras-preact-export` command; returns the exit status (0 on success)."""
    run(argv)
    return 0


def _make_tflite_folder(prefix):
    """Creates the folder of `--tflite PREFIX` before anything is written."""
    folder = os.path.dirname(prefix) if prefix else ""
    if folder and os.path.exists(folder) and not os.path.isdir(folder):
        raise ValueError(f"Received: --tflite {prefix}, whose folder {folder} is a file; expected a folder.")
    if folder:
        os.makedirs(folder, exist_ok=True)


def _slug(text):
    """`text` as a lower-case SavedModel name: letters, digits and underscores."""
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")


def servable_name(args, model):
    """The SavedModel's name: `--name`, else the model's name and that of its weights (the
    registered name, the weights file, the work directory or the .keras file)."""
    if args.name:
        return args.name
    if args.workdir:
        with open(os.path.join(args.workdir, "config.json")) as f:
            model_name = json.load(f)["model"]
        tag = os.path.basename(os.path.normpath(args.workdir))
    elif args.keras_file:
        model_name, tag = model.name, os.path.basename(args.keras_file).removesuffix(".keras")
    else:
        model_name, weights = args.model, args.weights or ""
        tag = os.path.basename(weights).removesuffix(".weights.h5").removesuffix(".h5")
    model_slug = re.sub(r"[^a-z0-9]+", "", model_name.lower())
    return f"{model_slug}_{_slug(tag)}" if _slug(tag) else model_slug


def _load_model(args):
    """The model, its `preprocess_input` dataset and its data source name, from the CLI's source flags."""
    import keras

    from keras_preact.data import sources
    from keras_preact.models import get_model, get_weights_info

    data_stats = sources.DATASETS[args.data].stats if args.data in sources.DATASETS else None
    if args.workdir:
        with open(os.path.join(args.workdir, "config.json")) as f:
            config = json.load(f)
        path = os.path.join(args.workdir, "model.keras")
        if not os.path.exists(path):
            raise ValueError(f"Received: --workdir {args.workdir} without model.keras; is the training finished?")
        return keras.saving.load_model(path), sources.DATASETS[config["dataset"]].stats, config["dataset"]
    if args.keras_file:
        return keras.saving.load_model(args.keras_file), args.dataset or data_stats or "imagenet", args.data
    kwargs = {}
    if args.input_shape:
        kwargs["input_shape"] = tuple(int(v) for v in args.input_shape.split(","))
    if args.classes:
        kwargs["classes"] = args.classes
    model = get_model(args.model, weights=args.weights, **kwargs)
    info = get_weights_info(args.model, args.weights) if isinstance(args.weights, str) else None
    dataset = args.dataset or (info.preprocessing if info else data_stats or "imagenet")
    return model, dataset, args.data or (info.name if info and info.name in sources.DATASETS else None)


def _images(args, model, data, quantizations):
    """(parity images, int8 calibration images or None) for `model`."""
    import numpy as np

    from keras_preact.data import sources
    from keras_preact.export.runners import pipeline_images
    from keras_preact.models import includes_preprocessing

    shape = tuple(model.input_shape[1:])
    if not data:
        print("No --data: parity on random images, and no int8 calibration data.")
        return np.random.default_rng(0).normal(size=(min(args.parity_images, 64), *shape)).astype("float32"), None
    raw = includes_preprocessing(model)  # it takes [0, 255] images and normalises them itself
    test_images = pipeline_images(data, sources.DATASETS[data].eval_split, args.parity_images, shape, raw=raw)
    if not (args.tflite and any(q in CALIBRATED for q in quantizations)):
        return test_images, None
    return test_images, pipeline_images(data, "train", args.calibration_images, shape, seed=1, raw=raw)


def _export(args, quantizations):
    from keras_preact.export.runners import directory_size, keras_logits, parity, run_saved_model, run_tflite
    from keras_preact.export.saved_model import export_saved_model
    from keras_preact.export.tflite import export_tflite

    model, dataset, data = _load_model(args)
    test_images, calibration = _images(args, model, data, quantizations)
    expected = keras_logits(model, test_images)
    report = {}
    if args.saved_model:
        name = servable_name(args, model)
        path = export_saved_model(model, args.saved_model, name, args.version, dataset, args.overwrite)
        report[path] = {"bytes": directory_size(path), **parity(expected, run_saved_model(path, test_images))}
    for quantization in quantizations if args.tflite else ():
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
