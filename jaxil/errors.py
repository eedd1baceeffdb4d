"""The one exception type jaxil raises for bad input."""


class JaxilError(ValueError):
    """Bad input (unknown env, wrong shapes, NaN in data, corrupt files, ...).

    The message names the problem and what to do about it.
    """
