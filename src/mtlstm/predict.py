"""Forecast from new data with a trained model and its preprocessing bundle.

New input passes exactly the checks ingest applies (same reader, same grid and
fill policy, recorded in the bundle), then the bundle's scalers and encoders.
``forecast_frame`` is also what evaluate writes, so both agree row for row.

Known-future inputs (``features.known_future``, the bundle's ``known_future``):
the model also reads those columns at the ``steps`` rows after each origin. The
input then holds *future rows* after its last observed row: trailing rows in
which every other declared column is empty, and which give the known-future
columns' values. ``read_input`` checks them (each known-future column must have
a value at each of the ``steps`` grid times after the last observed row, or a
one-line DataError names the column and the time) and appends them to the
table; ``history_rows`` says how many rows precede them. Calendar features are
computed from the time, so they need no future rows. Future rows in a grid
step past the horizon (the origin's ``steps``-th step after it) are dropped
unparsed (never read).

Many series (``ingest.series``, a long table): each series has its own future
rows, after its own last observed row, and gets its own ``steps`` appended
rows right after its last row; a missing value is a DataError naming the
series, the column and the time. ``observed_rows`` marks the observed rows of
either kind of table. A series the bundle does not list is refused where its
codes are looked up (``mtlstm.window.series_codes``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mtlstm import grid, ingest, metrics, tasks
from mtlstm.config import Ingest, parse
from mtlstm.errors import DataError

# Targets are stored scaled in float32 (about 7 significant digits): the actual
# in forecast CSVs is shown to that precision (4084.53, not 4084.5299989656).
ACTUAL_DIGITS = 7


# What every bundle the window stage writes has, and predict reads.
BUNDLE_KEYS = ("lookback", "timezone", "inputs", "tasks", "feature_names", "ingest")
USE_THE_SAVED_BUNDLE = (
    "give the preprocess.json saved with the model (models/preprocess.json of "
    "the same `dvc repro`)"
)


def read_bundle(path: Path) -> dict[str, Any]:
    """The preprocessing bundle at ``path``, checked to be one: another JSON file
    (or none) would fail later on a missing key, far from its cause."""
    if not path.is_file():
        raise DataError(f"{path}: bundle not found; run `dvc repro train`")
    try:
        bundle = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(
            f"{path}: not a JSON preprocessing bundle ({exc}); {USE_THE_SAVED_BUNDLE}"
        ) from None
    missing = [
        k for k in BUNDLE_KEYS if not isinstance(bundle, dict) or k not in bundle
    ]
    if missing:
        raise DataError(
            f"{path}: not a preprocessing bundle (no {', '.join(missing)}); "
            f"{USE_THE_SAVED_BUNDLE}"
        )
    return bundle


def check_model_fits_bundle(
    window_shape: tuple, bundle: dict[str, Any], model_path: Path, bundle_path: Path
) -> None:
    """The model's input window (lookback x features) must be the bundle's: a
    bundle of another run (other features or lookback) would scale the wrong
    columns or cut the wrong windows."""
    expected = (bundle["lookback"], len(bundle["feature_names"]))
    if tuple(window_shape[-2:]) != expected:
        raise DataError(
            f"{model_path} reads windows of {window_shape[-2]} steps x "
            f"{window_shape[-1]} features but {bundle_path} makes {expected[0]} x "
            f"{expected[1]}: they are from different runs; {USE_THE_SAVED_BUNDLE}"
        )


# Ingest's and window's messages name params.yaml keys as the fix; for predict
# those settings are the bundle's, fixed when the model was trained.
SETTINGS_ARE_THE_BUNDLES = (
    "predict reads it with the ingest settings and classes saved in the bundle "
    "at training time: a change to them in params.yaml takes a `dvc repro` first"
)


@contextlib.contextmanager
def about_input(path: Path) -> Iterator[None]:
    """Re-raise a DataError about the input file naming it (if the message
    does not already) and saying where its reading settings come from."""
    try:
        yield
    except DataError as exc:
        message = str(exc)
        if str(path) not in message:
            message = f"{path}: {message}"
        raise DataError(f"{message} ({SETTINGS_ARE_THE_BUNDLES})") from None


def read_input(
    path: Path, bundle: dict[str, Any], allow_partial_last_step: bool = False
) -> tuple[pd.DataFrame, str | None]:
    """Read and grid a CSV/Parquet like the training source, or fail clearly.

    Returns the table and a note when an incomplete last grid step was dropped.
    """
    if not path.is_file():
        raise DataError(f"{path}: input file not found")
    schema = {**bundle["ingest"], "source": str(path)}
    cfg = parse(Ingest, schema, "preprocess.json ingest")
    src = ingest.read_table(path, cfg, label=str(path))
    known = bundle.get("known_future")
    if known:
        columns = _known_columns(known, cfg)
        # A static attribute is one value per series: a user fills it in the
        # future rows too, and it says nothing of whether a row was observed.
        constant = tuple(s["column"] for s in bundle.get("static", []))
        src, future = _split_future(src, cfg, columns, bundle["timezone"], constant)
    # Zone-less dates on a grid of local days are those days, as in ingest.
    typed = ingest.coerce(src, cfg, bundle["timezone"])
    typed, _ = ingest.order_rows(typed, src, cfg.sort, cfg.duplicates)
    gridded, counts = ingest.to_grid_counted(typed, cfg, bundle["timezone"])
    if "series" in gridded:
        table, note, dropped = _series_input(
            gridded, counts, cfg, bundle["timezone"], allow_partial_last_step
        )
        if known:
            table = _append_future(table, future, cfg, bundle, str(path), dropped)
        return table, note
    hours = step_hours(gridded["time"], cfg.freq, bundle["timezone"])
    note, complete = None, complete_step_rows(counts, hours)
    dropped = gridded.iloc[:0]
    if not allow_partial_last_step and counts[-1] < complete:
        note = (
            f"the last grid step ({_iso(pd.DatetimeIndex(gridded['time'][-1:]))[0]}) "
            f"holds {counts[-1]} source row(s), fewer than a complete step's "
            f"{complete:g}: dropped it (pass --allow-partial-last-step to "
            "forecast from it anyway)"
        )
        gridded, dropped = gridded.iloc[:-1], gridded.iloc[-1:]
    table, _ = ingest.fill_gaps(gridded, cfg)
    table = ingest.restore_kinds(table, cfg)
    if known:
        table = _append_future(table, future, cfg, bundle, str(path), dropped)
    return table, note


def history_rows(table: pd.DataFrame) -> int:
    """Rows of ``read_input``'s table before its known-future rows (all rows
    when the model has no known-future input)."""
    return len(table) - int(table.attrs.get("future_rows", 0))


def observed_rows(table: pd.DataFrame) -> np.ndarray:
    """Per row of ``read_input``'s table, True for an observed row, False for
    an appended future row: the last ``steps`` rows of the table, or of each
    series in a long table (every series gets exactly that many)."""
    steps, n = int(table.attrs.get("future_rows", 0)), len(table)
    rows = np.arange(n)
    if "series" not in table:
        return rows < n - steps
    last = run_ends(table["series"].to_numpy())  # each series' end
    return last[np.searchsorted(last, rows)] - rows >= steps


def run_ends(values: np.ndarray) -> np.ndarray:
    """The positions of the last element of each run of equal consecutive
    ``values``: each series' last row in a long table (its rows consecutive)."""
    values = np.asarray(values)
    return np.flatnonzero(np.r_[values[1:] != values[:-1], len(values) > 0])


