"""The `keras-preact-evaluate` command: top-1 and top-5 accuracy of a model over a
folder of images, one subfolder per class (torchvision's ImageFolder layout).

    keras-preact-evaluate --model ResNet50 --weights imagenet --data ILSVRC2012/val --output results.json

Classes are the subfolders sorted by name (label 0 first), as torchvision's
ImageFolder; for 1000-class weights whose folders are all ImageNet WordNet ids
("n01440764"), each folder takes its id's label instead (`class_names/imagenet.txt`).
Images (JPEG/PNG, read by `tf.io.decode_image` with the weights' channels) go through
the publisher's evaluation transform (`keras_preact.eval_transform`) in a tf.data
pipeline.

The model is a registered name with registered weights (their transform), a name
with a `.weights.h5` file, or a `.keras` file; the last two need `--preprocessing`
(the statistics: imagenet, cifar10, ... or none for a model that normalises its
[0, 255] inputs itself). For those, ImageNet statistics mean torchvision's transform
(resize the shorter side to size / 0.875, bilinear, center crop), the others a resize
of the shorter side to the input size and a center crop.

Exit status: 0 when evaluated; 2 for bad arguments, images or models (one line).
"""

import argparse
import json
import math
import os
import sys

from keras_preact.utils import quiet

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
# The keys of keras_preact.models.preprocessing.DATASET_STATS (which imports Keras), and none.
PREPROCESSINGS = ("imagenet", "cifar10", "cifar100", "fashion_mnist", "imagenet_inception", "cifar_pytorchcv", "none")
DEFAULT_SIZES = {"fashion_mnist": 28, "cifar10": 32, "cifar100": 32, "cifar_pytorchcv": 32}  # others: 224
DEFAULT_CLASSES = {"cifar100": 100, "cifar10": 10, "fashion_mnist": 10, "cifar_pytorchcv": 10}  # others: 1000


