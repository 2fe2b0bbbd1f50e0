"""The one exception type the CLI shows as a single readable line instead of a traceback."""


class EmosketchError(Exception):
    """Bad input or a request that cannot be met; the message names what and where."""
