"""The one exception type the CLI shows as a single readable line instead of a traceback."""


class EmosketchError(Exception):
    """Bad input or a request that cannot be met; the message names what and where."""


def is_whole(value: object) -> bool:
    """A whole number as a check of input takes it: an int or a numpy integer, never a bool (True is 1 to Python)."""
    import numpy as np

    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    """A real number as a check of input takes it: numpy's included, never a bool, a string or None. NaN is one:
    a range check after it refuses NaN."""
    import numbers

    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def shown(value: object, limit: int = 60) -> str:
    """A value as a message may quote it: its repr, cut to `limit` characters, with work bounded however
    large or deeply shared the value is (a YAML alias structure's repr can run to gigabytes)."""
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxdict, r.maxlist, r.maxtuple, r.maxset = 2, 4, 4, 4, 4
    r.maxstring = r.maxother = r.maxlong = limit
    text = r.repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