def positive_int(text):
    """argparse type of --size, --batch-size, --classes, --top: an int >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"Received: {text!r}; expected an integer >= 1.")
    return value


def add_model_arguments(parser):
    """The arguments that name a model, its weights and its preprocessing."""
    parser.add_argument("--model", required=True, help="a model name (e.g. ResNet50), or a .keras file")
    parser.add_argument("--weights", help="registered weights of --model (e.g. imagenet), or a .weights.h5 file")
    parser.add_argument(
        "--preprocessing",
        choices=PREPROCESSINGS,
        metavar="DATASET",
        help="the statistics a .weights.h5 or .keras model takes (registered weights carry theirs): "
        f"{', '.join(PREPROCESSINGS)}; none: the model normalises [0, 255] inputs itself",
    )
    parser.add_argument("--size", type=positive_int, help="the side of the square input (default: the weights')")
    parser.add_argument(
        "--classes",
        type=positive_int,
        help="classifier outputs of a .weights.h5 file (default: the preprocessing dataset's)",
    )
    parser.add_argument(
        "--verbose", action="store_true", help=f"show TensorFlow's start-up notices too (or set {quiet.VERBOSE_ENV}=1)"
    )


def check_model_arguments(parser, args):
    """One-line errors (exit 2) for model arguments that need no TensorFlow to refuse."""
    if args.model.endswith(".keras"):
        if not os.path.isfile(args.model):
            parser.error(f"--model {args.model}: no such file")
        if args.weights is not None:
            parser.error("--weights is not used with a .keras model (its weights are in the file)")
    elif args.weights is None:
        parser.error("--weights is required with a model name (or pass a .keras file as --model)")
    elif args.weights.endswith(".weights.h5") and not os.path.isfile(args.weights):
        parser.error(f"--weights {args.weights}: no such file")
    registered = not args.model.endswith(".keras") and not args.weights.endswith(".weights.h5")
    if registered and args.preprocessing is not None:
        parser.error("--preprocessing is for .weights.h5 and .keras models; registered weights carry theirs")
    if not registered and args.preprocessing is None:
        parser.error(
            f"--preprocessing is required with {args.model if args.weights is None else args.weights} "
            f"(one of {', '.join(PREPROCESSINGS)})"
        )
    if args.preprocessing == "none" and args.weights is not None:
        parser.error("--preprocessing none is for a .keras model that normalises its inputs itself")
    if args.classes is not None and (registered or args.weights is None):
        parser.error("--classes is for .weights.h5 files only")


def load_model(args):
    """(Keras model, transform of uint8 images, its WeightsInfo) for checked arguments.

    Raises:
        ValueError: for an unknown model or weights, or a file that does not fit.
    """
    import keras

    import keras_preact
    from keras_preact.models.pretrained import WeightsInfo, get_weights_info
    from keras_preact.models.registry import model_arguments
    from keras_preact.models.transforms import transform_of

    if args.weights is not None and not args.weights.endswith(".weights.h5"):
        model_arguments(args.model)  # an unknown name: its message
        info = get_weights_info(args.model, args.weights)
        if info is None:
            known = keras_preact.list_weights(args.model)
            raise ValueError(f"--weights {args.weights}: not registered for {args.model} ({known or 'none are'})")
        shape = None if args.size is None else (args.size, args.size, info.input_shape[2])
        model = keras_preact.get_model(args.model, weights=args.weights, input_shape=shape)
        return model, transform_of(info, args.size), info
    preprocessing = args.preprocessing
    if args.weights is None:
        model = keras.saving.load_model(args.model)
        if None not in (model.input_shape[1], args.size) and model.input_shape[1] != args.size:
            raise ValueError(f"--size {args.size}: {args.model} takes inputs of size {model.input_shape[1]}")
        size = model.input_shape[1] or args.size or DEFAULT_SIZES.get(preprocessing, 224)
        channels, classes = model.input_shape[-1], model.output_shape[-1]
    else:
        size = args.size or DEFAULT_SIZES.get(preprocessing, 224)
        channels = 1 if preprocessing == "fashion_mnist" else 3
        classes = args.classes or DEFAULT_CLASSES.get(preprocessing, 1000)
        model = keras_preact.get_model(
            args.model, weights=args.weights, input_shape=(size, size, channels), classes=classes
        )
    imagenet = preprocessing.startswith("imagenet")
    info = WeightsInfo(
        args.model,
        os.path.basename(args.weights or args.model),
        url="",
        sha256=None,
        input_shape=(size, size, channels),
        classes=classes,
        preprocessing=preprocessing,
        resize_size=math.floor(size / 0.875) if imagenet else None,
        interpolation="bilinear" if imagenet else None,
        crop_pct=0.875 if imagenet else None,
    )
    return model, transform_of(info, None, normalize=preprocessing != "none"), info


def list_image_folder(parser, data):
    """(paths, class folder names) of an ImageFolder, refusing in one line a missing
    folder, one without class subfolders or without images."""
    if not os.path.isdir(data):
        parser.error(f"--data {data}: no such folder")
    classes = sorted(d.name for d in os.scandir(data) if d.is_dir() and not d.name.startswith("."))
    if not classes:
        parser.error(f"--data {data}: no class subfolders (expected one subfolder of JPEG/PNG images per class)")
    paths = []
    for label, name in enumerate(classes):
        for root, dirs, files in os.walk(os.path.join(data, name), followlinks=True):
            dirs.sort()
            paths += [(os.path.join(root, f), label) for f in sorted(files) if f.lower().endswith(IMAGE_EXTENSIONS)]
    if not paths:
        parser.error(f"--data {data}: no {'/'.join(IMAGE_EXTENSIONS)} files in its class subfolders")
    return paths, classes


def class_labels(classes, info):
    """The label of each class folder and how they were found: "wordnet" (1000-class
    weights, every folder an ImageNet WordNet id) or "sorted" (the folders' order)."""
    from keras_preact.models.decoding import class_names

    wnids = {wnid: i for i, (wnid, _) in enumerate(class_names("imagenet"))}
    if info.classes == len(wnids) and all(c in wnids for c in classes):
        return [wnids[c] for c in classes], "wordnet"
    if len(classes) > info.classes:
        raise ValueError(f"the folder has {len(classes)} class subfolders; the model has {info.classes} classes")
    return list(range(len(classes))), "sorted"


def decode_image(path, channels):
    """A uint8 (H, W, channels) image tensor of a JPEG/PNG file (tf.data-safe)."""
    import tensorflow as tf

    return tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)


