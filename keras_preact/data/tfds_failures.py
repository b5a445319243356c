"""Why tensorflow-datasets could not load a dataset, in one paragraph that names the
cause: a module missing from the environment, no network for the download, or data
that is neither prepared nor preparable. tfds raises many types for these; the
commands report each as a missing input (exit status 2)."""

# Class names, anywhere in an error's chain, of a download that could not reach its server.
NETWORK_ERRORS = (
    "ConnectionError",
    "ConnectTimeout",
    "gaierror",
    "MaxRetryError",
    "NameResolutionError",
    "NewConnectionError",
    "ProxyError",
    "ReadTimeout",
    "Timeout",
    "URLError",
)


def _chain(error):
    """`error` and the errors that caused it, outermost first."""
    seen = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or error.__context__
    return seen


def _is_network_error(error):
    return any(cls.__name__ in NETWORK_ERRORS for e in _chain(error) for cls in type(e).__mro__)


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def tfds_failure(name, data_dir, error, offline_hint):
    """The error to raise when tensorflow-datasets failed to load dataset `name`.

    Args:
        data_dir: tfds's data directory (None: its default).
        error: what tfds raised.
        offline_hint: what to do without network (e.g. where the files are to download).

    Returns:
        A FileNotFoundError whose message names the cause.
    """
    missing = next((e for e in _chain(error) if isinstance(e, ModuleNotFoundError)), None)
    if missing is not None:
        return FileNotFoundError(
            f"tensorflow-datasets cannot load {name!r}: the module {missing.name!r} it needs is not installed. "
            f"Install the [train] extra with the tested versions (pip install -c constraints.txt '.[train]'), "
            f"or pip install {missing.name}."
        )
    if _is_network_error(error):
        return FileNotFoundError(
            f"tensorflow-datasets could not download {name!r} into data_dir={data_dir!r}: no network "
            f"({_first_line(error)}). {offline_hint}"
        )
    return FileNotFoundError(
        f"tensorflow-datasets has no prepared {name!r} in data_dir={data_dir!r} and could not prepare it: "
        f"{_first_line(error)}. {offline_hint}"
    )
