"""Argument checks shared by the modules: errors that name the argument, echo the
value received and list the allowed ones."""


def check_choice(argument, value, allowed):
    """Raises ValueError unless `value` is one of `allowed` (a collection or the keys
    of a dict)."""
    if value not in allowed:
        raise ValueError(f"Received: {argument}={value!r}; expected one of {tuple(allowed)}.")
