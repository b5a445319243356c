"""The export command: from a model name + weights, a .keras file or a training workdir."""

import json
import os

import pytest

import keras_preact
from keras_preact.commands import export as export_cli
from keras_preact.training.config import TrainConfig


@pytest.fixture(scope="module")
def small_model():
    return keras_preact.get_model("PreActResNet8", input_shape=(28, 28, 1), classes=10)


def test_from_name_and_weights_file(small_model, tmp_path, capsys):
    weights = tmp_path / "m.weights.h5"
    small_model.save_weights(weights)
    prefix = tmp_path / "out" / "m"  # out/ does not exist yet: the command creates it
    report = export_cli.run(
        ["--model", "PreActResNet8", "--weights", str(weights), "--input-shape", "28,28,1", "--classes", "10"]
        + ["--dataset", "fashion_mnist", "--saved-model", str(tmp_path / "serving"), "--tflite", str(prefix)]
    )
    # The SavedModel is named after the model and its weights file.
    saved, tflite = str(tmp_path / "serving" / "preactresnet8_m" / "1"), str(tmp_path / "out" / "m_float32.tflite")
    assert set(report) == {saved, tflite}
    assert report[saved]["max_abs_diff"] <= 1e-5 and report[tflite]["max_abs_diff"] <= 1e-4
    assert report[tflite]["bytes"] == os.path.getsize(tflite)
    printed = capsys.readouterr().out
    assert f"{saved}: " in printed and f"{tflite}: " in printed and "top-1 agreement 100.00%" in printed


@pytest.mark.slow
def test_from_keras_file(small_model, tmp_path, capsys):
    """In this process (`python -m keras_preact.commands.export` runs in
    tests/test_entry_points.py)."""
    path = tmp_path / "m.keras"
    small_model.save(path)
    argv = ["--keras-file", str(path), "--dataset", "fashion_mnist"]
    assert export_cli.main([*argv, "--saved-model", str(tmp_path / "serving"), "--name", "fm", "--version", "3"]) == 0
    assert os.path.isfile(tmp_path / "serving" / "fm" / "3" / "saved_model.pb")
    assert "max |logit diff|" in capsys.readouterr().out


@pytest.mark.slow
def test_from_training_workdir_with_int8_calibrated_on_the_pipeline(tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    config = TrainConfig(model="PreActResNet8", dataset="synthetic_cifar")
    (workdir / "config.json").write_text(json.dumps(config.to_dict()))
    keras_preact.get_model("PreActResNet8", input_shape=(32, 32, 3), classes=10).save(workdir / "model.keras")
    report = export_cli.run(
        ["--workdir", str(workdir), "--tflite", str(tmp_path / "m"), "--quantization", "float32,int8"]
        + ["--calibration-images", "100", "--parity-images", "100"]
    )
    assert [os.path.basename(p) for p in report] == ["m_float32.tflite", "m_int8.tflite"]
    sizes = [row["bytes"] for row in report.values()]
    assert sizes[1] < 0.5 * sizes[0]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (
            ["--model", "PreActResNet8", "--tflite", "x", "--quantization", "int4"],
            "quantization='int4'; expected one of",
        ),
        (["--model", "PreActResNet8"], "nothing to do"),
        (["--workdir", "{tmp}", "--tflite", "x"], "config.json"),
        (["--model", "ResNet21", "--tflite", "x"], "model='ResNet21'"),
        (["--model", "PreActResNet8", "--saved-model", "{tmp}/file"], "export path that is a file"),
        (["--model", "PreActResNet8", "--tflite", "{tmp}/file/m"], "--tflite {tmp}/file/m, whose folder"),
    ],
)
def test_bad_input_is_named(arguments, message, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as exit_info:
        export_cli.run([a.replace("{tmp}", str(tmp_path)) for a in arguments])
    assert exit_info.value.code == 2
    assert message.replace("{tmp}", str(tmp_path)) in capsys.readouterr().err


@pytest.mark.parametrize(
    "arguments, name",
    [
        (["--model", "PreActResNet20", "--weights", "fashion_mnist"], "preactresnet20_fashion_mnist"),
        (["--model", "PreActResNet20", "--weights", "/w/fm-30ep.weights.h5"], "preactresnet20_fm_30ep"),
        (["--model", "PreActResNet8"], "preactresnet8"),
        (["--keras-file", "runs/x/model.keras"], "preactresnet8_model"),
        (["--model", "PreActResNet20", "--name", "mine"], "mine"),
    ],
)
def test_each_servable_is_named_after_its_model_and_weights(arguments, name, small_model):
    args = export_cli._parser().parse_args([*arguments, "--saved-model", "serving/"])
    assert export_cli.servable_name(args, small_model) == name


def test_a_workdir_servable_is_named_after_the_run(tmp_path, small_model):
    (tmp_path / "fm60_v2").mkdir()
    (tmp_path / "fm60_v2" / "config.json").write_text(json.dumps({"model": "PreActResNet20"}))
    args = export_cli._parser().parse_args(["--workdir", str(tmp_path / "fm60_v2"), "--saved-model", "s/"])
    assert export_cli.servable_name(args, small_model) == "preactresnet20_fm60_v2"
