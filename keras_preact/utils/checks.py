"""Argument checks shared by the modules: errors that name the argument, echo the
value received and list the allowed ones."""


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
