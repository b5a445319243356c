"""The model modules use only `keras`: the same builders run on the JAX backend."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import keras_preact

pytest.importorskip("jax", reason="the test extra installs jax (CPU)")

VARIANTS = {
    "v2": {},
    "v1_gated_option_a": {"version": 1, "shortcut": "exclusive_gating", "downsample_shortcut": "zero_pad"},
    "v2_bottleneck_scaled": {
        "depth": 11,
        "shortcut": "constant_scaling",
        "shortcut_options": {"scale": 0.5, "scale_residual": True},
    },
}

JAX_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import keras
    import keras_preact
    args = json.loads(sys.argv[1])
    results = {"backend": keras.backend.backend()}
    for name, kwargs in args["variants"].items():
        kwargs = {"depth": 8, "family": "cifar", "input_shape": (8, 8, 3), **kwargs}
        model = keras_preact.build_resnet(**kwargs, weights=args["dir"] + f"/{name}.weights.h5")
        x = np.load(args["dir"] + "/x.npy")
        results[name] = np.asarray(model(x, training=False)).tolist()
    results["tensorflow_imported"] = "tensorflow" in sys.modules
    print(json.dumps(results))
""")


@pytest.mark.slow
def test_builders_run_on_jax_with_weights_from_tensorflow(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    expected = {}
    for name, kwargs in VARIANTS.items():
        kwargs = {"depth": 8, "family": "cifar", "input_shape": (8, 8, 3), **kwargs}
        model = keras_preact.build_resnet(**kwargs)
        model.save_weights(tmp_path / f"{name}.weights.h5")
        expected[name] = model(x, training=False).numpy()
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT, json.dumps({"dir": str(tmp_path), "variants": VARIANTS})],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout.strip().splitlines()[-1])
    assert results["backend"] == "jax"
    assert results["tensorflow_imported"] is False
    for name in VARIANTS:
        np.testing.assert_allclose(results[name], expected[name], rtol=1e-4, atol=1e-5)
