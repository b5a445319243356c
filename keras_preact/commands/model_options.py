"""The arguments `keras-preact-predict` and `keras-preact-evaluate` share: a model, its
weights, their statistics and the input size, checked without importing Keras."""

import argparse
import os

from keras_preact.utils import quiet

# The keys of models.preprocessing.DATASET_STATS, and none: named here, so that the
# arguments are checked without importing Keras (`keras_preact.models` loads it).
PREPROCESSINGS = ("imagenet", "cifar10", "cifar100", "fashion_mnist", "imagenet_inception", "cifar_pytorchcv", "none")


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


def load_model(parser, args):
    """(model, transform, WeightsInfo) of checked arguments (`inference_model`); a
    model or file that does not fit ends the command with one line (exit 2)."""
    from keras_preact.models.inference import inference_model

    try:
        return inference_model(args.model, args.weights, args.preprocessing, args.size, args.classes)
    except (ValueError, OSError) as e:
        parser.error(str(e).splitlines()[0] if str(e) else type(e).__name__)