def _decodes(path, channels):
    import tensorflow as tf

    try:
        decode_image(path, channels)
    except tf.errors.InvalidArgumentError:
        return False
    return True


def evaluate(model, transform, info, paths, labels, batch_size, progress=True):
    """Top-1 and top-5 correct counts over `paths` with `labels` (ints)."""
    import numpy as np
    import tensorflow as tf

    channels = info.input_shape[2]
    dataset = tf.data.Dataset.from_tensor_slices((paths, labels))
    dataset = dataset.map(
        lambda path, label: (transform(decode_image(path, channels)), label), num_parallel_calls=tf.data.AUTOTUNE
    )
    dataset = dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    top = min(5, info.classes)
    correct1 = correct5 = seen = 0
    iterator = iter(dataset)
    while True:
        try:
            images, batch_labels = next(iterator)
        except StopIteration:
            break
        except tf.errors.InvalidArgumentError:
            batch = paths[seen : seen + batch_size]
            bad = next((p for p in batch if not _decodes(p, channels)), f"one of {batch[0]} ... {batch[-1]}")
            raise ValueError(f"{bad}: could not be decoded as a JPEG or PNG image") from None
        scores = np.asarray(model.predict_on_batch(images), np.float64)
        ranked = np.argsort(-scores, axis=1, kind="stable")[:, :top]
        batch_labels = batch_labels.numpy()
        correct1 += int((ranked[:, 0] == batch_labels).sum())
        correct5 += int((ranked == batch_labels[:, None]).any(axis=1).sum())
        seen += len(batch_labels)
        if progress:
            print(
                f"\r{seen}/{len(paths)} images, top-1 {correct1 / seen:.2%}, top-5 {correct5 / seen:.2%}",
                end="",
                file=sys.stderr,
                flush=True,
            )
    if progress:
        print(file=sys.stderr)
    return correct1, correct5


def _parser():
    parser = argparse.ArgumentParser(
        prog="keras-preact-evaluate",
        description="Top-1 and top-5 accuracy of a model over a folder of images, one subfolder per class.",
    )
    add_model_arguments(parser)
    parser.add_argument("--data", required=True, metavar="DIR", help="one subfolder of JPEG/PNG images per class")
    parser.add_argument("--batch-size", type=positive_int, default=128)
    parser.add_argument("--output", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    return parser


def main(argv=None):
    """The `keras-preact-evaluate` command; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    check_model_arguments(parser, args)
    files, classes = list_image_folder(parser, args.data)
    quiet.start(args.verbose)
    quiet.load_tensorflow()
    try:
        model, transform, info = load_model(args)
        labels, mapping = class_labels(classes, info)
    except (ValueError, OSError) as e:
        parser.error(str(e).splitlines()[0] if str(e) else type(e).__name__)
    paths = [path for path, _ in files]
    try:
        correct1, correct5 = evaluate(
            model, transform, info, paths, [labels[i] for _, i in files], args.batch_size, not args.quiet
        )
    except ValueError as e:
        parser.error(str(e))
    results = {
        "top1": correct1 / len(paths),
        "top5": correct5 / len(paths),
        "images": len(paths),
        "model": args.model,
        "weights": args.weights,
        "preprocessing": info.preprocessing,
        "size": args.size or info.input_shape[0],
        "data": os.path.abspath(args.data),
        "class_folders": len(classes),
        "labels": mapping,
    }
    if args.output:
        from keras_preact.utils.files import atomic_write_text

        atomic_write_text(json.dumps(results, indent=2) + "\n", args.output)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
