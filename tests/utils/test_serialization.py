"""Saved models of the standard variants load with Keras alone, in a process that cannot
import keras_preact, and give the original outputs; the package's own models keep the
fused BatchNormalization. Ablation layers without a Keras equivalent need the package."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_preact import build_resnet
from keras_preact.export import export_saved_model
from keras_preact.models import batch_norm

# Standard models: v1 and v2, CIFAR and ImageNet stems, with and without the classifier,
# one taking raw images (include_preprocessing=True).
STANDARD = {
    "v2_cifar_raw_input": dict(
        depth=8, family="cifar", version=2, classes=10, include_preprocessing=True, dataset="cifar10"
    ),
    "v1_cifar": dict(depth=8, family="cifar", version=1, classes=10),
    "v2_imagenet_features": dict(depth=18, version=2, input_shape=(64, 64, 3), include_top=False, pooling="avg"),
}

# Runs with keras_preact unimportable: each model from its .keras file and its SavedModel.
LOADER = """
import json, sys
sys.modules["keras_preact"] = None  # any import of the package fails
import keras, numpy as np, tensorflow as tf
root, names = sys.argv[1], json.loads(sys.argv[2])
report = {}
for name in names:
    x = np.load(f"{root}/{name}.npy")
    model = keras.saving.load_model(f"{root}/{name}.keras")
    served = tf.saved_model.load(f"{root}/export/{name}/1").signatures["serving_default"](images=tf.constant(x))
    np.save(f"{root}/{name}.keras.npy", np.asarray(model(x, training=False)))
    np.save(f"{root}/{name}.served.npy", next(iter(served.values())).numpy() if len(served) == 1 else
            served.get("probabilities", served.get("features")).numpy())
    report[name] = sorted({type(l).__module__.split(".")[0] for l in model.layers})
try:
    keras.saving.load_model(f"{root}/gated.keras")
    report["gated"] = "loaded"
except Exception as e:
    report["gated"] = str(e)
print(json.dumps(report))
"""


@pytest.mark.slow
def test_saved_standard_models_load_and_run_with_keras_alone(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    originals = {}
    for name, kwargs in STANDARD.items():
        model = build_resnet(**kwargs)
        bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
        assert bns and all(type(l) is batch_norm.BatchNormalization for l in bns)  # the fused layer here
        inputs = x if kwargs.get("family") == "cifar" else np.resize(x, (2, 64, 64, 3))
        np.save(tmp_path / f"{name}.npy", inputs)
        model.save(tmp_path / f"{name}.keras")
        export_saved_model(model, tmp_path / "export", model_name=name, version=1)
        originals[name] = np.asarray(model(inputs, training=False))
        config = json.loads(json.dumps(keras.saving.serialize_keras_object(bns[0])))
        assert (config["module"], config["class_name"], config["registered_name"]) == (
            "keras.layers", "BatchNormalization", None
        )  # fmt: skip
    build_resnet(8, family="cifar", shortcut="exclusive_gating").save(tmp_path / "gated.keras")

    done = subprocess.run(
        [sys.executable, "-c", LOADER, str(tmp_path), json.dumps(list(STANDARD))],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": "", "TF_CPP_MIN_LOG_LEVEL": "2"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    for name in STANDARD:
        assert report[name] == ["keras"]  # every layer is Keras' own
        np.testing.assert_allclose(np.load(tmp_path / f"{name}.keras.npy"), originals[name], atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(np.load(tmp_path / f"{name}.served.npy"), originals[name], atol=1e-5, rtol=1e-5)
    # An ablation layer (here the exclusive gate) has no Keras equivalent: the file needs the package.
    assert "GatedAdd" in report["gated"]


def test_loading_the_keras_name_gives_keras_own_layer():
    layer = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(batch_norm.BatchNormalization(name="bn"))
    )
    assert type(layer) is keras.layers.BatchNormalization and layer.name == "bn"