def future_origins(
    ends: np.ndarray, segment: np.ndarray, steps: int, label: str = "input"
) -> np.ndarray:
    """The origins whose next ``steps`` rows exist in their own segment (the
    known-future inputs are read there). The last observed row qualifies when
    it is an origin (``read_input`` appended its future rows); an origin just
    before a long gap inside the input does not, and is left out (when that
    leaves a series' last observed row without a forecast,
    ``short_last_segment_note`` says so). None left (a
    DataError naming ``label``): the rows after the last long gap are fewer
    than one lookback, and every earlier origin is too close to a gap."""
    ends = np.asarray(ends, np.int64)
    ahead = ends + steps
    ok = ahead < len(segment)
    ok[ok] = segment[ahead[ok]] == segment[ends[ok]]
    if not ok.any():
        raise DataError(
            f"{label}: no forecast origin: the rows after the last long gap are "
            f"fewer than one lookback, and every full lookback before it ends "
            f"less than {steps} step(s) (the known-future horizon) before a gap; "
            "supply more history after the last gap"
        )
    return ends[ok]


def _known_columns(known: dict[str, Any], cfg: Ingest) -> list[str]:
    """The known-future inputs that are data columns (not calendar features)."""
    return [name for name in known["names"] if name in cfg.columns]


def _split_future(
    src: ingest.Source,
    cfg: Ingest,
    known: list[str],
    zone: str,
    constant: tuple[str, ...] = (),
) -> tuple[ingest.Source, ingest.Source]:
    """The observed rows, and the future rows: those after the last row that
    holds a value in any column other than the known-future ones and the
    ``constant`` (static) ones (in a long table, after the last such row of
    their own series)."""
    others = [c for c in cfg.columns if c not in known and c not in constant]
    frame = src.frame
    observed = np.zeros(len(frame), dtype=bool)
    for column in others:
        values = frame[column]
        text = values.astype(str).str.strip().str.lower()
        observed |= ~(values.isna().to_numpy() | text.isin(ingest.MISSING_WORDS))
    times = ingest.parse_times(src, cfg, zone)
    if not observed.any():
        raise DataError(
            f"{src.label}: no row holds a value of {', '.join(others)}; the input "
            "needs observed rows before the known-future rows"
        )
    # UTC ns (pandas may parse to another unit): compared as integers.
    stamps = pd.DatetimeIndex(times).as_unit("ns").asi8
    if cfg.series:
        ids = ingest._parse_series(src, cfg.series).to_numpy()
        last = pd.Series(stamps[observed]).groupby(ids[observed]).max()
        blind = sorted(set(ids) - set(last.index))
        if blind:
            raise DataError(
                f"{src.label}: {ingest.series_label(blind[0])}: no row holds a value "
                f"of {', '.join(others)}; each series needs observed rows before its "
                "known-future rows"
            )
        last_at = last.reindex(ids).to_numpy()
    else:
        last_at = np.full(len(frame), stamps[observed].max())
    future = stamps > last_at
    # Rows past the horizon are left out by ``_append_future``, which knows the
    # origin: here the last grid step may still be dropped as partial.
    future_columns = [cfg.time_column, *cfg.series, *known]
    label = f"{src.label} (future rows)"
    ahead = src.subset(future, future_columns, label)
    # Their times as read in the whole file: a wall time that a daylight-saving
    # change repeats (ingest.source_timezone) is the later instant after its
    # first row, an observed one; read apart, it would be the earlier instant.
    when = {cfg.time_column: times[future].reset_index(drop=True)}
    return src.subset(~future), dataclasses.replace(
        ahead, frame=ahead.frame.assign(**when)
    )


