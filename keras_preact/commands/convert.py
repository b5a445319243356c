"""The `keras-preact-convert` command: a released checkpoint a user already has, as a
Keras model (`.keras`) or weights file (`.weights.h5`); `--list` prints the registered
weights with their source, license and published accuracy.

    keras-preact-convert --source torchvision --checkpoint resnet50-0676ba61.pth \\
        --model ResNet50 --output resnet50.weights.h5

Bad arguments and damaged, hostile or unfitting checkpoints exit with status 2 and one
error line, no traceback (as argparse does); an output that cannot be written (a full
or read-only disk) exits with status 4, leaving no file behind.
"""

import argparse
import sys

from keras_preact.weights.publishers import ALIASES, PUBLISHERS
from keras_preact.weights.shipped import shipped_weights

EXIT_STORAGE = 4  # as keras-preact-train: the output cannot be written


def _catalogue():
    """(model, weights, source, license, accuracy) of every weight `import keras_preact`
    registers, read from the shipped index and the publishers' records (no Keras)."""
    rows = [
        (e["model"], e["name"], "keras_preact", e.get("license", ""), f"test accuracy {e['test_accuracy']:.2%} (ours)")
        for e in shipped_weights()
    ]
    rows += [
        (e["model"], e["name"], e["source"], e.get("license") or "", e.get("published_accuracy") or "")
        for publisher in PUBLISHERS.values()
        for e in publisher.releases
    ]
    return sorted(rows)


def weights_table():
    """The registered weights as text rows: model, name, source, license, accuracy."""
    rows = [("model", "weights", "source", "license", "published accuracy (theirs)"), *_catalogue()]
    widths = [max(len(row[c]) for row in rows) for c in range(4)]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row[:4], widths)) + "  " + row[4] for row in rows)


def run(argv=None):
    """Parses `argv` and converts; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="keras-preact-convert",
        description="Convert a released ResNet checkpoint (torchvision, timm, pytorchcv, fb.resnet.torch) into a "
        "keras_preact model. Nothing from the checkpoint is run.",
    )
    parser.add_argument("--list", action="store_true", help="print the registered weights and exit")
    parser.add_argument(
        "--source",
        type=lambda name: ALIASES.get(name, name),
        choices=tuple(PUBLISHERS),
        help="who published the checkpoint: " + "; ".join(f"{p.name}: {p.files}" for p in PUBLISHERS.values()),
    )
    parser.add_argument("--checkpoint", metavar="FILE", help="the publisher's file (see --source)")
    parser.add_argument("--model", help="the keras_preact model name, e.g. ResNet50, PreActResNet200")
    parser.add_argument("--output", metavar="OUT", help="ending in .keras (the model) or .weights.h5 (its weights)")
    parser.add_argument(
        "--classifier-activation",
        default="softmax",
        choices=("softmax", "none"),
        help="of the .keras model (default softmax, as the builders; none: logits, as the source models)",
    )
    args = parser.parse_args(argv)
    if args.list:
        print(weights_table())
        return 0
    missing = [f"--{k}" for k in ("source", "checkpoint", "model", "output") if getattr(args, k) is None]
    if missing:
        parser.error(f"the following arguments are required: {', '.join(missing)}")
    activation = None if args.classifier_activation == "none" else args.classifier_activation
    from keras_preact.weights.convert import OutputError, builder_call, convert_checkpoint  # Keras: after parsing

    try:
        _, options = convert_checkpoint(args.source, args.checkpoint, args.model, args.output, activation)
    except OutputError as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return EXIT_STORAGE
    except (ValueError, OSError) as e:
        parser.error(str(e))
    except (MemoryError, RecursionError) as e:  # a bound the readers missed: still one line
        parser.error(f"{args.checkpoint}: could not be converted ({type(e).__name__}); it is damaged or hostile.")
    print(f"Wrote {args.output} ({args.source} checkpoint {args.checkpoint}).")
    if args.output.endswith(".weights.h5"):
        print(f"Build the model with: {builder_call(args.model, args.output, options, activation)}")
    return 0


def main(argv=None):
    """The `keras-preact-convert` command; returns the exit status."""
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
