"""Deferred imports: work asked for after a package loaded runs at once."""

import keras_preact
from keras_preact.utils import lazy


def test_work_asked_for_after_a_package_loaded_runs_at_once():
    ran = []
    keras_preact.list_weights()  # the registry's first read: the weights registered
    lazy.on_import("keras_preact.models.pretrained", lambda: ran.append(1))  # it has loaded: runs now
    lazy.on_import("a.package.not.loaded", lambda: ran.append(2))
    assert ran == [1]
    lazy.imported("a.package.not.loaded")
    assert ran == [1, 2]
