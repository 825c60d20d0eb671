"""``mtlstm init``: a commented params.yaml for a table under data/raw/.

The table is read as ingest reads it. ``profile`` detects the time column (the
column of ISO 8601 timestamps with the most distinct values), the grid step (the
regular step pandas infers, else the most common one), each other column's kind,
the whole missing grid steps and the values missing inside rows. ``render``
writes the ingest, features and tasks sections (and the season, lookback and
loss weights that depend on them) into a copy of the default params.yaml
(``params_default.yaml``, kept equal to the project's params.yaml by a test), so
every other setting keeps its default and its comment.
"""

from __future__ import annotations

import importlib.resources
import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from mtlstm import grid as grid_lib
from mtlstm import ingest
from mtlstm.config import (
    RESERVED_COLUMNS,
    TASK_NAME,
    Ingest,
    Params,
    layer_clash,
    parse,
    task_layers,
)
from mtlstm.errors import ConfigError, DataError, MtlstmError, quote, shorten

TIME_NAMES = {"time", "timestamp", "datetime", "date", "date_time", "ds"}
BOOL_WORDS = {"true", "false", "yes", "no", "t", "f", "y", "n"}  # not 0/1: numbers
SEPARATORS = (",", ";", "\t", "|")
MAX_CATEGORIES = 50  # more distinct values: not read (one-hot would explode)
MAX_LOOKBACK = 168
MAX_CLASSES = 20
SECTION = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):")
DAY = pd.Timedelta(days=1)


@dataclass
class Holes:
    """One column's missing values on the grid."""

    in_rows: int = 0  # missing while the step holds other values
    longest: int = 0  # longest run holding a missing value inside a row
    first: str | None = None  # time of the first missing value inside a row
    leading: bool = False  # missing in the first grid step


@dataclass
class Profile:
    """What ``init`` found in the table."""

    source: str
    label: str
    time_column: str
    columns: dict[str, str]
    skipped: dict[str, str]
    csv_sep: str
    csv_decimal: str
    freq: str
    rows: int
    first: str
    last: str
    duplicates: int
    steps: int
    gaps: list[tuple[str, int]]  # runs of whole missing steps: (from, steps)
    holes: dict[str, Holes]
    table: pd.DataFrame = field(repr=False)  # typed rows, sorted by time


# --- detection ---------------------------------------------------------------------


def profile(source: str, root: Path) -> Profile:
    """Read ``source`` (a built-in name or a file under data/raw/) and detect
    its layout, or fail with a one-line error naming the file."""
    path = ingest.resolve_source(source, root)
    if source not in ingest.BUILTIN:  # as written in params.yaml: data/raw/...
        source = path.relative_to(Path(root).resolve()).as_posix()
    label = source
    frame, sep, decimal = _read(path, label)
    if len(frame) < 3:
        raise DataError(f"{label}: {len(frame)} data row(s); init needs at least 3")
    time_column = _find_time(frame, label)
    columns, skipped = {}, {}
    for name in frame.columns:
        if name == time_column:
            continue
        kind, why = _kind(frame[name], decimal)
        if kind is None:
            skipped[name] = why
        elif str(name).lower() in RESERVED_COLUMNS:
            skipped[name] = "a reserved name (time, segment): rename it to use it"
        else:
            columns[name] = kind
    if not columns:
        raise DataError(
            f"{label}: no column besides {time_column!r} can be read as numeric, "
            f"boolean or categorical ({_why(skipped)})"
        )
    freq = _find_freq(frame[time_column], label)
    read_all = {c: "ffill" for c in columns}  # read every value: holes are counted
    cfg = Ingest(
        source=source,
        time_column=time_column,
        columns=columns,
        freq=freq,
        missing=read_all,
        duplicates="aggregate",
        csv_sep=sep,
        csv_decimal=decimal,
    )
    src = ingest.Source(
        frame[[time_column, *columns]].reset_index(drop=True),
        label,
        0 if path.suffix.lower() == ".parquet" else 2,
    )
    typed, _ = ingest.order_rows(ingest.coerce(src, cfg), src, True, "aggregate")
    gridded, counts = ingest.to_grid_counted(typed, cfg, "UTC")
    empty = counts == 0
    times = gridded["time"]
    holes = {}
    for column in columns:
        missing = gridded[column].isna().to_numpy()
        inside = missing & ~empty
        runs = _runs(missing)
        holes[column] = Holes(
            in_rows=int(inside.sum()),
            # Runs with a value missing inside a row (whole steps alone are
            # holes of the grid, left to ingest.long_gaps).
            longest=max((b - a for a, b in runs if inside[a:b].any()), default=0),
            first=str(times.iloc[int(np.flatnonzero(inside)[0])])
            if inside.any()
            else None,
            leading=bool(missing[0]),
        )
    return Profile(
        source=source,
        label=label,
        time_column=time_column,
        columns=columns,
        skipped=skipped,
        csv_sep=sep,
        csv_decimal=decimal,
        freq=freq,
        rows=len(typed),
        first=str(typed["time"].iloc[0]),
        last=str(typed["time"].iloc[-1]),
        duplicates=ingest.count_duplicates(typed),
        steps=len(gridded),
        gaps=[(str(times.iloc[a]), b - a) for a, b in _runs(empty)],
        holes=holes,
        table=typed,
    )


