"""The README's main command: train a small PreAct ResNet on Fashion-MNIST, evaluate, export.

    keras-preact-demo --workdir runs/demo [--data-dir DIR] [--set KEY=VALUE ...]

Runs the `demo` recipe (PreActResNet20, one epoch of a 12,000-image subset of the real
training set, evaluated on all 10,000 test images) through the same trainer as every
other recipe, so the workdir holds what every run writes (`config.json`,
`checkpoints/`, `history.csv`, `model.keras`, `model.weights.h5`, `results.json`).
Then it exports the trained model as a TF Serving SavedModel
(`serving/preactresnet20_demo/1/`) and a float32 TFLite file (`model_float32.tflite`),
runs both on 1,000 test images against Keras, and writes `export.json`. Re-running
resumes (or finds the finished run) and exports again.

Exit status: the training command's (`keras_preact.training.failures.EXIT_CODES`): 0 on
success, 2 for bad arguments or missing data, 3 if the training stopped on a non-finite
loss, 4 if the work directory cannot be written, 5 for damaged data or checkpoints.
"""

import argparse
import json
import os
import sys

from keras_preact.data import readers
from keras_preact.utils import quiet

PARITY_IMAGES = 1000


def export_and_check(model, workdir, dataset="fashion_mnist", data_dir=None):
    """Exports `model` to `workdir` (SavedModel and float32 TFLite) and measures both
    against Keras on the first `PARITY_IMAGES` test images; returns the report."""
    from keras_preact.data import pipelines, sources
    from keras_preact.export import export_saved_model, export_tflite, keras_logits, parity, run_saved_model, run_tflite

    source = sources.load_source(dataset, "test", data_dir)
    stream = pipelines.make_dataset(source, dataset, training=False, batch_size=PARITY_IMAGES)
    images = next(iter(stream))[0].numpy()
    stats = sources.DATASETS[dataset].stats
    expected = keras_logits(model, images)
    saved = export_saved_model(model, os.path.join(workdir, "serving"), "preactresnet20_demo", 1, stats, overwrite=True)
    tflite = os.path.join(workdir, "model_float32.tflite")
    export_tflite(model, tflite, "float32", dataset=stats)
    return {
        "parity_images": len(images),
        "saved_model": {"path": saved, **parity(expected, run_saved_model(saved, images))},
        "tflite": {"path": tflite, **parity(expected, run_tflite(tflite, images))},
    }


def run(workdir, data_dir=None, overrides=(), verbose=1):
    """Trains the `demo` recipe in `workdir`, then exports; returns (results, export report)."""
    import keras

    from keras_preact.training import apply_overrides, get_recipe, train
    from keras_preact.utils.files import atomic_write_text

    config = apply_overrides(get_recipe("demo"), [*([f"data_dir={data_dir}"] if data_dir else []), *overrides])
    results = train(config, workdir, verbose=verbose)
    if results["status"] != "completed":
        return results, None
    model = keras.saving.load_model(os.path.join(workdir, "model.keras"))
    report = export_and_check(model, workdir, config.dataset, config.data_dir)
    atomic_write_text(json.dumps(report, indent=2), os.path.join(workdir, "export.json"))
    return results, report


def main(argv=None):
    parser = argparse.ArgumentParser(prog="keras-preact-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="runs/demo")
    parser.add_argument("--data-dir", default=readers.FASHION_MNIST_DIR, help="the Fashion-MNIST IDX files")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe field")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--verbose", action="store_true", help=f"show TensorFlow's start-up notices too (or set {quiet.VERBOSE_ENV}=1)"
    )
    args = parser.parse_args(argv)
    quiet.start(args.verbose)
    quiet.load_tensorflow()
    from keras_preact.training.failures import EXIT_NAN, REPORTED, exit_status

    try:
        results, report = run(args.workdir, args.data_dir, args.set, verbose=0 if args.quiet else 1)
    except REPORTED as e:
        print(f"keras-preact-demo: error: {e}", file=sys.stderr)
        return exit_status(e)
    if report is None:
        print(f"The training stopped ({results['status']}); re-run the same command to resume.")
        return EXIT_NAN if results["status"] == "nan" else 0
    print(
        f"Test accuracy {results['eval_accuracy']:.4f} on {results['eval_images']} images after "
        f"{results['step']} steps ({results['images_per_second']} img/s)."
    )
    for kind in ("saved_model", "tflite"):
        row = report[kind]
        print(
            f"{row['path']}: max |logit diff| from Keras {row['max_abs_diff']:.3g}, "
            f"top-1 agreement {row['top1_agreement'] * 100:.2f}% on {report['parity_images']} test images"
        )
    print(f"Wrote the run (checkpoints/, history.csv, model.keras, results.json) and its exports to {args.workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
