"""Labelled images to score a classifier on: an ImageFolder (one subfolder of JPEG/PNG
files per class, torchvision's layout) or a tensorflow-datasets dataset already on disk,
as `tf.data` streams of (uint8 image, label), and the top-1/top-5 counts of a model
over them. `keras-preact-evaluate` runs these.

Every size is checked before it is used: a folder's files are listed by name (images
are decoded one at a time in the stream), a tfds dataset by its recorded split sizes.
"""

import os
import sys

import numpy as np
import tensorflow as tf

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


def decode_image(path, channels):
    """A uint8 (H, W, channels) image tensor of a JPEG/PNG file (tf.data-safe)."""
    return tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)


def image_folder(data):
    """(paths, label of each path, class folder names) of an ImageFolder: the class
    subfolders sorted by name give the labels (torchvision's `ImageFolder`).

    Raises:
        ValueError: a missing folder, one without class subfolders or without images.
    """
    if not os.path.isdir(data):
        raise ValueError(f"--data {data}: no such folder")
    classes = sorted(d.name for d in os.scandir(data) if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise ValueError(f"--data {data}: no class subfolders (expected one subfolder of JPEG/PNG images per class)")
    paths, labels = [], []
    for label, name in enumerate(classes):
        for root, dirs, files in os.walk(os.path.join(data, name), followlinks=True):
            dirs.sort()
            found = [os.path.join(root, f) for f in sorted(files) if f.lower().endswith(IMAGE_EXTENSIONS)]
            paths += found
            labels += [label] * len(found)
    if not paths:
        raise ValueError(f"--data {data}: no {'/'.join(IMAGE_EXTENSIONS)} files in its class subfolders")
    return paths, labels, classes


def _decodes(path):
    try:
        decode_image(path, 3)
    except tf.errors.InvalidArgumentError:
        return False
    return True


def folder_labels(classes, model_classes, wordnet_ids):
    """The model's label of each class folder and how it was found: "wordnet" (every
    folder an ImageNet WordNet id, e.g. n01440764, and a model of len(wordnet_ids)
    classes) or "sorted" (the folders' order).

    Raises:
        ValueError: more class folders than the model has classes.
    """
    index = {wnid: i for i, wnid in enumerate(wordnet_ids)}
    if model_classes == len(index) and all(c in index for c in classes):
        return [index[c] for c in classes], "wordnet"
    if len(classes) > model_classes:
        raise ValueError(f"the folder has {len(classes)} class subfolders; the model has {model_classes} classes")
    return list(range(len(classes))), "sorted"


def folder_stream(paths, labels, channels):
    """(image, label) pairs of an image folder, decoded with `channels` channels."""
    dataset = tf.data.Dataset.from_tensor_slices((paths, labels))
    return dataset.map(lambda path, label: (decode_image(path, channels), label), num_parallel_calls=tf.data.AUTOTUNE)


def tfds_stream(name, split, data_dir, channels):
    """(image, label) pairs of the tfds dataset `name` already prepared in `data_dir`
    (None: tfds's default), its image count and its class count. The labels are the
    dataset's own (for imagenet2012, cifar10/100 and fashion_mnist, the weights' order).
    `split` None takes "validation", else "test". Nothing is downloaded.

    Raises:
        ValueError: an unknown or unprepared dataset or split, or one without an image
            and a class label.
    """
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as e:  # DatasetNotFoundError lists the whole catalogue: name it only
        raise ValueError(
            f"--data tfds:{name}: tensorflow-datasets has no such dataset, registered or in {_where(data_dir)}"
        ) from e
    if not builder.is_prepared():
        raise ValueError(
            f"--data tfds:{name}: not prepared in {_where(data_dir)} (this command downloads nothing: "
            f"prepare it first, e.g. tfds build {name} --data_dir DIR, and pass --tfds-data-dir DIR)"
        )
    splits = builder.info.splits
    if split is None:
        split = next((s for s in ("validation", "test") if s in splits), None)
        if split is None:
            raise ValueError(f"--data tfds:{name}: choose a split with tfds:{name}:SPLIT, one of {sorted(splits)}")
    elif split not in splits:
        raise ValueError(f"--data tfds:{name}:{split}: no split {split!r}; one of {sorted(splits)}")
    image_key, label_key = builder.info.supervised_keys or ("image", "label")
    features = builder.info.features
    if not (isinstance(features[image_key], tfds.features.Image) and hasattr(features[label_key], "num_classes")):
        raise ValueError(f"--data tfds:{name}: its {image_key!r} and {label_key!r} are not an image and a class label")
    dataset = builder.as_dataset(split=split, shuffle_files=False)
    return (
        dataset.map(lambda ex: (_with_channels(ex[image_key], channels), ex[label_key])),
        splits[split].num_examples,
        features[label_key].num_classes,
    )


def _where(data_dir):
    return f"--tfds-data-dir {data_dir}" if data_dir else "tfds's data folder (TFDS_DATA_DIR or ~/tensorflow_datasets)"


def _with_channels(image, channels):
    """A uint8 image with `channels` channels: grey repeated into RGB, or RGB made grey."""
    if image.shape[-1] == channels:
        return image
    if channels == 3:
        return tf.image.grayscale_to_rgb(image)
    return tf.cast(tf.round(tf.image.rgb_to_grayscale(tf.cast(image, tf.float32))), tf.uint8)


def top_k_counts(model, stream, transform, total, batch_size, classes, paths=None, progress=True):
    """Top-1 and top-5 correct counts of `model` over `stream`'s (image, label) pairs,
    each image through `transform` (its evaluation transform).

    Raises:
        ValueError: an image that cannot be decoded (the file, when `paths` lists the
            stream's files; else the batch it is in).
    """
    batches = stream.map(lambda image, label: (transform(image), label), num_parallel_calls=tf.data.AUTOTUNE)
    batches = batches.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    top = min(5, classes)
    correct1 = correct5 = seen = 0
    iterator = iter(batches)
    while True:
        try:
            images, labels = next(iterator)
        except StopIteration:
            break
        except tf.errors.InvalidArgumentError:
            batch = paths[seen : seen + batch_size] if paths else []
            bad = next((p for p in batch if not _decodes(p)), None)
            where = bad or f"images {seen + 1} to {seen + batch_size}"
            raise ValueError(f"{where}: could not be decoded as a JPEG or PNG image") from None
        scores = np.asarray(model.predict_on_batch(images), np.float64)
        ranked = np.argsort(-scores, axis=1, kind="stable")[:, :top]
        labels = labels.numpy()
        correct1 += int((ranked[:, 0] == labels).sum())
        correct5 += int((ranked == labels[:, None]).any(axis=1).sum())
        seen += len(labels)
        if progress:
            line = f"\r{seen}/{total} images, top-1 {correct1 / seen:.2%}, top-5 {correct5 / seen:.2%}"
            print(line, end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    return correct1, correct5, seen