def _read(path: Path, label: str) -> tuple[pd.DataFrame, str, str]:
    """The whole table (CSV: as text, as ingest reads it), its separator and
    decimal mark."""
    if path.suffix.lower() == ".parquet":
        ingest.parquet_names(path, label)  # not Parquet: a DataError naming it
        return ingest.read_parquet(path), ",", "."
    with path.open("rb") as f:
        head = f.read(65536).decode("utf-8-sig", errors="replace")
    header = head.splitlines()[0] if head.strip() else ""
    sep = max(SEPARATORS, key=header.count) if header else ","
    sep = sep if header.count(sep) else ","
    try:
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, sep=sep, encoding="utf-8-sig"
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"{label}: the file is empty; expected a header row") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{label}: cannot be read as CSV: {str(exc)[:300]}") from None
    # pandas renamed a repeat ("x" -> "x.1"): init would declare a column that
    # is not in the file, which ingest then refuses.
    header = ingest._csv_header(path, sep)
    ingest.refuse_repeated_names(header, header, f"{label} line 1")
    return frame, sep, _decimal(frame, sep)


def _decimal(frame: pd.DataFrame, sep: str) -> str:
    """``,`` when the separator is not a comma and some column holds numbers
    written with a decimal comma only; else ``.``."""
    if sep == ",":
        return "."
    comma = re.compile(r"^[+-]?\d*,\d+$")
    plain = re.compile(r"^[+-]?\d+$")
    for name in frame.columns:
        text = frame[name].str.strip()
        text = text[text != ""]
        if (
            len(text)
            and text.str.match(comma).any()
            and (text.str.match(comma) | text.str.match(plain)).all()
        ):
            return ","
    return "."


def _find_time(frame: pd.DataFrame, label: str) -> str:
    """The column of timestamps with the most distinct values (a name such as
    time or date breaks a tie)."""
    found = []
    for position, name in enumerate(frame.columns):
        parsed = _as_times(frame[name])
        if parsed is not None:
            hint = str(name).strip().lower() in TIME_NAMES
            found.append((parsed.nunique(), hint, -position, name))
    if not found:
        shown = ", ".join(shorten(c) for c in list(frame.columns)[:20])
        raise DataError(
            f"{label}: no column holds only ISO 8601 timestamps (found: {shown}); "
            "write the time column as e.g. 2024-01-31T13:00:00Z"
        )
    return max(found)[3]


