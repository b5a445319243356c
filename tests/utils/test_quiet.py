"""Quiet commands: the held start-up notices keep every other line; verbose shows all."""

import os

from keras_preact.utils import quiet


def test_held_notices_keep_every_other_line(capfd, monkeypatch):
    monkeypatch.setattr(quiet, "_enabled", True)
    notice = "I0000 00:00:1.0 1 port.cc:153] oneDNN custom operations are on. You may see\n"
    with quiet.held_notices():
        os.write(2, notice.encode())
        os.write(2, b"E0000 a real error from C++\n")
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    assert capfd.readouterr().err == "E0000 a real error from C++\n"


def test_verbose_shows_everything(capfd, monkeypatch):
    monkeypatch.setattr(quiet, "_enabled", False)
    monkeypatch.setenv(quiet.VERBOSE_ENV, "1")
    quiet.start(verbose=False)
    assert quiet._enabled is False and quiet.is_verbose()
    with quiet.held_notices():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    assert "XNNPACK" in capfd.readouterr().err
