"""Input-pipeline throughput against what a training step consumes, in one run.

Measures images/s of the training pipelines (`keras_preact.pipelines`) with
    * CIFAR-style augmentation on 50,000 in-memory 32x32 images (batch 128), and
    * ImageNet-style scale augmentation decoding 500x375 JPEGs from a class folder
      (batch 32), and with the Inception-style crop,
then the images/s a PreActResNet-164 training step (SGD, batch 128, 32x32, the
trainer's loss) consumes on this machine, and prints each pipeline / model ratio.
Goal: pipeline >= 5x the model.

    python benchmarks/input_pipeline.py [--model PreActResNet164] [--steps 3]
"""

import argparse
import os
import tempfile
import time

import numpy as np


def pipeline_rate(dataset, batches, batch_size):
    iterator = iter(dataset)
    next(iterator)  # start-up: tracing the map functions, filling buffers
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - start)


def write_jpeg_folder(root, count=256, size=(375, 500), classes=4):
    from PIL import Image

    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    for i in range(count):
        folder = os.path.join(root, f"class{i % classes}")
        os.makedirs(folder, exist_ok=True)
        image = np.roll(base, i * 7, axis=1)  # photo-sized, distinct, cheap to make
        Image.fromarray(image).save(os.path.join(folder, f"{i}.jpg"), quality=90)


def model_rate(model_name, batch, steps):
    from common import fixed_batch_step, random_batch

    import keras_preact

    model = keras_preact.get_model(model_name, input_shape=(32, 32, 3), classes=10, classifier_activation=None)
    step = fixed_batch_step(model, random_batch(batch))
    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="PreActResNet164")
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    from keras_preact.data import augmentation, pipelines, sources

    rates = {}
    source = sources.load_source("synthetic_cifar", synthetic_size=50_000)
    cifar = pipelines.make_dataset(source, "synthetic_cifar", training=True, batch_size=128)
    rates["cifar_style"] = pipeline_rate(cifar, 200, 128)
    with tempfile.TemporaryDirectory() as root:
        write_jpeg_folder(root)
        folder = sources.load_source("imagenet", "train", root)
        for augment in augmentation.IMAGENET_AUGMENTS:
            dataset = pipelines.make_dataset(folder, "imagenet", training=True, batch_size=32, imagenet_augment=augment)
            rates[f"imagenet_{augment}"] = pipeline_rate(dataset, 24, 32)
    consumed = model_rate(args.model, 128, args.steps)
    print(f"{args.model} training step consumes {consumed:8.1f} images/s (batch 128, 32x32)")
    for name, rate in rates.items():
        print(f"pipeline {name:18s} {rate:8.1f} images/s = {rate / consumed:6.1f}x the model (goal >= 5x)")


if __name__ == "__main__":
    main()