def _append_future(
    table: pd.DataFrame,
    future: ingest.Source,
    cfg: Ingest,
    bundle: dict[str, Any],
    label: str,
    dropped: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``table`` and, after its last row (the last origin; in a long table,
    after each series' last row), one row per grid step up to the
    known-future horizon: the known-future columns from the input's future
    rows (of the same series), every other column repeating the last observed
    row (a placeholder: the model reads only the known-future columns of rows
    after an origin). Future rows past the horizon are never read: they are
    left out before their values are parsed, whatever they hold.

    ``dropped``: the gridded rows of incomplete last steps ``read_input``
    dropped as origins; they are the first step after the origin before them,
    and their known-future values (from the input's observed rows) are used
    there where the future rows give none."""
    known = _known_columns(bundle["known_future"], cfg)
    steps = int(bundle["known_future"]["steps"])
    zone, n = bundle["timezone"], len(table)
    panel = "series" in table
    ids = table["series"].to_numpy() if panel else np.zeros(n)
    last = run_ends(ids)  # each series' end
    origin = pd.DatetimeIndex(table["time"].iloc[last])
    # Step k of every series, then reordered: row (series i, step k) of the
    # future block sits at i * steps + k - 1.
    ahead = [grid.shift(origin, k, cfg.freq, zone) for k in range(1, steps + 1)]
    by_step = ahead[0].append(ahead[1:])
    order = np.arange(steps)[None, :] * len(last) + np.arange(len(last))[:, None]
    times = by_step.take(order.ravel())
    at_row = np.repeat(last, steps)
    rows = pd.DataFrame({c: table[c].iloc[at_row].to_numpy() for c in table})
    rows["time"] = times
    if known:
        # Counted from the origin's grid step, not from the last source row:
        # that row lies inside the origin's step on a grid coarser than the
        # source (half-hourly rows, hourly steps) or after it (a dropped
        # partial step), and a limit counted from it reached a step past the
        # horizon, so a bad value there refused the input.
        end = grid.shift(origin, steps + 1, cfg.freq, zone).as_unit("ns").asi8
        ids = table["series"].iloc[last] if panel else None
        future = _before(future, cfg, end, ids)
        values = _future_values(future, cfg, known, zone)
        if dropped is not None and len(dropped):
            keys = ["series", "time"] if panel else ["time"]
            values = values.combine_first(dropped.set_index(keys)[known])
        key = pd.MultiIndex.from_arrays([rows["series"], times]) if panel else times
        for column in known:
            at = values[column].reindex(key)
            missing = np.flatnonzero(at.isna().to_numpy())
            if missing.size:
                j = int(missing[0])
                k, where = j % steps, origin[j // steps].isoformat()
                who = (
                    f"{ingest.series_label(rows['series'].iloc[j])}: " if panel else ""
                )
                after = (
                    "its series' last observed row"
                    if panel
                    else "the last observed row"
                )
                raise DataError(
                    f"{label}: {who}known-future column {column!r} has no value at "
                    f"{times[j].isoformat()} (step {k + 1} of {steps} after {after}, "
                    f"{where}); append rows up to that time giving {', '.join(known)} "
                    "(other columns may stay empty)"
                )
            rows[column] = at.to_numpy()
    rows = ingest.restore_kinds(rows, cfg)
    out = pd.concat([table, rows], ignore_index=True)
    if panel:  # each series' future rows right after its last row
        place = np.r_[
            np.arange(n, dtype=np.float64),
            at_row + (np.arange(len(at_row)) % steps + 1) / (steps + 1),
        ]
        out = out.iloc[np.argsort(place, kind="stable")].reset_index(drop=True)
    out.attrs["future_rows"] = steps
    return out


def _before(
    future: ingest.Source, cfg: Ingest, end: np.ndarray, ids: pd.Series | None
) -> ingest.Source:
    """The future rows before ``end`` (UTC ns): one instant for the input,
    or one per series in ``ids`` (a long table; a series not in ``ids`` keeps
    none of its rows)."""
    stamps = pd.DatetimeIndex(future.frame[cfg.time_column]).as_unit("ns").asi8
    if ids is None:
        return future.subset(stamps < end[0])
    # int64 throughout: a float NaN for a missing series would round the
    # nanoseconds of every other one.
    limit = pd.Series(end, index=ids.to_numpy()).reindex(
        ingest._parse_series(future, cfg.series), fill_value=np.iinfo(np.int64).min
    )
    return future.subset(stamps < limit.to_numpy())


def _future_values(
    future: ingest.Source, cfg: Ingest, known: list[str], zone: str
) -> pd.DataFrame:
    """The future rows' known-future columns on the grid, indexed by time (by
    series and time in a long table; NaN where a grid step has no value)."""
    keys = ["series", "time"] if cfg.series else ["time"]
    if future.frame.empty:
        empty = pd.DataFrame({c: pd.Series(dtype="float64") for c in [*keys, *known]})
        return empty.set_index(keys)[known]
    sub = dataclasses.replace(
        cfg,
        columns={c: cfg.columns[c] for c in known},
        aggregate={c: a for c, a in cfg.aggregate.items() if c in known},
        # Empty values are allowed here, then refused by time (above).
        missing=dict.fromkeys(known, "ffill"),
    )
    typed = ingest.coerce(future, sub, zone)
    typed, _ = ingest.order_rows(typed, future, sub.sort, sub.duplicates)
    gridded, _ = ingest.to_grid_counted(typed, sub, zone)
    return gridded.set_index(keys)[known]


def _series_input(
    gridded: pd.DataFrame,
    counts: np.ndarray,
    cfg: Ingest,
    zone: str,
    allow_partial: bool,
) -> tuple[pd.DataFrame, str | None, pd.DataFrame]:
    """``read_input`` of a long table: each series' last grid step is dropped
    when it holds fewer source rows than a complete step (the median rate of
    the other non-empty steps, rows per hour, times its length:
    ``complete_step_rows``), then every series is filled as ingest does. Also
    returns the dropped gridded rows."""
    ids = gridded["series"].to_numpy()
    last = np.r_[ids[1:] != ids[:-1], True]
    note, dropped = None, gridded.iloc[:0]
    if not allow_partial:
        hours = step_hours(gridded["time"], cfg.freq, zone)
        others = ~last & (counts > 0)
        complete = complete_rows(counts, hours, others)
        partial = last & (counts < complete)
        if partial.any():
            first = np.flatnonzero(partial)[0]
            note = (
                f"the last grid step of {int(partial.sum())} series (first: "
                f"{ingest.series_label(ids[first])}) holds fewer source rows than a "
                f"complete step's {complete[first]:g}: dropped it (pass "
                "--allow-partial-last-step to forecast from it anyway)"
            )
            dropped = gridded[partial]
            gridded = gridded[~partial].reset_index(drop=True)
    table, _ = ingest.fill_gaps(gridded, cfg)
    return ingest.restore_kinds(table, cfg), note, dropped


def complete_step_rows(counts: np.ndarray, hours: np.ndarray) -> float:
    """Source rows of a complete last grid step: the median of the non-empty
    steps before the last (0 when there are none), compared per hour, as steps
    differ in length (``hours``, ``step_hours``: a month's days, a local day of
    23 or 25 hours across a daylight-saving change). A last step holding fewer
    ends inside the step, so its mean, sum or last value comes from part of it."""
    earlier = np.r_[counts[:-1] > 0, False]
    return float(complete_rows(counts, hours, earlier)[-1])


def complete_rows(
    counts: np.ndarray, hours: np.ndarray, known: np.ndarray
) -> np.ndarray:
    """Source rows a complete step of each length (``hours``) holds: the median
    rows per hour of the ``known`` complete steps times its length (0 when
    none is known). Rounded: steps of one length give back the median count."""
    if not known.any():
        return np.zeros(len(counts))
    rate = np.median(counts[known] / hours[known])
    return np.round(rate * hours, 6)


def step_hours(times: pd.Series, freq: str, zone: str) -> np.ndarray:
    """Each grid step's length in hours, from its start (``times``) to the
    next step's (computed once per distinct time)."""
    stamps = pd.DatetimeIndex(times).as_unit("ns").asi8
    distinct, inverse = np.unique(stamps, return_inverse=True)
    ends = grid.shift(pd.to_datetime(distinct, utc=True), 1, freq, zone)
    return ((ends.as_unit("ns").asi8 - distinct) / 3.6e12)[inverse]


def origins(segment: np.ndarray, lookback: int, label: str) -> np.ndarray:
    """Every row that closes a complete lookback inside one segment."""
    if len(segment) < lookback:
        raise DataError(
            f"{label}: {len(segment)} row(s) after gridding, but one forecast needs "
            f"a full lookback of {lookback} rows; supply more history"
        )
    ends = np.arange(lookback - 1, len(segment), dtype=np.int64)
    ends = ends[segment[ends - lookback + 1] == segment[ends]]
    if ends.size == 0:
        raise DataError(f"{label}: no {lookback} consecutive rows between gaps")
    return ends


def check_every_series(
    series: np.ndarray,
    observed: np.ndarray,
    ends: np.ndarray,
    names: list[str],
    lookback: int,
    label: str,
) -> None:
    """A long table: every series in the input gets at least one forecast. A
    series without ``lookback`` consecutive rows between gaps (``origins`` over
    the whole table cannot see it) would otherwise be left out without a word.

    ``series``: every table row's series code; ``observed``: the observed rows'
    indices; ``ends``: the origins."""
    codes = np.asarray(series)[np.asarray(observed, np.int64)]
    missing = np.setdiff1d(np.unique(codes), np.asarray(series)[ends])
    if missing.size == 0:
        return
    first = int(missing[0])
    more = f" (and {missing.size - 1} more series)" if missing.size > 1 else ""
    raise DataError(
        f"{label}: {ingest.series_label(names[first])}{more} has no {lookback} "
        f"consecutive rows between gaps ({int(np.sum(codes == first))} row(s) "
        f"after gridding), so it would get no forecast; one forecast needs a full "
        f"lookback of {lookback} rows: supply more history for it, or leave it "
        "out of the input"
    )


def short_last_segment_note(
    table: pd.DataFrame,
    observed: np.ndarray,
    ends: np.ndarray,
    lookback: int,
    zone: str,
) -> str | None:
    """A note when a series' last observed row is no forecast origin, or None.

    That happens when the rows after its last long gap are fewer than one
    lookback (``origins`` finds no window there; with known-future inputs
    ``future_origins`` also leaves out the origins just before the gap): the
    series is then forecast only from earlier origins, and the newest forecast
    a user asks for would be missing without a word. Not an error, as those
    earlier forecasts are valid. A series without any origin is
    ``check_every_series``'s error, not noted here.

    ``table``: ``read_input``'s (``time``, ``segment``, and ``series`` in a
    long table); ``observed``: its observed rows (``observed_rows``);
    ``ends``: the origins (table rows); times are written in ``zone``."""
    rows = np.flatnonzero(observed)
    ids = table["series"].to_numpy() if "series" in table else np.zeros(len(table))
    segment = table["segment"].to_numpy()
    ends = np.asarray(ends, np.int64)
    if not rows.size or not ends.size:  # the callers' errors, not a note
        return None
    # Vectorized (a panel may hold thousands of series): a series' rows, and a
    # segment's (numbered through the whole table), are consecutive, and the
    # origins ascend.
    last = rows[run_ends(ids[rows])]  # each series' last observed
    last = last[~np.isin(last, ends)]
    before = np.searchsorted(ends, last, side="right") - 1  # its latest origin
    own = before >= 0
    own[own] = ids[ends[before[own]]] == ids[last[own]]
    missed, origin = last[own], ends[before[own]]
    if not missed.size:
        return None
    starts = np.flatnonzero(np.r_[True, segment[1:] != segment[:-1]])
    first = starts[np.searchsorted(starts, missed, side="right") - 1]
    at = [first[0], missed[0], origin[0]]  # the first such series
    times = _iso(pd.DatetimeIndex(table["time"].iloc[at]), zone)
    count = int(missed[0] - first[0] + 1)  # a segment's rows: consecutive steps
    who = ""
    if "series" in table:
        more = f" (and {missed.size - 1} more series)" if missed.size > 1 else ""
        who = f"{ingest.series_label(ids[missed[0]])}{more}: "
    return (
        f"{who}the {count} row(s) from {times[0]} on, after a long gap, are fewer "
        f"than the lookback of {lookback} rows, so the latest forecast origin is "
        f"{times[2]}, not the last observed row {times[1]}; supply the "
        f"{lookback - count} grid step(s) before {times[0]} (the end of the gap) "
        "to forecast from it"
    )


def forecast_frame(
    bundle: dict[str, Any],
    times: pd.Series,
    ends: np.ndarray,
    outputs: dict[str, np.ndarray],
    targets: dict[str, np.ndarray] | None = None,
    segment: np.ndarray | None = None,
    series: np.ndarray | None = None,
) -> pd.DataFrame:
    """Every forecast in long format: one row per origin, task and step.

    Columns: ``origin`` and ``time`` (the forecast origin and the step's target
    time, ISO 8601 in the bundle's zone, ``features.timezone``, with its UTC
    offset; ``Z`` for UTC), ``task``, ``step`` (grid steps ahead), ``zone``,
    ``unit`` (``tasks.<name>.unit``), ``forecast`` (original units, the median
    for a quantile task; for classification the most likely label, or the bin of
    the ``decide_by`` task's forecast), ``actual``
    (the observed value or label at the target time, empty where ``targets``
    does not reach it), then ``q<level>`` per quantile and ``p_<class>`` per
    class (empty on rows of tasks without them). Rows run by origin, then task
    (in params order), then step.

    ``targets``: the per-row targets (``mtlstm.window.targets``) the actuals are
    read from; ``segment``: the rows' segments, so a target across a long gap
    is not taken as observed (None: every target row exists, as for windows);
    ``series``: every row's series code (many series: ``bundle["series"]``),
    which adds a first column ``series`` (its name) and unscales per series.
    """
    freq, zone = bundle["ingest"]["freq"], bundle["timezone"]
    stamps = pd.DatetimeIndex(times)
    ends = np.asarray(ends, np.int64)
    origin = stamps[ends]
    at_end = metrics.window_series(series, ends)
    decided = metrics.model_decisions(bundle, outputs, at_end)
    frames, origin_index = [], []
    for spec in bundle["tasks"]:
        name, steps = spec["name"], tasks.steps(spec)
        n, s = len(ends), len(steps)
        targets_at = np.column_stack(
            [_iso(grid.shift(origin, int(step), freq, zone), zone) for step in steps]
        )
        frame = {
            "origin": np.repeat(_iso(origin, zone), s),
            "task": np.full(n * s, name, dtype=object),
            "step": np.tile(steps, n),
            "time": targets_at.ravel(),
            "zone": zone,
            "unit": spec.get("unit", ""),
        }
        if at_end is not None:
            names = np.asarray(bundle["series"]["names"], dtype=object)
            frame = {"series": np.repeat(names[at_end], s), **frame}
        output = metrics.model_output(outputs[name], spec, at_end)
        actual = _actuals(spec, targets, ends, segment, len(stamps), series)
        if spec["type"] == "regression":
            frame["forecast"] = output.ravel()
            frame["actual"] = actual.ravel()
            levels = metrics.model_quantiles(outputs[name], spec, at_end)
            for i, q in enumerate(tasks.quantiles(spec) or []):
                frame[tasks.quantile_name(q)] = levels[..., i].ravel()
        else:
            labels = np.asarray(spec["classes"], dtype=object)
            named = tasks.classes_of(output, decided.get(name))
            frame["forecast"] = labels[named].ravel()
            known = actual >= 0
            frame["actual"] = np.where(
                known, labels[np.maximum(actual, 0)], None
            ).ravel()
            for i, label in enumerate(spec["classes"]):
                frame[f"p_{label}"] = output[..., i].ravel()
        frames.append(pd.DataFrame(frame))
        origin_index.append(np.repeat(np.arange(n), s))
    order = np.argsort(np.concatenate(origin_index), kind="stable")
    table = pd.concat(frames, ignore_index=True).iloc[order]
    return table.reset_index(drop=True)


def _actuals(
    spec: dict[str, Any],
    targets: dict[str, np.ndarray] | None,
    ends: np.ndarray,
    segment: np.ndarray | None,
    n_rows: int,
    series: np.ndarray | None = None,
) -> np.ndarray:
    """``n x S`` observed targets (NaN, or class -1, where unknown)."""
    rows = tasks.target_rows(ends, spec)
    known = rows < n_rows
    if segment is not None:
        segment = np.asarray(segment)
        known &= segment[np.minimum(rows, n_rows - 1)] == segment[ends][:, None]
    if targets is None:
        known[:] = False
        values = np.zeros(rows.shape)
    else:
        per_row = metrics.original_units(targets[spec["name"]], spec, series)
        values = per_row[np.minimum(rows, n_rows - 1)]
    if spec["type"] == "regression":
        return np.where(known, significant(values), np.nan)
    return np.where(known, values, -1).astype(np.int64)


def significant(values: np.ndarray, digits: int = ACTUAL_DIGITS) -> np.ndarray:
    """``values`` rounded to ``digits`` significant digits."""
    values = np.asarray(values, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        magnitude = np.floor(np.log10(np.abs(values)))
    scale = 10.0 ** (digits - 1 - np.where(np.isfinite(magnitude), magnitude, 0))
    return np.round(values * scale) / scale


def _iso(stamps: pd.DatetimeIndex, zone: str = "UTC") -> np.ndarray:
    """Instants as ISO 8601 text in ``zone``: ``Z`` for UTC, else the local
    time with its offset (``2024-01-01T11:00:00+11:00``)."""
    if zone == "UTC":
        return stamps.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy()
    text = pd.Series(stamps.tz_convert(zone).strftime("%Y-%m-%dT%H:%M:%S%z"))
    return text.str.replace(r"([+-]\d\d)(\d\d)$", r"\1:\2", regex=True).to_numpy()
