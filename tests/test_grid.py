"""The time grid (mtlstm.grid): where steps fall, and how far apart rows are."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

from mtlstm import grid
from mtlstm.errors import ConfigError


@pytest.mark.parametrize(
    ("freq", "calendar"),
    [("30min", False), ("1h", False), ("1D", True), ("7D", True), ("MS", True)],
)
def test_steps_of_a_day_or_longer_are_calendar_steps(freq, calendar):
    assert grid.is_calendar(grid.offset(freq)) is calendar
    assert grid.zone(freq, "Europe/Berlin") == ("Europe/Berlin" if calendar else "UTC")


def test_bad_freq_names_the_key():
    with pytest.raises(ConfigError, match=r"ingest\.freq: 'daily' is not a pandas"):
        grid.offset("daily")


def test_positions_count_steps_across_a_dropped_gap():
    times = pd.to_datetime(
        ["2024-01-01T00:00Z", "2024-01-01T01:00Z", "2024-01-01T05:00Z"], utc=True
    )
    assert_array_equal(grid.positions(times, "1h", "UTC"), [0, 1, 5])


def test_positions_of_local_days_across_dst():
    days = ["2024-03-30", "2024-03-31", "2024-04-02"]
    # 31 March has 23 hours in Berlin: still one step, as 1 to 2 April is one.
    times = pd.DatetimeIndex(days, tz="Europe/Berlin").tz_convert("UTC")
    assert_array_equal(grid.positions(times, "1D", "Europe/Berlin"), [0, 1, 3])


def test_positions_refuse_times_off_the_grid():
    times = pd.to_datetime(["2024-01-01T00:00Z", "2024-01-01T01:30Z"], utc=True)
    with pytest.raises(ValueError, match="not on a 1h grid"):
        grid.positions(times, "1h", "UTC")


def test_shift_adds_local_days_and_fixed_hours():
    origin = pd.to_datetime(["2024-03-30T23:00Z"], utc=True)  # local midnight
    assert grid.shift(origin, 1, "1D", "Europe/Berlin")[0] == pd.Timestamp(
        "2024-03-31T22:00Z"
    )  # 31 March has 23 hours in Berlin
    assert grid.shift(origin, 24, "1h", "Europe/Berlin")[0] == pd.Timestamp(
        "2024-03-31T23:00Z"
    )
    assert np.all(grid.positions(origin, "1h", "UTC") == 0)


@pytest.mark.parametrize(
    ("zone", "first", "last"),
    [
        # Chile's spring change skips 00:00-01:00: 8 September starts at 01:00.
        ("America/Santiago", "2024-09-05", "2024-09-11"),
        # Cuba's autumn change repeats 00:00-01:00 on 4 November 2018.
        ("America/Havana", "2018-11-01", "2018-11-07"),
    ],
)
def test_local_days_where_a_change_skips_or_repeats_midnight(zone, first, last):
    """shift and positions walk the grid ingest lays (resample's labels): the
    day whose midnight is skipped has its row at 01:00. Before, pandas' own
    ``local + Day`` raised 'nonexistent time' there (a traceback in predict,
    evaluate and baselines) and counted from 01:00 after it."""
    hours = pd.date_range(f"{first}T12:00Z", f"{last}T12:00Z", freq="6h")
    series = pd.Series(1.0, index=hours.tz_convert(zone))
    days = series.resample("1D").size().index.tz_convert("UTC")
    assert_array_equal(grid.positions(days, "1D", zone), np.arange(len(days)))
    for k in (1, 2, 3):
        assert grid.shift(days[:-k], k, "1D", zone).equals(days[k:])
