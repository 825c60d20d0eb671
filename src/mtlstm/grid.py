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
    if isinstance(step, pd.offsets.Tick):  # a fixed duration (also 24h)
        return (local + steps * step).tz_convert("UTC")
    # On wall times, localized as ingest lays the grid: pandas' ``local + step``
    # raises where a change skips the result's midnight (Santiago, Havana),
    # and would count from 01:00, not from the day, on such a day's row.
    return _localize(_nominal(local) + steps * step, local.tz).tz_convert("UTC")


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
    if isinstance(step, pd.offsets.Tick):  # a fixed duration (also 24h)
        full = pd.date_range(local[0], local[-1], freq=step)
    else:  # local days, as in ``shift``
        wall = _nominal(local)
        full = _localize(pd.date_range(wall[0], wall[-1], freq=step), local.tz)
    found = np.minimum(full.searchsorted(local), len(full) - 1)
    if not (full[found] == local).all():
        raise ValueError(f"times are not on a {freq} grid in {timezone}")
    return found.astype(np.int64)


def _localize(wall: pd.DatetimeIndex, tz) -> pd.DatetimeIndex:
    """Zone-less local times as instants in ``tz``, as ingest lays a grid of
    local days (``ingest._grid_series``, like pandas' resample): a repeated
    midnight is its first (summer-time) instant, a skipped one moves forward
    to the day's first instant (01:00 where 00:00-01:00 is skipped)."""
    return wall.tz_localize(tz, ambiguous=True, nonexistent="shift_forward")


def _nominal(local: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Instants as zone-less local times, each day's first instant as its
    midnight: the grid's row of a day whose midnight a change skips is at
    01:00 (``_localize``), and it stands for the day, not for 01:00."""
    wall = local.tz_localize(None)
    day = wall.normalize()
    return wall.where(_localize(day, local.tz) != local, day)
