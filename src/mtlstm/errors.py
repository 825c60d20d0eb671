"""Errors that reach the user as one readable line instead of a traceback."""

import sys
import traceback
from collections.abc import Callable
from pathlib import Path

# Where an unexpected error's full traceback goes (git-ignored, not a DVC output).
LOG_DIR = Path("logs")


class MtlstmError(Exception):
    """Base class: the message says what is wrong, where, and how to fix it."""


class ConfigError(MtlstmError):
    """``params.yaml`` is malformed, has unknown keys or inconsistent values."""


class DataError(MtlstmError):
    """Input data (a file, column, row) cannot be used as declared."""


def run_stage(name: str, main: Callable[[], None]) -> None:
    """Run a stage's ``main``: a user error prints one line and exits 2; any
    other exception is a bug: one line naming it and its traceback file, exit 1."""
    try:
        main()
    except MtlstmError as exc:
        print(f"error: {name}: {one_line(exc)}", file=sys.stderr)
        sys.exit(2)
    except Exception as exc:
        sys.exit(report_bug(name, exc))


def one_line(exc: BaseException) -> str:
    """The message on one line: a quoted library message may span several."""
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def report_bug(name: str, exc: BaseException) -> int:
    """Write the traceback to ``logs/<name>-traceback.txt``, print one line
    saying it is a bug and where the traceback is; returns exit code 1."""
    path: Path | None = LOG_DIR / f"{name}-traceback.txt"
    try:
        LOG_DIR.mkdir(exist_ok=True)
        path.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
    except OSError:
        path = None  # an unwritable folder must not hide the error itself
    lines = str(exc).strip().splitlines() or [""]
    message = lines[0][:300] + (" ..." if len(lines) > 1 or len(lines[0]) > 300 else "")
    where = f"full traceback in {path}" if path else "traceback could not be written"
    print(
        f"error: {name}: an internal error, a bug in mtlstm rather than in your "
        f"input: {type(exc).__name__}: {message} ({where}; please report it)",
        file=sys.stderr,
    )
    return 1
