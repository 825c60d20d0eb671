"""Errors that reach the user as one readable line instead of a traceback."""

import sys
from collections.abc import Callable


class MtlstmError(Exception):
    """Base class: the message says what is wrong, where, and how to fix it."""


class ConfigError(MtlstmError):
    """``params.yaml`` is malformed, has unknown keys or inconsistent values."""


class DataError(MtlstmError):
    """Input data (a file, column, row) cannot be used as declared."""


def run_stage(name: str, main: Callable[[], None]) -> None:
    """Run a stage's ``main``: a user error prints one line and exits 2."""
    try:
        main()
    except MtlstmError as exc:
        print(f"error: {name}: {exc}", file=sys.stderr)
        sys.exit(2)
