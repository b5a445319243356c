"""Saving the package's Keras classes under Keras' own public names.

Keras names a class in a saved config by looking it up in its table of public symbols
(`keras.src.api_export`), and falls back to the registered custom name
("keras_preact>BatchNormalization"). Entering a subclass in that table, under the name
of the Keras class it subclasses, makes saved files load without this package. Only
the name-by-class direction is entered: loading the public name still gives Keras'
class.
"""


def save_under_keras_name(cls, public_name):
    """Makes Keras save `cls` as `public_name` (e.g. "keras.optimizers.SGD"); does
    nothing on a Keras whose layout lacks the table (configs then keep the custom name)."""
    try:
        from keras.src import api_export
    except ImportError:
        return
    table = getattr(api_export, "REGISTERED_OBJS_TO_NAMES", None)
    if isinstance(table, dict):
        table[cls] = public_name
