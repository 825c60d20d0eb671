"""Errors that reach the user as one readable line instead of a traceback."""

import os
import reprlib
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

# Where an unexpected error's full traceback goes (git-ignored, not a DVC output).
LOG_DIR = Path("logs")

# How much of a user-supplied value an error message may quote: a hostile or
# broken input (a 50 MB CSV field, a YAML alias bomb) must not be copied whole.
QUOTE_LIMIT = 60


class MtlstmError(Exception):
    """Base class: the message says what is wrong, where, and how to fix it."""


class ConfigError(MtlstmError):
    """``params.yaml`` is malformed, has unknown keys or inconsistent values."""


class DataError(MtlstmError):
    """Input data (a file, column, row) cannot be used as declared."""


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` cut to at most about ``limit`` characters, for messages.

    A string is cut before ``repr`` sees more than ``limit`` characters of it;
    containers are shown by ``reprlib`` (a few items, a few levels), so a huge,
    deeply nested or alias-bombed value costs next to nothing to quote.
    """
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return f"{value[:limit]!r}... ({len(value)} characters)"
    if isinstance(value, bytes):
        return quote(value.decode("utf-8", "replace")[: limit + 1], limit)
    try:
        text = _REPR.repr(value)
    except ValueError:  # an int too long for str() (sys.get_int_max_str_digits)
        return "a number too long to show"
    return text if len(text) <= limit else f"{text[:limit]}..."


def shorten(text: object, limit: int = QUOTE_LIMIT) -> str:
    """``str(text)`` as is when short, else its first ``limit`` characters."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


_REPR = reprlib.Repr()  # Python 3.11's Repr takes no keyword arguments
_REPR.maxlevel = 3
_REPR.maxtuple = _REPR.maxlist = _REPR.maxdict = 4
_REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = _REPR.maxarray = 4
_REPR.maxstring = _REPR.maxlong = _REPR.maxother = QUOTE_LIMIT


def foreach_key(stage: str, argv: list[str] | None = None) -> str:
    """The item key of a ``foreach`` stage (``ablation@demand`` -> ``demand``).

    dvc.yaml never passes the key on the command line: DVC runs ``cmd`` through
    the shell, so a params.yaml key would be a shell injection. DVC sets
    ``DVC_STAGE`` (``[<dvc.yaml path>:]<stage>@<key>``) for every command;
    by hand, give the key as the one argument. The caller must still check the
    key against params.yaml.
    """
    argv = sys.argv[1:] if argv is None else argv
    usage = (
        f"usage: python stages/{stage}.py <key> (under DVC the key comes from "
        f"the DVC_STAGE variable, e.g. {stage}@<key>)"
    )
    if len(argv) == 1:
        return argv[0]
    if argv:
        raise ConfigError(f"{usage}; got {len(argv)} arguments")
    addressing = os.environ.get("DVC_STAGE", "")
    prefix = f"{stage}@"
    if addressing.startswith(prefix):
        return addressing[len(prefix) :]
    if f":{prefix}" in addressing:  # a dvc.yaml outside the repo root
        return addressing.split(f":{prefix}", 1)[1]
    got = f"DVC_STAGE is {quote(addressing)}" if addressing else "DVC_STAGE is unset"
    raise ConfigError(f"{usage}; {got}")


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
