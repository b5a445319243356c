"""The README's demo: train a small PreAct ResNet on Fashion-MNIST, evaluate, export.

    python -m keras_preact.demo --workdir runs/demo [--epochs 1] [--train-images 12000]

Trains `PreActResNet20` (28x28x1 input, 10 classes) with SGD momentum on a subset of
the real training set, evaluates on all 10,000 test images, and writes the model
(`model.keras`), its weights (`model.weights.h5`), a TF Serving SavedModel
(`serving/preactresnet20_demo/1/`), a float32 TFLite file (`model_float32.tflite`, checked
against Keras on the test images) and `results.json` to the workdir.
"""

import argparse
import json
import os
import time

import keras
import numpy as np

import keras_preact
from keras_preact import export
from keras_preact.datasets import FASHION_MNIST_DIR, load_fashion_mnist


def run(workdir, data_dir=FASHION_MNIST_DIR, epochs=1, train_images=12000, batch_size=128, seed=0):
    keras.utils.set_random_seed(seed)
    x_train, y_train = load_fashion_mnist("train", data_dir)
    x_test, y_test = load_fashion_mnist("test", data_dir)
    order = np.random.default_rng(seed).permutation(len(x_train))[:train_images]
    x_train, y_train = x_train[order], y_train[order]
    prep = lambda x: keras_preact.preprocess_input(x, "fashion_mnist")  # noqa: E731

    model = keras_preact.PreActResNet20(input_shape=(28, 28, 1), classes=10)
    steps = epochs * (len(x_train) // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(0.1, steps)
    model.compile(
        optimizer=keras.optimizers.SGD(schedule, momentum=0.9, nesterov=False),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    model.fit(prep(x_train), y_train, batch_size=batch_size, epochs=epochs, verbose=2)
    train_s = time.perf_counter() - start
    loss, accuracy = model.evaluate(prep(x_test), y_test, batch_size=500, verbose=0)

    os.makedirs(workdir, exist_ok=True)
    model.save(os.path.join(workdir, "model.keras"))
    model.save_weights(os.path.join(workdir, "model.weights.h5"))
    serving = export.export_saved_model(
        model, os.path.join(workdir, "serving"), "preactresnet20_demo", 1, "fashion_mnist", overwrite=True
    )
    tflite = os.path.join(workdir, "model_float32.tflite")
    export.export_tflite(model, tflite, "float32", dataset="fashion_mnist")
    test_images = np.asarray(prep(x_test[:1000]))
    tflite_parity = export.parity(export.keras_logits(model, test_images), export.run_tflite(tflite, test_images))
    results = {
        "model": "PreActResNet20",
        "train_images": len(x_train),
        "epochs": epochs,
        "test_images": len(x_test),
        "test_accuracy": accuracy,
        "test_loss": loss,
        "train_seconds": round(train_s, 1),
        "images_per_second": round(epochs * len(x_train) / train_s, 1),
        "saved_model": serving,
        "tflite": tflite,
        "tflite_parity_on_1000_test_images": tflite_parity,
    }
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="runs/demo")
    parser.add_argument("--data-dir", default=FASHION_MNIST_DIR)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train-images", type=int, default=12000)
    args = parser.parse_args(argv)
    results = run(args.workdir, args.data_dir, args.epochs, args.train_images)
    print(json.dumps(results, indent=2))
    print(f"Wrote model.keras, model.weights.h5, serving/, model_float32.tflite and results.json to {args.workdir}")


if __name__ == "__main__":
    main()
