"""Argument checks shared by the modules: errors that name the argument, echo the
value received and list the allowed ones."""

import numbers


def is_integer(value):
    """Whether `value` is an int and not a bool (Python counts True as the integer 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_choice(argument, value, allowed):
    """Raises ValueError unless `value` is one of `allowed` (a collection or the keys
    of a dict)."""
    try:
        known = value in allowed
    except TypeError:  # an unhashable value (a list, a dict) against the keys of a dict
        known = False
    if not known:
        raise ValueError(f"Received: {argument}={value!r}; expected one of {tuple(allowed)}.")


def check_rate(argument, value):
    """Returns `value` as a float if it is a real number in [0, 1) (not a bool, not NaN);
    raises ValueError otherwise."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0.0 <= value < 1.0:
        raise ValueError(f"Received: {argument}={value!r}; expected a float in [0, 1).")
    return float(value)
