"""The `keras-preact-predict` command: the top classes of image files.

    keras-preact-predict cat.jpg dog.png --model ResNet50 --weights imagenet [--top 5] [--json]

Each JPEG/PNG file goes through the publisher's evaluation transform
(`keras_preact.eval_transform`) and the model; the top classes are named by
`keras_preact.decode_predictions` (the WordNet id and Keras' name for ImageNet, the
label and its name for CIFAR and Fashion-MNIST). `--json` prints one JSON list, an
object per file. The model arguments are those of `keras-preact-evaluate`: a weights
file or a `.keras` model needs `--preprocessing`.

Exit status: 0 when every file is classified; 2 for bad arguments, a missing file or
one that is not a JPEG/PNG image (one line naming it).
"""

import argparse
import json
import os
import sys

from keras_preact.commands.model_options import add_model_arguments, check_model_arguments, load_model, positive_int
from keras_preact.utils import quiet

SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")  # PNG, JPEG


def check_images(parser, paths):
    """One-line errors (exit 2) for a missing file or one that is not JPEG/PNG."""
    for path in paths:
        if not os.path.isfile(path):
            parser.error(f"{path}: no such file")
        with open(path, "rb") as f:
            head = f.read(8)
        if not head.startswith(SIGNATURES):
            parser.error(f"{path}: not a JPEG or PNG image")


def predict(model, transform, info, paths, top):
    """[(path, [(class_id, class_name, score), ...]), ...] for each file."""
    import numpy as np
    import tensorflow as tf

    from keras_preact.data.labelled_images import decode_image
    from keras_preact.models.decoding import decode_predictions
    from keras_preact.models.inference import decoding_dataset

    inputs = []
    for path in paths:
        try:
            inputs.append(transform(decode_image(path, info.input_shape[2])))
        except tf.errors.InvalidArgumentError:
            raise ValueError(f"{path}: could not be decoded as a JPEG or PNG image") from None
    scores = np.asarray(model.predict_on_batch(tf.stack(inputs)))
    dataset = decoding_dataset(info)
    if dataset is None:  # no names: the class index
        order = np.argsort(-scores.astype("float64"), axis=1, kind="stable")[:, :top]
        decoded = [[(int(i), f"class {i}", float(row[i])) for i in indices] for row, indices in zip(scores, order)]
    else:
        decoded = decode_predictions(scores, top=top, dataset=dataset)
    return list(zip(paths, decoded))


def main(argv=None):
    """The `keras-preact-predict` command; returns the exit status."""
    parser = argparse.ArgumentParser(prog="keras-preact-predict", description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="JPEG or PNG files")
    add_model_arguments(parser)
    parser.add_argument("--top", type=positive_int, default=5, help="classes to print per image (default 5)")
    parser.add_argument("--json", action="store_true", help="print one JSON list, an object per image")
    args = parser.parse_args(argv)
    check_model_arguments(parser, args)
    check_images(parser, args.images)
    quiet.start(args.verbose)
    quiet.load_tensorflow()
    model, transform, info = load_model(parser, args)
    try:
        if args.top > info.classes:
            raise ValueError(f"--top {args.top}: the model has {info.classes} classes")
        results = predict(model, transform, info, args.images, args.top)
    except (ValueError, OSError) as e:
        parser.error(str(e).splitlines()[0] if str(e) else type(e).__name__)
    if args.json:
        rows = [
            {"image": path, "top": [{"class_id": c, "class_name": n, "score": s} for c, n, s in top]}
            for path, top in results
        ]
        print(json.dumps(rows, indent=2))
        return 0
    for path, top in results:
        print(path)
        for class_id, name, score in top:
            print(f"  {score:.4f}  {name} ({class_id})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
