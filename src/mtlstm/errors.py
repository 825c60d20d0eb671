"""Errors that reach the user as one readable line instead of a traceback."""

import errno
import os
import re
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
    except FileNotFoundError as exc:
        # Under DVC every input exists (DVC checks deps first); by hand
        # (`python stages/split.py`) an earlier stage may not have run yet.
        message = missing_input(name, exc)
        if message is None:
            sys.exit(report_bug(name, exc))
        print(f"error: {name}: {message}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:
        message = machine_problem(exc)
        if message is None:
            sys.exit(report_bug(name, exc))
        print(f"error: {name}: {message}", file=sys.stderr)
        sys.exit(2)
    except Exception as exc:
        sys.exit(report_bug(name, exc))


# errno values that describe the machine, not mtlstm nor the user's input:
# no permission, a full disk or quota, a read-only file system.
MACHINE_ERRNOS = {
    errno.EACCES: "check the permissions of the folder (or run as its owner)",
    errno.EPERM: "check the permissions of the folder (or run as its owner)",
    errno.ENOSPC: "free some disk space (the DVC cache, .venv) and rerun",
    errno.EDQUOT: "free some of your disk quota and rerun",
    errno.EROFS: "run in a writable copy of the project",
}


def machine_problem(exc: OSError) -> str | None:
    """A one-line message for an ``OSError`` that the machine caused (see
    ``MACHINE_ERRNOS``): the file, the system's reason and the fix; None for
    any other, which stays a bug report."""
    fix = MACHINE_ERRNOS.get(exc.errno)
    if fix is None:
        return None
    where = f"{exc.filename}: " if exc.filename else ""
    reason = exc.strerror or one_line(exc)
    return f"{where}{reason}; {fix}"


def missing_input(
    name: str, exc: FileNotFoundError, pipeline: Path = Path("dvc.yaml")
) -> str | None:
    """What to run when a stage's input is missing because the stage that
    writes it (an ``outs`` of ``pipeline``) has not run; None when the missing
    file is no stage's output (then it is a bug, reported as one).

    Read only on this error path: dvc.yaml is no dep of any stage.
    """
    missing = exc.filename or _first_quoted(str(exc))
    if not missing or Path(missing).is_absolute() or Path(missing).exists():
        return None
    producer = _producer(Path(missing).as_posix(), pipeline)
    if producer is None:
        return None
    return (
        f"{missing} does not exist: stage {producer} writes it, and it has not "
        f"run here. Run `dvc repro {name}`, which runs the stages before it "
        "first, or `dvc repro` for the whole pipeline"
    )


def _first_quoted(text: str) -> str | None:
    """The first '...' in a message (pyarrow's error names no ``filename``)."""
    found = re.search(r"'([^']+)'", text)
    return found.group(1) if found else None


def _producer(path: str, pipeline: Path) -> str | None:
    """The stage of ``pipeline`` whose ``outs`` hold ``path`` (an out that is
    a folder holds the files under it; ``${key}`` of a foreach stage matches
    any one name)."""
    import yaml  # only on the error path: most stages never get here

    try:
        stages = yaml.safe_load(pipeline.read_text(encoding="utf-8"))["stages"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None
    if not isinstance(stages, dict):
        return None
    for stage, spec in stages.items():
        spec = spec.get("do", spec) if isinstance(spec, dict) else {}
        for out in spec.get("outs", []) if isinstance(spec, dict) else []:
            out = next(iter(out)) if isinstance(out, dict) else str(out)
            pattern = (
                re.escape(out.rstrip("/"))
                .replace(re.escape("${key}"), "[^/]+")
                .replace(re.escape("${item}"), "[^/]+")
            )
            if re.fullmatch(f"{pattern}(/.*)?", path):
                return stage
    return None


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
