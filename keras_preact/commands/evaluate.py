"""The `keras-preact-evaluate` command: top-1 and top-5 accuracy of a model over
labelled images, a folder with one subfolder per class (torchvision's ImageFolder) or
a tensorflow-datasets dataset already on disk.

    keras-preact-evaluate --model ResNet50 --weights imagenet --data ILSVRC2012/val --output results.json
    keras-preact-evaluate --model ResNet50 --weights imagenet --data tfds:imagenet2012:validation

Classes of a folder are its subfolders sorted by name (label 0 first), as
torchvision's ImageFolder; for 1000-class weights whose folders are all ImageNet
WordNet ids ("n01440764"), each folder takes its id's label instead
(`class_names/imagenet.txt`). A tfds dataset keeps its own labels (for imagenet2012,
cifar10/100 and fashion_mnist, the weights' order); `--data tfds:NAME` takes its
validation split, else its test split; nothing is downloaded. Images go through the
publisher's evaluation transform (`keras_preact.eval_transform`) in a tf.data
pipeline (`keras_preact.data.labelled_images`).

The model is a registered name with registered weights (their transform), a name
with a `.weights.h5` file, or a `.keras` file; the last two need `--preprocessing`
(`keras_preact.models.inference`).

Exit status: 0 when evaluated; 2 for bad arguments, images, data or models (one line).
"""

import argparse
import json
import os
import sys

from keras_preact.commands.model_options import add_model_arguments, check_model_arguments, load_model, positive_int
from keras_preact.utils import quiet


def _parser():
    parser = argparse.ArgumentParser(prog="keras-preact-evaluate", description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument(
        "--data",
        required=True,
        metavar="DIR|tfds:NAME[:SPLIT]",
        help="a folder with one subfolder of JPEG/PNG images per class, or a tfds dataset on disk",
    )
    parser.add_argument(
        "--tfds-data-dir", metavar="DIR", help="where tfds datasets are (default: TFDS_DATA_DIR, ~/tensorflow_datasets)"
    )
    parser.add_argument("--batch-size", type=positive_int, default=128)
    parser.add_argument("--output", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    return parser


def parse_tfds(spec):
    """(name, split or None) of a `tfds:NAME[:SPLIT]` data argument.

    Raises:
        ValueError: an empty name or split.
    """
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not all(parts[1:]):
        raise ValueError(f"--data {spec}: expected tfds:NAME or tfds:NAME:SPLIT (e.g. tfds:imagenet2012:validation)")
    return parts[1], parts[2] if len(parts) == 3 else None


def _labelled_images(args, tfds_spec, info):
    """(stream of (image, label), image count, class count, files or None, what the
    results say of the labels) of `--data` (`tfds_spec`: its (name, split), or None
    for a folder)."""
    from keras_preact.data import labelled_images
    from keras_preact.models.decoding import class_names

    channels = info.input_shape[2]
    if tfds_spec is not None:
        name, split = tfds_spec
        stream, count, classes = labelled_images.tfds_stream(name, split, args.tfds_data_dir, channels)
        if classes > info.classes:
            raise ValueError(f"--data {args.data}: {classes} classes; the model has {info.classes}")
        return stream, count, classes, None, "tfds"
    paths, labels, folders = labelled_images.image_folder(args.data)
    wordnet_ids = [wnid for wnid, _ in class_names("imagenet")]
    mapping, how = labelled_images.folder_labels(folders, info.classes, wordnet_ids)
    stream = labelled_images.folder_stream(paths, [mapping[i] for i in labels], channels)
    return stream, len(paths), len(folders), paths, how


def main(argv=None):
    """The `keras-preact-evaluate` command; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    check_model_arguments(parser, args)
    if args.tfds_data_dir and not args.data.startswith("tfds:"):
        parser.error("--tfds-data-dir is for --data tfds:NAME[:SPLIT]")
    tfds_spec = None
    if args.data.startswith("tfds:"):
        try:
            tfds_spec = parse_tfds(args.data)
        except ValueError as e:
            parser.error(str(e))
    elif not os.path.isdir(args.data):
        parser.error(f"--data {args.data}: no such folder")
    quiet.start(args.verbose)
    quiet.load_tensorflow()
    from keras_preact.data.labelled_images import top_k_counts

    model, transform, info = load_model(parser, args)
    try:
        stream, count, classes, paths, labels = _labelled_images(args, tfds_spec, info)
        correct1, correct5, seen = top_k_counts(
            model, stream, transform, count, args.batch_size, info.classes, paths, not args.quiet
        )
    except (ValueError, OSError) as e:
        parser.error(str(e).splitlines()[0] if str(e) else type(e).__name__)
    if seen == 0:
        parser.error(f"--data {args.data}: no images")
    results = {
        "top1": correct1 / seen,
        "top5": correct5 / seen,
        "images": seen,
        "model": args.model,
        "weights": args.weights,
        "preprocessing": info.preprocessing,
        "size": args.size or info.input_shape[0],
        "data": args.data if tfds_spec else os.path.abspath(args.data),
        "classes": classes,
        "labels": labels,
    }
    if args.output:
        from keras_preact.utils.files import atomic_write_text

        atomic_write_text(json.dumps(results, indent=2) + "\n", args.output)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