def _as_times(values: pd.Series) -> pd.Series | None:
    """``values`` parsed as ingest parses a time column, or None when any value
    is not a timestamp (or every value is a plain number)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.to_datetime(values, utc=True)
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return None
    text = values.astype(str).str.strip()
    if pd.to_numeric(text.head(100), errors="coerce").notna().all():
        return None  # years or counts, not timestamps
    head = pd.to_datetime(text.head(100), utc=True, errors="coerce", format="ISO8601")
    if head.isna().any():
        return None
    parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    return None if parsed.isna().any() else parsed


def _kind(values: pd.Series, decimal: str) -> tuple[str | None, str]:
    """A column's kind (numeric, boolean, categorical), or None and why not."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return None, "timestamps (a second time column)"
    if pd.api.types.is_bool_dtype(values):
        kind, present = "boolean", values
    elif pd.api.types.is_numeric_dtype(values):
        kind = "numeric"
        present = values[np.isfinite(values.to_numpy(dtype="float64"))]
    else:
        text = values.astype(str).str.strip()
        absent = text.str.lower().isin(ingest.MISSING_WORDS) | values.isna()
        present = text[~absent]
        if present.empty:
            return None, "holds no value"
        numbers = present.str.replace(decimal, ".", regex=False)
        # ingest refuses these: "4.006" is 4006 or 4.006 (never guess).
        if (
            decimal != "."
            and present.str.contains(".", regex=False).any()
            and pd.to_numeric(numbers, errors="coerce").notna().all()
        ):
            return None, (
                "numbers with a '.' in a file of decimal commas (a thousands "
                "separator or a decimal point?); remove the thousands separators"
            )
        if present.str.lower().isin(BOOL_WORDS).all():
            kind = "boolean"
        elif pd.to_numeric(numbers, errors="coerce").notna().all():
            kind = "numeric"
        elif _as_times(present) is not None:
            return None, "timestamps (a second time column)"
        else:
            kind, present = "categorical", text[(text != "") & values.notna()]
    distinct = present.nunique()
    if distinct < 2:
        return None, "holds a single value"
    if kind == "categorical" and distinct > MAX_CATEGORIES:
        return None, (
            f"{distinct} distinct values, too many for a categorical feature "
            f"(at most {MAX_CATEGORIES})"
        )
    return kind, ""


def _find_freq(values: pd.Series, label: str) -> str:
    """The grid step: what pandas infers from the first distinct times, else the
    most common step between distinct times (a calendar month for 28..31 days);
    ``label`` names the file in an error."""
    times = pd.DatetimeIndex(_as_times(values)).unique().sort_values()
    if len(times) < 3:
        raise DataError(
            f"{label}: column {values.name!r} holds {len(times)} distinct "
            "timestamp(s), fewer than 3: no grid step to detect; give init more "
            "rows (or the file's rows of one series, without repeated times)"
        )
    with warnings.catch_warnings():  # pandas 3 warns it will return an offset
        warnings.simplefilter("ignore")
        inferred = pd.infer_freq(times[:1000])
    if inferred is not None:
        step = pd.tseries.frequencies.to_offset(inferred)
        if isinstance(step, pd.offsets.Tick):
            return _tick(pd.Timedelta(step))
        return step.freqstr
    diffs = np.diff(times.tz_convert(None).to_numpy())
    steps, counts = np.unique(diffs[diffs > np.timedelta64(0)], return_counts=True)
    common = pd.Timedelta(steps[np.argmax(counts)])
    if pd.Timedelta(days=28) <= common <= pd.Timedelta(days=31):
        return "MS"
    return _tick(common)


