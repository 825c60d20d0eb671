"""The time grid rows live on: ``ingest.freq`` steps, in UTC or a local calendar.

A step shorter than a day (``30min``, ``1h``) is a fixed duration, so the grid
is laid in UTC. A step of a day or longer (``1D``, ``7D``, ``W``, ``MS``) follows
the calendar of ``features.timezone``: a daily row is one local day, starting at
local midnight, whatever the zone's UTC offset or daylight-saving change. Times
are always stored as UTC instants; only where the steps fall depends on the zone.

Pure pandas/NumPy, shared by ingest (building the grid), predict (target times)
and baselines (the value one season earlier in time).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mtlstm.errors import ConfigError, quote

DAY = pd.Timedelta(days=1)


def offset(freq: str) -> pd.DateOffset:
    """``ingest.freq`` as a pandas offset, or a ConfigError naming the key."""
    try:
        return pd.tseries.frequencies.to_offset(freq)
    except (ValueError, TypeError):
        raise ConfigError(
            f"ingest.freq: {quote(freq)} is not a pandas frequency (e.g. 30min, 1h, 1D)"
        ) from None


def is_calendar(step: pd.DateOffset) -> bool:
    """Whether steps follow local calendar days (a day or longer)."""
    return not isinstance(step, pd.offsets.Tick) or pd.Timedelta(step) >= DAY


def zone(freq: str, timezone: str) -> str:
    """The zone the grid is laid in: ``timezone`` for calendar steps, else UTC."""
    return timezone if is_calendar(offset(freq)) else "UTC"


def shift(times: pd.DatetimeIndex, steps: int, freq: str, timezone: str):
    """``times`` moved by ``steps`` grid steps, as UTC instants. Calendar steps
    are added in local time (a day after 00:00 local is the next 00:00 local,
    23 or 25 hours later across a daylight-saving change)."""
    step = offset(freq)
    local = pd.DatetimeIndex(times).tz_convert(zone(freq, timezone))
    return (local + steps * step).tz_convert("UTC")


def series_positions(
    times: pd.DatetimeIndex,
    series: np.ndarray,
    freq: str,
    timezone: str,
    apart: int,
) -> np.ndarray:
    """``positions`` of rows sorted by (series, time), counted within each
    series, each series shifted past the previous one's last step by more than
    ``apart`` steps: increasing over the whole table, and a lookup ``apart``
    steps back never lands in another series."""
    times = pd.DatetimeIndex(times)
    series = np.asarray(series)
    if len(times) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, series[1:] != series[:-1]])
    sizes = np.diff(np.r_[starts, len(series)])
    step = offset(freq)
    if not is_calendar(step) or step == pd.offsets.Day(1):
        if is_calendar(step):  # one local calendar day per step
            local = times.tz_convert(zone(freq, timezone)).tz_localize(None)
            ticks = local.to_numpy("datetime64[D]").view(np.int64)
        else:
            ns = times.tz_convert("UTC").tz_localize(None).to_numpy("datetime64[ns]")
            ticks = ns.view(np.int64) // pd.Timedelta(step).value
        within = ticks - np.repeat(ticks[starts], sizes)
    else:
        within = np.concatenate(
            [
                positions(times[a : a + n], freq, timezone)
                for a, n in zip(starts, sizes, strict=True)
            ]
        )
    length = np.maximum.reduceat(within, starts) + 1 + int(apart) + 1
    shift = np.r_[0, np.cumsum(length)[:-1]]
    return within + np.repeat(shift, sizes)


def positions(times: pd.DatetimeIndex, freq: str, timezone: str) -> np.ndarray:
    """Each row's number of grid steps since the first row.

    Equal to the row number on a grid without holes; larger after a long gap
    whose rows ingest dropped. So ``positions[j] - positions[i]`` is the time
    between two rows in steps, which row numbers are not.
    """
    times = pd.DatetimeIndex(times)
    if len(times) == 0:
        return np.zeros(0, dtype=np.int64)
    step = offset(freq)
    if not is_calendar(step):
        elapsed = (times - times[0]) / pd.Timedelta(step)
        out = np.asarray(elapsed, dtype=np.float64)
        if not np.array_equal(out, np.round(out)):
            raise ValueError(f"times are not on a {freq} grid")
        return np.round(out).astype(np.int64)
    local = times.tz_convert(zone(freq, timezone))
    full = pd.date_range(local[0], local[-1], freq=step)
    found = np.minimum(full.searchsorted(local), len(full) - 1)
    if not (full[found] == local).all():
        raise ValueError(f"times are not on a {freq} grid in {timezone}")
    return found.astype(np.int64)
