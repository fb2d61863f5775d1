"""The exceptions of winback: every error a user can meet derives from
`WinbackError`; data and parameter errors are also `ValueError`s."""


class WinbackError(Exception):
    """Base class of every winback error."""


class WinbackDataError(WinbackError, ValueError):
    """Bad input data: the message names the file or source, row, column and value."""


class WinbackParamError(WinbackError, ValueError):
    """An invalid parameter value (a usage error)."""


class WinbackTypeError(WinbackParamError, TypeError):
    """An argument of the wrong kind (a number where a table or a path is expected):
    also a `TypeError`, as Python's own would be."""


class NotFittedError(WinbackError, ValueError, AttributeError):
    """The model is used before `fit` (same bases as scikit-learn's, and `WinbackError`)."""


class WinbackDataWarning(UserWarning):
    """Rows were skipped while loading (the load report says how many and why)."""