def _tick(step: pd.Timedelta) -> str:
    """A fixed step as ``ingest.freq`` text: 1D, 1h, 30min, 10s, 500ms."""
    for unit, size in (("D", DAY), ("h", pd.Timedelta(hours=1))):
        if step % size == pd.Timedelta(0):
            return f"{step // size}{unit}"
    for unit, size in (("min", pd.Timedelta(minutes=1)), ("s", pd.Timedelta(1, "s"))):
        if step % size == pd.Timedelta(0):
            return f"{step // size}{unit}"
    return f"{max(1, step // pd.Timedelta(1, 'ms'))}ms"


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    padded = np.concatenate([[0], mask.astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _why(skipped: dict[str, str]) -> str:
    return "; ".join(f"{shorten(c)}: {why}" for c, why in skipped.items()) or "none"


# --- tasks -------------------------------------------------------------------------


def tasks_from_flags(
    prof: Profile,
    regress: list[str],
    classify: list[str],
    horizon: int = 1,
    train_share: float = 0.7,
) -> dict[str, dict]:
    """``--regress COLUMN[:HORIZON]`` and ``--classify COLUMN[:SPEC]`` as tasks.

    SPEC for a numeric column: comma-separated bin edges (``15,25``) or ``qN``
    (N classes cut at quantiles of the training range; the default is q3). For
    a categorical column: the comma-separated labels (default: every value).
    """
    if not regress and not classify:
        raise ConfigError(
            "init: give at least one task: --regress COLUMN[:HORIZON] or "
            "--classify COLUMN[:EDGES|qN|LABELS]"
        )
    if horizon < 1:
        raise ConfigError(f"--horizon: must be >= 1, got {horizon}")
    tasks: dict[str, dict] = {}
    for flag in regress:
        column, spec = _split_flag(flag, prof, "--regress")
        if prof.columns[column] != "numeric":
            raise ConfigError(
                f"--regress {flag}: {column!r} is {prof.columns[column]}; regression "
                "needs a numeric column (use --classify)"
            )
        steps = horizon
        if spec is not None:
            if not re.fullmatch(r"\d+", spec) or int(spec) < 1:
                raise ConfigError(
                    f"--regress {flag}: {quote(spec)} is not a horizon; write "
                    "COLUMN:STEPS with STEPS >= 1, e.g. Demand:3"
                )
            steps = int(spec)
        task = {"type": "regression", "target": column, "horizon": steps}
        tasks[_task_name(column, "", tasks)] = task
    for flag in classify:
        column, spec = _split_flag(flag, prof, "--classify")
        task = {"type": "classification", "target": column, "horizon": horizon}
        task |= _classes(flag, column, spec, prof, train_share)
        tasks[_task_name(column, "_class", tasks)] = task
    return tasks


def _split_flag(flag: str, prof: Profile, option: str) -> tuple[str, str | None]:
    """COLUMN or COLUMN:SPEC; a column whose name holds ':' is taken whole."""
    column, spec = flag, None
    if flag not in prof.columns and ":" in flag:
        column, spec = flag.rsplit(":", 1)
    if column not in prof.columns:
        why = f" ({prof.skipped[column]})" if column in prof.skipped else ""
        raise ConfigError(
            f"{option} {flag}: {quote(column)} is not a column init reads{why}; "
            f"columns: {', '.join(shorten(c) for c in prof.columns)}"
        )
    return column, spec


def _task_name(column: str, suffix: str, taken: dict) -> str:
    base = re.sub(r"[^A-Za-z0-9_]+", "_", column).strip("_").lower() or "task"
    if not base[0].isalpha():
        base = f"t_{base}"
    # Not a name the model gives a layer, nor one another task's layers take
    # (config refuses both: Keras would, in train). No model layer name starts
    # with task_, so the numbered names below cannot match one either.
    if layer_clash(f"{base}{suffix}", {}):
        base = f"task_{base}"
    owners = {layer: t for t in taken for layer in task_layers(t)}
    name, n = f"{base}{suffix}", 2
    while name in taken or layer_clash(name, owners):
        name, n = f"{base}{suffix}_{n}", n + 1
    assert TASK_NAME.match(name), name
    return name


def _classes(
    flag: str, column: str, spec: str | None, prof: Profile, train_share: float
) -> dict:
    kind = prof.columns[column]
    values = prof.table[column].dropna()
    if kind == "boolean":
        raise ConfigError(
            f"--classify {flag}: {column!r} is boolean, which cannot be a target; "
            "declare it categorical by hand or pick another column"
        )
    if kind == "categorical":
        seen = sorted(values.unique().tolist())
        labels = [s.strip() for s in spec.split(",")] if spec else seen
        unknown = sorted(set(seen) - set(labels))
        if unknown:
            raise ConfigError(
                f"--classify {flag}: the data also hold "
                f"{', '.join(quote(u) for u in unknown[:5])}; list every label"
            )
        if len(labels) < 2 or len(labels) > MAX_CLASSES:
            raise ConfigError(
                f"--classify {flag}: {len(labels)} class(es); a task needs 2 to "
                f"{MAX_CLASSES}"
            )
        return {"classes": labels}
    if spec is None or re.fullmatch(r"q\d+", spec):
        n = int(spec[1:]) if spec else 3
        if not 2 <= n <= MAX_CLASSES:
            raise ConfigError(
                f"--classify {flag}: q{n}: give 2 to {MAX_CLASSES} classes, e.g. q3"
            )
        # Edges from the training range only (the first split.train of rows).
        fit = values.iloc[: max(1, int(len(values) * train_share))].to_numpy()
        cuts = np.quantile(fit, np.arange(1, n) / n)
        edges = sorted({float(f"{c:.4g}") for c in cuts})
        # A value on an edge is in the upper class: an edge at the smallest
        # value (a column mostly at it) leaves the class below it empty.
        held = np.bincount(np.searchsorted(edges, fit, side="right"), minlength=n)
        if len(edges) != n - 1 or not held.all():
            raise ConfigError(_unsplit(flag, column, n, fit))
    else:
        try:
            edges = [float(e) for e in spec.split(",")]
        except ValueError:
            raise ConfigError(
                f"--classify {flag}: {quote(spec)} is neither bin edges (e.g. 15,25) "
                "nor qN (N classes cut at quantiles, e.g. q3)"
            ) from None
        if edges != sorted(set(edges)) or not all(np.isfinite(edges)):
            raise ConfigError(
                f"--classify {flag}: edges must be finite and strictly increasing"
            )
    names = {1: ["low", "high"], 2: ["low", "mid", "high"]}
    labels = names.get(len(edges), [f"c{i}" for i in range(len(edges) + 1)])
    return {"bins": edges, "classes": labels}


def _unsplit(flag: str, column: str, n: int, fit: np.ndarray) -> str:
    """Why ``qN`` left a class without training values, with an edge that does
    split them: the quantile itself is a poor example, the smallest value (or
    all of them) for a column mostly at one value, and a value on an edge is
    in the upper class, so the class below holds none."""
    head = (
        f"--classify {flag}: the training values of {column!r} do not split "
        f"into {n} classes that each hold some (quantiles on a repeated value)"
    )
    distinct = np.unique(fit)
    if len(distinct) < 2:
        return (
            f"{head}; they are all {distinct[0]:.15g}, so a task on {column!r} "
            "has one class: pick another column"
        )
    # The distinct value just above the median: training values on both sides.
    above = int(np.searchsorted(distinct, np.median(fit), side="right"))
    edge = distinct[min(max(above, 1), len(distinct) - 1)]
    return f"{head}; give edges, e.g. {column}:{edge:.15g}"


# --- the file ---------------------------------------------------------------------


def default_text() -> str:
    """The project's default params.yaml, shipped with the package."""
    resource = importlib.resources.files("mtlstm").joinpath("params_default.yaml")
    return resource.read_text(encoding="utf-8")


def season_of(freq: str) -> int:
    """Steps in one season: a day of sub-day steps, a week of days, a year of
    weeks or months."""
    step = grid_lib.offset(freq)
    days = _days(step)
    if days is not None and days < 1:
        return max(1, DAY // pd.Timedelta(step))
    if days is not None:
        return {1: 7, 7: 52}.get(int(days), 7)
    if isinstance(step, pd.offsets.Week):
        return 52
    if isinstance(step, pd.offsets.MonthBegin | pd.offsets.MonthEnd):
        return 12
    if isinstance(step, pd.offsets.QuarterBegin | pd.offsets.QuarterEnd):
        return 4
    return 7


def calendar_of(freq: str) -> list[str]:
    days = _days(grid_lib.offset(freq))
    if days is not None and days < 1:
        return ["hour_of_day", "day_of_week", "day_of_year"]
    if days == 1:
        return ["day_of_week", "day_of_year"]
    return ["day_of_year"]


def _days(step: pd.DateOffset) -> float | None:
    """A fixed step in days (a day step is a calendar offset in pandas 3), or
    None for weeks, months and longer."""
    if isinstance(step, pd.offsets.Day):
        return float(step.n)
    if isinstance(step, pd.offsets.Tick):
        return pd.Timedelta(step) / DAY
    return None


def proposal(prof: Profile, base: dict) -> dict:
    """The ingest settings to write, with the notes behind them."""
    max_fill = base["ingest"].get("max_fill", 2)
    long = [(t, n) for t, n in prof.gaps if n > max_fill]
    missing = {c: "ffill" for c, h in prof.holes.items() if h.in_rows}
    many = prof.duplicates > max(1, prof.rows // 100)
    return {
        "max_fill": max_fill,
        "long_gaps": "break" if long else "error",
        "long": long,
        "missing": missing,
        "duplicates": "aggregate" if prof.duplicates and not many else "error",
    }


def render(
    prof: Profile, tasks: dict[str, dict], command: str, extra: tuple = ()
) -> tuple[str, list]:
    """The whole params.yaml text, and notes for the user (what to fix before
    ingest runs)."""
    base_text = default_text()
    base = yaml.safe_load(base_text)
    plan = proposal(prof, base)
    notes = _notes(prof, plan) + list(extra)
    regression = [t["horizon"] for t in tasks.values() if t["type"] == "regression"]
    season = max([season_of(prof.freq), *regression])
    lookback = min(season, MAX_LOOKBACK)
    new = {
        "ingest": _ingest_text(prof, plan, notes),
        "features": _features_text(prof),
        "tasks": _tasks_text(tasks),
        "window": "window:\n"
        + _line(
            f"  lookback: {lookback}",
            "steps per window: one season" + (" (capped)" if lookback < season else ""),
            30,
        )
        + "\n",
        "baselines": "baselines:\n"
        + _line(f"  season: {season}", f"steps in one season of {prof.freq} steps", 30)
        + "\n",
    }
    out = [
        f"# Written by `{_comment(command)}`:\n# a starting point for "
        f"{_comment(prof.label)}; settings not about the data are the defaults.\n"
    ]
    for name, text in _sections(base_text):
        if name in new:
            text = new.pop(name) + _trailing_blank(text)
        elif name == "train":
            text = _train_text(text, base["train"], tasks)
        out.append(text)
    return "".join(out), notes


def _sections(text: str) -> list[tuple[str | None, str]]:
    """The file cut before every top-level key, comments above a key kept with
    it."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if SECTION.match(line)]
    cuts = []
    for i in starts:
        j = i
        while j > 0 and lines[j - 1].startswith("#"):
            j -= 1
        cuts.append(j)
    parts = [(None, "".join(lines[: cuts[0]]))] if cuts and cuts[0] else []
    for k, (cut, start) in enumerate(zip(cuts, starts, strict=True)):
        end = cuts[k + 1] if k + 1 < len(cuts) else len(lines)
        name = SECTION.match(lines[start]).group(1)
        parts.append((name, "".join(lines[cut:end])))
    return parts


def _trailing_blank(text: str) -> str:
    return "\n" if text.endswith("\n\n") else ""


def _y(value) -> str:
    """One YAML value in flow style on one line, quoted where needed."""
    text = yaml.safe_dump(
        [value], default_flow_style=True, allow_unicode=True, width=2**31
    )
    if len(text.strip().splitlines()) > 1:
        # A line break in a name (a CSV header "load\n(MW)"; also \x85,
        # \u2028) comes out as a folded single-quoted scalar, which YAML
        # refuses as a mapping key; double quotes escape it on one line.
        text = yaml.safe_dump(
            [value],
            default_flow_style=True,
            default_style='"',
            allow_unicode=True,
            width=2**31,
        )
    return text.strip()[1:-1]


def _comment(text: str) -> str:
    return " ".join(str(text).split())


def _line(text: str, comment: str = "", column: int = 24) -> str:
    """``text`` with ``comment`` aligned at ``column``, as in the default file."""
    if not comment:
        return text
    return f"{text.ljust(column - 1)} # {_comment(comment)}"


def _ingest_text(prof: Profile, plan: dict, notes: list[str]) -> str:
    gaps = len(prof.gaps)
    longest = max((n for _, n in prof.gaps), default=0)
    lines = [
        "ingest:",
        f"  # Found in {_comment(prof.label)}: {prof.rows} rows from {prof.first} to",
        f"  # {prof.last}; one row every {prof.freq} makes {prof.steps} grid steps,",
        f"  # {gaps} hole(s) of whole steps"
        + (f" (longest {longest} steps)." if gaps else "."),
    ]
    lines += [f"  # NOTE: {_comment(n)}" for n in notes]
    lines += [
        f"  source: {_y(prof.source)}",
        f"  time_column: {_y(prof.time_column)}",
        _line("  columns:", "column -> numeric | boolean | categorical"),
    ]
    lines += [f"    {_y(c)}: {k}" for c, k in prof.columns.items()]
    if prof.skipped:
        lines.append("  # Not read (add to columns to use them):")
        lines += [
            f"  #   {_comment(_y(c))}: {_comment(w)}" for c, w in prof.skipped.items()
        ]
    long = plan["long"]
    lines += [
        _line(f"  freq: {_y(prof.freq)}", "rows are aggregated onto this grid"),
        _line(
            "  aggregate: {}",
            "per column; defaults: numeric mean, boolean max, categorical last",
        ),
        _line(
            f"  max_fill: {plan['max_fill']}", "fill holes of at most this many steps"
        ),
    ]
    if plan["missing"]:
        lines.append(
            _line("  missing:", "values missing inside rows: ffill | interpolate")
        )
        for column in plan["missing"]:
            h = prof.holes[column]
            lines.append(
                _line(
                    f"    {_y(column)}: ffill",
                    f"{h.in_rows} missing inside rows, longest run {h.longest} "
                    f"step(s), first at {h.first}",
                )
            )
    else:
        lines.append(_line("  missing: {}", "no value is missing inside a row"))
    lines += [
        _line(
            f"  long_gaps: {plan['long_gaps']}",
            f"{len(long)} hole(s) longer than max_fill, the first {long[0][1]} steps "
            f"from {long[0][0]}: no window spans them"
            if long
            else "no hole is longer than max_fill",
        ),
        _line("  sort: true", "sort rows by time"),
        _line(
            f"  duplicates: {plan['duplicates']}",
            f"{prof.duplicates} row(s) repeat a timestamp"
            + (": combined by aggregate" if plan["duplicates"] == "aggregate" else ""),
        ),
        f"  csv_sep: {json.dumps(prof.csv_sep)}",
        f"  csv_decimal: {json.dumps(prof.csv_decimal)}",
    ]
    return "\n".join(lines) + "\n"


def _notes(prof: Profile, plan: dict) -> list[str]:
    notes = []
    if prof.duplicates and plan["duplicates"] == "error":
        notes.append(
            f"{prof.duplicates} rows repeat a timestamp: the file may hold several "
            "series (keep one per file), or set duplicates: aggregate"
        )
    for column, h in prof.holes.items():
        if h.leading:
            notes.append(
                f"{column} is missing in the first step: drop the first rows of "
                "the file"
            )
        if h.in_rows and h.longest > plan["max_fill"]:
            notes.append(
                f"{column} is missing for up to {h.longest} steps in a row, more "
                "than max_fill: clean the file, raise max_fill or drop the column"
            )
    return notes


def _features_text(prof: Profile) -> str:
    return (
        "features:\n"
        f"  columns: {_y(list(prof.columns))}\n"
        f"  calendar: {_y(calendar_of(prof.freq))}\n"
        + _line("  timezone: UTC", "the data's own zone for calendar features")
        + "\n"
    )


def _tasks_text(tasks: dict[str, dict]) -> str:
    lines = ["tasks:"]
    for name, task in tasks.items():
        lines += [
            # Quoted where YAML would misread it (no, on: booleans), as _y
            # quotes column names.
            f"  {_y(name)}:",
            f"    type: {task['type']}",
            f"    target: {_y(task['target'])}",
            _line(f"    horizon: {task['horizon']}", "steps ahead", 30),
        ]
        if task["type"] == "regression":
            lines.append(
                _line("    predict_change: false", "true: predict the change", 30)
            )
        if "bins" in task:
            edges, labels = task["bins"], task["classes"]
            meaning = f" {labels[0]}"
            for edge, label in zip(edges, labels[1:], strict=True):
                meaning += f" < {edge:g} <= {label}"
            lines.append(_line(f"    bins: {_y(edges)}", meaning, 30))
        if "classes" in task:
            lines.append(f"    classes: {_y(task['classes'])}")
        lines.append('    unit: ""')
    return "\n".join(lines) + "\n"


def _train_text(text: str, train: dict, tasks: dict[str, dict]) -> str:
    """The train section with loss weights for these tasks, and per-task losses
    and metrics emptied when they name other tasks."""
    out, skip = [], False
    for line in text.splitlines(keepends=True):
        key = re.match(r"^  ([A-Za-z_]+):", line)
        if key:
            skip = False
            name = key.group(1)
            if name == "loss_weights":
                out.append(
                    "  loss_weights:               # multiplies each task's loss; "
                    "choose on validation\n"
                )
                out += [f"    {_y(t)}: 1.0\n" for t in tasks]
                skip = True
                continue
            if name in ("losses", "metrics") and set(train.get(name) or {}) - set(
                tasks
            ):
                out.append(f"  {name}: {{}}                  # per task\n")
                skip = True
                continue
        elif skip and line.startswith("    "):
            continue  # the replaced key's entries and comments
        else:
            skip = False
        out.append(line)
    return "".join(out)


def build(prof: Profile, tasks: dict[str, dict], command: str) -> tuple[str, list]:
    """The params.yaml text, checked as ``mtlstm check`` checks it, and notes;
    where ingest would still stop on the file, the text says so too."""
    text, notes = render(prof, tasks, command)
    stop = dry_ingest(prof, check(text))
    if stop:
        text, notes = render(prof, tasks, command, [f"ingest would stop: {stop}"])
        check(text)
    return text, notes


def check(text: str) -> Params:
    """Parse the written text as ``mtlstm check`` would."""
    try:
        return parse(Params, yaml.safe_load(text), "")
    except ConfigError as exc:
        raise MtlstmError(f"the params init wrote do not validate: {exc}") from None


def dry_ingest(prof: Profile, params: Params) -> str | None:
    """Where ingest would stop on these settings, or None."""
    cfg = params.ingest
    try:
        gridded = ingest.to_grid(prof.table, cfg, params.features.timezone)
        ingest.fill_gaps(gridded, cfg)
    except DataError as exc:
        return str(exc)
    return None
