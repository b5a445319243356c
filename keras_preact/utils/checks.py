"""Argument checks shared by the modules: errors that name the argument, echo the
value received and list the allowed ones.

Every check raises ValueError, whatever the type of the value (a list where a string
is expected, None, a nested list), so that callers never see a TypeError, KeyError or
AttributeError from deeper down.
"""

import math
import numbers
import re

MAX_SHOWN = 200  # characters of a value's repr that an error message echoes


def shown(value):
    """`repr(value)` on one line, cut to `MAX_SHOWN` characters (an array, a model), for
    messages."""
    text = re.sub(r"\s*\n\s*", " ", repr(value))
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def is_integer(value):
    """Whether `value` is an int and not a bool (Python counts True as the integer 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_choice(argument, value, allowed):
    """Raises ValueError unless `value` is one of `allowed` (a collection or the keys
    of a dict); an unhashable value (a list, a dict) is not one of them."""
    try:
        known = value in allowed
    except TypeError:  # an unhashable value (a list, a dict) against the keys of a dict
        known = False
    if not known:
        raise ValueError(f"Received: {argument}={shown(value)}; expected one of {tuple(allowed)}.")


def check_type(argument, value, types, expected):
    """Returns `value` if it is an instance of `types`; raises ValueError otherwise.

    Args:
        argument: the argument's name, for the message.
        value: the value received.
        types: a type or a tuple of types, as for `isinstance`.
        expected: what the message says is expected, e.g. "a keras.Model".
    """
    if not isinstance(value, types):
        raise ValueError(f"Received: {argument}={shown(value)} of type {type(value).__name__}; expected {expected}.")
    return value


def check_bool(argument, value):
    """Returns `value` if it is True or False (not 0, 1 or None); raises ValueError otherwise."""
    if not isinstance(value, bool):
        raise ValueError(f"Received: {argument}={shown(value)}; expected True or False.")
    return value


def check_int(argument, value, minimum=None):
    """Returns `value` as an int if it is an integer (a NumPy one too, not a bool) of at
    least `minimum`; raises ValueError otherwise."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" >= {minimum}"
        raise ValueError(f"Received: {argument}={shown(value)}; expected an int{bound}.")
    return int(value)


def check_real(argument, value):
    """Returns `value` as a float if it is a finite real number (not a bool); raises
    ValueError otherwise."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"Received: {argument}={shown(value)}; expected a finite float.")
    return float(value)


def check_rate(argument, value):
    """Returns `value` as a float if it is a real number in [0, 1) (not a bool, not NaN);
    raises ValueError otherwise."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0.0 <= value < 1.0:
        raise ValueError(f"Received: {argument}={shown(value)}; expected a float in [0, 1).")
    return float(value)


def check_names(argument, value, allowed):
    """Returns `value` as a list if it is a non-empty list or tuple of strings, each one
    of `allowed`; raises ValueError otherwise (a bare string included)."""
    if (
        not isinstance(value, (list, tuple))
        or not value
        or not all(isinstance(name, str) and name in allowed for name in value)
    ):
        raise ValueError(f"Received: {argument}={shown(value)}; expected a non-empty list of {list(allowed)}.")
    return list(value)
