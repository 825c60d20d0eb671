"""Chronological split of rows and windows, with a purge at every boundary.

Rows ``[0, train_end)`` are the training time range (the only rows any scaler or
encoder sees), ``[train_end, val_end)`` validation, the rest test. A window that
ends at row ``e`` reads rows ``e - lookback + 1 .. e`` and its targets up to row
``e + max_horizon``; it belongs to a split only if that whole span lies inside it.

With many series (``ingest.series``) the rows are sorted by (series, time), not
by time, so the cut is made in time: ``time_cuts`` applies the same fractions
to the sorted *distinct* timestamps, every row belongs to the split its time
falls in (``row_splits``), and a window belongs to a split when its first input
row and its last target row both do (``split_windows_by_time``). One time cut
serves every series; for one series it is exactly the row cut.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from mtlstm import tasks as task_shape
from mtlstm.errors import DataError

SPLITS = ("train", "val", "test")


def row_bounds(n_rows: int, train: float, val: float) -> tuple[int, int]:
    """End rows (exclusive) of the train and val time ranges."""
    # Exact decimal arithmetic: 90 * 0.7 is 62.99999... in binary floating point.
    n = Fraction(n_rows)
    train_end = int(n * Fraction(str(train)))
    val_end = int(n * (Fraction(str(train)) + Fraction(str(val))))
    return train_end, val_end


def time_cuts(times: np.ndarray, train: float, val: float) -> tuple[int, int]:
    """The first time (int64 ns) of the val and of the test range: ``row_bounds``
    applied to the sorted distinct timestamps (a cut past the last time is the
    largest int64)."""
    distinct = np.unique(np.asarray(times, dtype=np.int64))
    train_end, val_end = row_bounds(len(distinct), train, val)
    never = np.iinfo(np.int64).max
    at = [
        int(distinct[i]) if i < len(distinct) else never for i in (train_end, val_end)
    ]
    return at[0], at[1]


def row_splits(times: np.ndarray, train: float, val: float) -> np.ndarray:
    """Each row's split by its time: 0 train, 1 val, 2 test (int8)."""
    val_from, test_from = time_cuts(times, train, val)
    times = np.asarray(times, dtype=np.int64)
    return ((times >= val_from).astype(np.int8) + (times >= test_from)).astype(np.int8)


def split_windows_by_time(
    ends: np.ndarray,
    times: np.ndarray,
    lookback: int,
    max_horizon: int,
    train: float,
    val: float,
) -> dict[str, np.ndarray]:
    """Window end rows per split, cut in time (``row_splits``): a window belongs
    to a split when its first input row and its last target row both lie in
    that split's time range (windows never leave their segment, and time grows
    within a segment, so its whole span does); the others are purged."""
    code = row_splits(times, train, val)
    return windows_by_code(ends, code, lookback, max_horizon)


def windows_by_code(
    ends: np.ndarray, code: np.ndarray, lookback: int, max_horizon: int
) -> dict[str, np.ndarray]:
    """Window end rows per split, given every row's split (0 train, 1 val,
    2 test, as ``row_splits``): a window belongs to a split when its first
    input row and its last target row both do; an empty split is an error."""
    windows = _by_split(ends, code, lookback, max_horizon)
    for k, (name, chosen) in enumerate(windows.items()):
        if chosen.size == 0:
            rows = np.flatnonzero(code == k)
            if rows.size and rows[-1] - rows[0] + 1 == rows.size:  # one series
                where = f"rows {rows[0]}..{rows[-1]} of {code.size}"
            else:
                where = f"{rows.size} of {code.size} rows, cut in time"
            raise DataError(
                f"split {name!r} ({where}) holds no complete window of lookback "
                f"{lookback} + horizon {max_horizon}; give it a larger fraction in "
                "split.train/split.val, use more data, or shorten window.lookback"
            )
    return windows


def _by_split(
    ends: np.ndarray, code: np.ndarray, lookback: int, max_horizon: int
) -> dict[str, np.ndarray]:
    first, last = code[ends - lookback + 1], code[ends + max_horizon]
    return {
        name: ends[(first == k) & (last == k)].astype(np.int64)
        for k, name in enumerate(SPLITS)
    }


def split_windows(
    ends: np.ndarray,
    n_rows: int,
    lookback: int,
    max_horizon: int,
    train: float,
    val: float,
) -> dict[str, np.ndarray]:
    """Window end indices per split; windows crossing a boundary are dropped."""
    train_end, val_end = row_bounds(n_rows, train, val)
    ranges = {
        "train": (0, train_end),
        "val": (train_end, val_end),
        "test": (val_end, n_rows),
    }
    return windows_within(ends, ranges, lookback, max_horizon)


def windows_within(
    ends: np.ndarray,
    ranges: dict[str, tuple[int, int]],
    lookback: int,
    max_horizon: int,
) -> dict[str, np.ndarray]:
    """Per named row range ``[lo, hi)``, the windows whose whole span (inputs and
    targets) lies inside it; an empty range is an error naming it."""
    first, last = ends - lookback + 1, ends + max_horizon
    n_rows = max(hi for _, hi in ranges.values())
    out = {}
    for name, (lo, hi) in ranges.items():
        chosen = ends[(first >= lo) & (last < hi)].astype(np.int64)
        if chosen.size == 0:
            raise DataError(
                f"split {name!r} (rows {lo}..{hi - 1} of {n_rows}) holds no complete "
                f"window of lookback {lookback} + horizon {max_horizon}; give it a "
                "larger fraction in split.train/split.val, use more data, or shorten "
                "window.lookback"
            )
        out[name] = chosen
    return out


def filled_targets(
    filled: dict[str, np.ndarray],
    targets: dict[str, tuple[str, int]],
    ends: np.ndarray,
    n_rows: int,
    lookback: int,
    max_horizon: int,
    train: float,
    val: float,
    times: np.ndarray | None = None,
) -> dict[str, dict[str, int]]:
    """Per task and split, the windows whose target value ingest filled in.

    ``filled`` maps a column to a boolean per row (True: filled by ingest),
    ``targets`` a task to its (target column, horizon). The window ending at
    ``e`` is scored on row ``e + step`` for every step of its horizon (one, or
    a range): a window counts when any of those values was filled, which is
    then scored as if it had been observed. With ``times`` (int64 ns per row)
    the splits are cut in time, as ``split_windows_by_time``.
    """
    if times is not None:
        code = row_splits(times, train, val)
        windows = _by_split(ends, code, lookback, max_horizon)
    else:
        train_end, val_end = row_bounds(n_rows, train, val)
        bounds = {"train": (0, train_end), "val": (train_end, val_end)}
        bounds["test"] = (val_end, n_rows)
        first, last = ends - lookback + 1, ends + max_horizon
        # As split_windows, without its error on an empty split (the split stage's).
        windows = {
            name: ends[(first >= lo) & (last < hi)] for name, (lo, hi) in bounds.items()
        }
    out = {}
    for task, (column, horizon) in targets.items():
        mask = filled.get(column)
        first_step, last_step = task_shape.bounds(horizon)
        steps = np.arange(first_step, last_step + 1)
        out[task] = {
            name: int(mask[chosen[:, None] + steps].any(axis=1).sum())
            if mask is not None
            else 0
            for name, chosen in windows.items()
        }
    return out
