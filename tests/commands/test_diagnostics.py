"""`keras-preact-diagnostics`: the CSV and PNG of a run, and bad arguments in one line.
(The measurements: tests/training/test_diagnostics.py.)"""

import csv

import pytest

from keras_preact.commands import diagnostics as command


def test_cli_writes_csv_and_png_and_exits_0(tmp_path, capsys):
    out = tmp_path / "propagation"
    status = command.main(
        ["--models", "ResNet8", "PreActResNet8", "--dataset", "synthetic_cifar", "--batch", "8", "--steps", "0,2"]
        + ["--out", str(out)]
    )
    assert status == 0 and capsys.readouterr().out.endswith(f"Wrote {out}.csv and {out}.png\n")
    with open(f"{out}.csv") as f:
        written = list(csv.DictReader(f))
    # 2 models x 2 steps x (stem + 3 units)
    assert len(written) == 16
    assert {(r["model"], r["step"]) for r in written} == {(m, s) for m in ("ResNet8", "PreActResNet8") for s in "02"}
    # the two steps of training moved the weights, so the measurements differ
    at = {(r["model"], r["step"], r["index"]): float(r["gradient_norm"]) for r in written}
    assert at[("PreActResNet8", "0", "1")] != at[("PreActResNet8", "2", "1")]
    assert open(f"{out}.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--steps", "0,x"], "argument --steps: Received: '0,x'; expected comma-separated step counts >= 0"),
        (["--dataset", "mnist"], "Received: --dataset 'mnist'; expected one of"),
        (["--models", "ResNet21"], "model='ResNet21'"),
    ],
)
def test_cli_bad_arguments_are_one_line(arguments, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        command.main([*arguments, "--out", str(tmp_path / "d")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
