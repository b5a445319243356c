"""`keras-preact-evaluate`: the shipped Fashion-MNIST weights score their recorded test
accuracy on the 10,000 test images written as PNG files into an ImageFolder, through the
same command a user runs; a weights file or a `.keras` file with `--preprocessing`
scores as the registered weights, and the same images as a tfds dataset on disk score
as the folder; bad arguments are refused in one line."""

import json
import os
import time

import pytest

from keras_preact.commands import evaluate, model_options
from keras_preact.utils import quiet

from tests.helpers import ROOT
from tests.helpers.fashion_mnist_folder import folder_names, write_image_folder, write_tfds_dataset
from tests.helpers.marks import needs_fashion_mnist

SHIPPED_FILE = os.path.join(ROOT, "keras_preact", "weights", "files", "preactresnet20_fashion_mnist.weights.h5")
REGISTERED = ["--model", "PreActResNet20", "--weights", "fashion_mnist"]


def run(argv):
    """`main(argv)` with the quiet start-up's process-wide switch restored afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(quiet, "_enabled", quiet._enabled)
        return evaluate.main([*argv, "--quiet"])


def recorded_accuracy():
    with open(os.path.join(os.path.dirname(SHIPPED_FILE), "weights.json"), encoding="utf-8") as f:
        return next(e for e in json.load(f)["weights"] if e["name"] == "fashion_mnist")["test_accuracy"]


@pytest.fixture(scope="module")
def test_split_folder(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("fashion_mnist_test"))
    start = time.perf_counter()
    write_image_folder(root)
    print(f"wrote 10,000 PNG files in {time.perf_counter() - start:.1f} s")
    return root


@needs_fashion_mnist
@pytest.mark.slow
@pytest.mark.xdist_group("fashion_mnist_folder")
def test_the_shipped_weights_score_their_recorded_accuracy(test_split_folder, tmp_path, capsys):
    output = str(tmp_path / "results.json")
    start = time.perf_counter()
    assert run([*REGISTERED, "--data", test_split_folder, "--output", output, "--batch-size", "256"]) == 0
    seconds, printed = time.perf_counter() - start, capsys.readouterr().out
    with open(output, encoding="utf-8") as f:
        results = json.load(f)
    assert results["top1"] == pytest.approx(recorded_accuracy(), abs=1e-4)
    assert 1.0 >= results["top5"] >= results["top1"]
    assert results["images"] == 10000 and results["classes"] == 10 and results["labels"] == "sorted"
    assert (results["model"], results["weights"]) == ("PreActResNet20", "fashion_mnist")
    assert json.loads(printed.splitlines()[-1]) == results
    print(f"evaluated 10,000 PNG files in {seconds:.1f} s: top-1 {results['top1']}, top-5 {results['top5']}")


@needs_fashion_mnist
def test_a_weights_file_or_a_keras_file_scores_as_the_registered_weights(tmp_path, capsys):
    import keras_preact

    data = str(tmp_path / "data")
    write_image_folder(data, count=300)
    keras_file = str(tmp_path / "model.keras")
    keras_preact.PreActResNet20(weights="fashion_mnist").save(keras_file)
    scored = []
    for model in (REGISTERED, ["--model", "PreActResNet20", "--weights", SHIPPED_FILE], ["--model", keras_file]):
        extra = [] if model is REGISTERED else ["--preprocessing", "fashion_mnist"]
        assert run([*model, *extra, "--data", data]) == 0
        result = json.loads(capsys.readouterr().out.splitlines()[-1])
        scored.append((result["top1"], result["top5"], result["images"]))
    assert scored[0] == scored[1] == scored[2] and scored[0][2] == 300 and scored[0][0] > 0.8


def _refusal(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        run(argv)
    error = capsys.readouterr().err.strip().splitlines()
    assert stopped.value.code == 2 and error[0].startswith("usage:"), error
    assert error[-1].startswith("keras-preact-evaluate: error: ") and "Traceback" not in error, error
    return error[-1]


@pytest.mark.parametrize(
    "argv, message",
    [
        ([*REGISTERED, "--data", "{tmp}/missing"], "missing: no such folder"),
        ([*REGISTERED, "--data", "{tmp}/bare"], "no class subfolders"),
        ([*REGISTERED, "--data", "{tmp}/empty"], "no .jpg/.jpeg/.png files"),
        (["--model", "PreActResNet20", "--data", "{tmp}/empty"], "--weights is required"),
        (["--model", "{tmp}/m.keras", "--data", "{tmp}/empty"], "m.keras: no such file"),
        (["--model", "PreActResNet20", "--weights", "{tmp}/w.weights.h5", "--data", "{tmp}/empty"], "no such file"),
        ([*REGISTERED, "--preprocessing", "imagenet", "--data", "{tmp}/empty"], "registered weights carry theirs"),
        ([*REGISTERED, "--size", "0", "--data", "{tmp}/empty"], "expected an integer >= 1"),
        (
            ["--model", "ResNet8", "--weights", SHIPPED_FILE, "--preprocessing", "none", "--data", "{tmp}/empty"],
            "--preprocessing none is for a .keras model",
        ),
    ],
    ids=[
        "missing folder",
        "no subfolders",
        "no images",
        "no weights",
        "no .keras",
        "no .h5",
        "preprocessing",
        "size",
        "none",
    ],
)
def test_bad_arguments_are_refused_in_one_line_before_tensorflow(argv, message, tmp_path, capsys):
    (tmp_path / "empty" / "a").mkdir(parents=True)  # a class subfolder without images
    (tmp_path / "bare").mkdir()
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert message in _refusal(argv, capsys)


@needs_fashion_mnist
@pytest.mark.parametrize(
    "model, message",
    [
        (["--model", "PreActResNet21", "--weights", "x"], "PreActResNet21"),
        (["--model", "PreActResNet20", "--weights", "imagenet"], "imagenet: not registered for PreActResNet20"),
        (REGISTERED, "11 class subfolders; the model has 10 classes"),
    ],
    ids=["unknown model", "unknown weights", "too many classes"],
)
def test_models_and_folders_that_do_not_fit_are_refused_in_one_line(model, message, tmp_path, capsys):
    data = str(tmp_path / "data")
    write_image_folder(data, count=20)
    os.makedirs(os.path.join(data, "99_extra"))
    assert message in _refusal([*model, "--data", data], capsys)


@needs_fashion_mnist
def test_a_file_that_is_not_an_image_is_named(tmp_path, capsys):
    data = str(tmp_path / "data")
    write_image_folder(data, count=20)
    damaged = os.path.join(data, folder_names()[3], "damaged.png")
    with open(damaged, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n not the rest of a PNG file")
    assert f"{damaged}: could not be decoded as a JPEG or PNG image" in _refusal([*REGISTERED, "--data", data], capsys)


def test_the_light_copies_match():
    from keras_preact.models.preprocessing import DATASET_STATS

    assert model_options.PREPROCESSINGS == (*DATASET_STATS, "none")
    assert sorted(folder_names()) == folder_names()


@needs_fashion_mnist
def test_a_tfds_dataset_on_disk_scores_as_the_same_images_in_a_folder(tmp_path, capsys):
    data_dir = tmp_path / "tensorflow_datasets"
    write_tfds_dataset(data_dir, count=300)
    write_image_folder(str(tmp_path / "folder"), count=300)
    scored = []
    for data in (
        ["--data", "tfds:fashion_mnist", "--tfds-data-dir", str(data_dir)],
        ["--data", str(tmp_path / "folder")],
    ):
        assert run([*REGISTERED, *data, "--batch-size", "64"]) == 0
        result = json.loads(capsys.readouterr().out.splitlines()[-1])
        scored.append((result["top1"], result["top5"], result["images"], result["classes"]))
    assert scored[0] == scored[1] and scored[0][2] == 300 and scored[0][0] > 0.8
    assert result["labels"] == "sorted"


@pytest.mark.parametrize(
    "data, message",
    [
        (["--data", "tfds:"], "--data tfds:: expected tfds:NAME or tfds:NAME:SPLIT"),
        (["--data", "tfds:a:b:c"], "expected tfds:NAME or tfds:NAME:SPLIT"),
        (["--data", ".", "--tfds-data-dir", "."], "--tfds-data-dir is for --data tfds:NAME[:SPLIT]"),
    ],
    ids=["empty", "too many parts", "data dir"],
)
def test_bad_tfds_arguments_are_refused_in_one_line(data, message, capsys):
    assert message in _refusal([*REGISTERED, *data], capsys)
