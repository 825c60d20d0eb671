"""Errors that reach the user as one readable line instead of a traceback."""


class MtlstmError(Exception):
    """Base class: the message says what is wrong, where, and how to fix it."""


class ConfigError(MtlstmError):
    """``params.yaml`` is malformed, has unknown keys or inconsistent values."""


class DataError(MtlstmError):
    """Input data (a file, column, row) cannot be used as declared."""
