"""`keras-preact-predict`: Fashion-MNIST test images written as PNG files are named as
the model classifies their arrays; `--json` parses; a missing or non-image file is
refused in one line naming it."""

import json

import numpy as np
import pytest

from keras_preact.commands import predict
from keras_preact.utils import quiet

from tests.helpers.fashion_mnist_folder import write_image_folder
from tests.helpers.marks import needs_fashion_mnist

REGISTERED = ["--model", "PreActResNet20", "--weights", "fashion_mnist"]


def run(argv):
    """`main(argv)` with the quiet start-up's process-wide switch restored afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(quiet, "_enabled", quiet._enabled)
        return predict.main(argv)


@pytest.fixture(scope="module")
def classified(tmp_path_factory):
    """Paths of test images the model classifies correctly, and its top-3 class names."""
    import keras_preact

    paths, images, labels = write_image_folder(str(tmp_path_factory.mktemp("fashion_mnist_few")), count=40)
    model = keras_preact.PreActResNet20(weights="fashion_mnist")
    scores = model.predict(keras_preact.eval_transform("PreActResNet20", "fashion_mnist")(images), verbose=0)
    right = [i for i in np.flatnonzero(scores.argmax(axis=1) == labels) if labels[i] in (0, 5, 9, 3)][:4]
    decoded = keras_preact.decode_predictions(scores[right], top=3, dataset="fashion_mnist")
    return [paths[i] for i in right], [[name for _, name, _ in top] for top in decoded]


@needs_fashion_mnist
def test_the_printed_classes_are_the_models_own(classified, capsys):
    paths, names = classified
    assert len(paths) == 4
    assert run([*paths, *REGISTERED, "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if not line.startswith(" ")] == paths
    printed = [line.split("  ", 2)[2].rsplit(" (", 1)[0] for line in lines if line.startswith(" ")]
    assert printed == [name for top in names for name in top]


@needs_fashion_mnist
def test_json_parses(classified, capsys):
    paths, names = classified
    assert run([*paths, *REGISTERED, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["image"] for row in rows] == paths
    assert [[p["class_name"] for p in row["top"]][:3] for row in rows] == names
    assert all(len(row["top"]) == 5 and row["top"][0]["score"] >= row["top"][1]["score"] for row in rows)


def _refusal(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        run(argv)
    error = capsys.readouterr().err.strip().splitlines()
    assert stopped.value.code == 2 and error[0].startswith("usage:") and "Traceback" not in error, error
    assert error[-1].startswith("keras-preact-predict: error: "), error
    return error[-1]


def test_a_missing_or_non_image_file_is_refused_naming_it(tmp_path, capsys):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    assert f"{tmp_path / 'gone.jpg'}: no such file" in _refusal([str(tmp_path / "gone.jpg"), *REGISTERED], capsys)
    assert f"{text}: not a JPEG or PNG image" in _refusal([str(text), *REGISTERED], capsys)
    assert "--weights is required" in _refusal([str(text), "--model", "PreActResNet20"], capsys)


@needs_fashion_mnist
def test_a_damaged_image_is_refused_naming_it(classified, tmp_path, capsys):
    damaged = tmp_path / "cut.png"
    damaged.write_bytes(open(classified[0][0], "rb").read()[:30])
    assert f"{damaged}: could not be decoded" in _refusal([str(damaged), *REGISTERED], capsys)
