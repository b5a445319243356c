"""SavedModel export for TF Serving: layout, signatures, parity, atomic versions."""

import io
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import keras_preact
from keras_preact.export import SIGNATURES, export_saved_model

SHAPE = (28, 28, 1)
VARIANTS = {
    "v2_basic": dict(depth=8, version=2),
    "v1_bottleneck": dict(depth=11, version=1),
    "gating_headless": dict(depth=8, version=2, shortcut="exclusive_gating", include_top=False, pooling="avg"),
}


def _raw_images(count, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count, *SHAPE), dtype=np.uint8)


@pytest.fixture(scope="module", params=list(VARIANTS))
def exported(request, tmp_path_factory):
    options = dict(VARIANTS[request.param])
    model = keras_preact.build_resnet(options.pop("depth"), family="cifar", input_shape=SHAPE, classes=10, **options)
    base = tmp_path_factory.mktemp("serving")
    path = export_saved_model(model, str(base), dataset="fashion_mnist")
    return model, base, path


@pytest.mark.parametrize("batch", [1, 7])
def test_signatures_match_the_keras_model(exported, batch):
    model, _, path = exported
    loaded = tf.saved_model.load(path)
    assert sorted(loaded.signatures) == sorted(SIGNATURES)
    raw = _raw_images(batch)
    x = keras_preact.preprocess_input(raw, "fashion_mnist")
    expected = model(x, training=False).numpy()
    default = {k: v.numpy() for k, v in loaded.signatures["serving_default"](images=tf.constant(x)).items()}
    if "features" in default:
        np.testing.assert_allclose(default["features"], expected, atol=1e-5, rtol=0)
    else:
        assert sorted(default) == ["logits", "probabilities"]
        np.testing.assert_allclose(default["probabilities"], expected, atol=1e-5, rtol=0)
        np.testing.assert_allclose(tf.nn.softmax(default["logits"]), expected, atol=1e-5, rtol=0)
    from_raw = loaded.signatures["serving_raw"](images=tf.constant(raw))
    encoded = []
    for image in raw:
        buffer = io.BytesIO()
        Image.fromarray(image[..., 0]).save(buffer, format="PNG")
        encoded.append(buffer.getvalue())
    from_bytes = loaded.signatures["serving_bytes"](image_bytes=tf.constant(encoded))
    for outputs in (from_raw, from_bytes):
        for name, value in outputs.items():
            np.testing.assert_allclose(value.numpy(), default[name], atol=1e-5, rtol=0)


def test_signature_dtypes_and_shapes(exported):
    _, _, path = exported
    loaded = tf.saved_model.load(path)
    specs = {name: loaded.signatures[name].structured_input_signature[1] for name in SIGNATURES}
    assert specs["serving_default"]["images"] == tf.TensorSpec((None, *SHAPE), tf.float32, "images")
    assert specs["serving_raw"]["images"] == tf.TensorSpec((None, None, None, 1), tf.uint8, "images")
    assert specs["serving_bytes"]["image_bytes"] == tf.TensorSpec((None,), tf.string, "image_bytes")


def test_versions_are_published_whole_and_never_overwritten_by_default(exported, tmp_path):
    model, base, path = exported
    model_dir = os.path.dirname(path)
    assert os.path.basename(path) == "1" and os.path.isfile(os.path.join(path, "saved_model.pb"))
    assert sorted(os.listdir(model_dir)) == ["1", "request_example.json"]  # no temporary left
    second = export_saved_model(model, str(base), dataset="fashion_mnist")
    assert os.path.basename(second) == "2"
    with pytest.raises(ValueError, match=r"Version 2 already exists .* overwrite=True"):
        export_saved_model(model, str(base), version=2, dataset="fashion_mnist")
    stamp = os.path.getmtime(os.path.join(second, "saved_model.pb"))
    assert export_saved_model(model, str(base), version=2, dataset="fashion_mnist", overwrite=True) == second
    assert os.path.getmtime(os.path.join(second, "saved_model.pb")) >= stamp
    assert sorted(os.listdir(model_dir)) == ["1", "2", "request_example.json"]
    (tmp_path / "file").write_text("")
    with pytest.raises(FileExistsError, match=r"export path that is a file: .*file"):
        export_saved_model(model, str(tmp_path / "file"))
    with pytest.raises(ValueError, match=r"version=0; expected a positive integer"):
        export_saved_model(model, str(tmp_path), version=0)
    with pytest.raises(ValueError, match=r"dataset='mnist'"):
        export_saved_model(model, str(tmp_path), dataset="mnist")


def test_saved_model_cli_shows_and_runs_the_export(exported, tmp_path, request):
    if request.node.callspec.params["exported"] != "v2_basic":
        pytest.skip("saved_model_cli (two subprocesses) is checked on one variant")
    model, _, path = exported
    cli = [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    shown = subprocess.run([*cli, "show", "--dir", path, "--all"], capture_output=True, text=True, env=env, timeout=120)
    assert shown.returncode == 0, shown.stderr[-2000:]
    for name in SIGNATURES:
        assert f"signature_def['{name}']" in shown.stdout
    assert "outputs['logits']" in shown.stdout and "outputs['probabilities']" in shown.stdout
    np.save(tmp_path / "x.npy", keras_preact.preprocess_input(_raw_images(2), "fashion_mnist"))
    run = [*cli, "run", "--dir", path, "--tag_set", "serve", "--signature_def", "serving_default"]
    ran = subprocess.run(
        [*run, "--inputs", f"images={tmp_path / 'x.npy'}", "--outdir", str(tmp_path / "out")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-2000:]
    saved = {f[:-4]: np.load(tmp_path / "out" / f) for f in os.listdir(tmp_path / "out")}
    expected = model(np.load(tmp_path / "x.npy"), training=False).numpy()
    np.testing.assert_allclose(saved["probabilities"], expected, atol=1e-5, rtol=0)
