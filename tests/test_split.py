"""Split: chronological, and no window's span crosses a split boundary."""

from __future__ import annotations

import itertools
import runpy

import numpy as np
import pytest
from conftest import STAGES, make_project

from mtlstm.errors import DataError
from mtlstm.io import read_json, write_json, write_npy
from mtlstm.split import SPLITS, row_bounds, split_windows
from mtlstm.window import window_ends


@pytest.mark.parametrize(
    ("n", "train", "val", "expected"),
    [
        (10, 0.7, 0.15, (7, 8)),
        (20, 0.5, 0.25, (10, 15)),
        (100, 0.7, 0.15, (70, 85)),
        (7, 0.5, 0.25, (3, 5)),  # floor at both boundaries
        (26304, 0.7, 0.15, (18412, 22358)),
    ],
)
def test_row_bounds(n, train, val, expected):
    assert row_bounds(n, train, val) == expected


def test_small_example_exact():
    # 20 rows, train rows 0..9, val 10..14, test 15..19; a window ending at e
    # reads rows e-2..e and predicts row e+1.
    ends = np.arange(2, 19)
    parts = split_windows(ends, 20, lookback=3, max_horizon=1, train=0.5, val=0.25)
    assert list(parts) == list(SPLITS)
    assert parts["train"].tolist() == [2, 3, 4, 5, 6, 7, 8]
    assert parts["val"].tolist() == [12, 13]
    assert parts["test"].tolist() == [17, 18]
    assert all(p.dtype == np.int64 for p in parts.values())
    # purged: windows 9, 10, 11 (train|val) and 14, 15, 16 (val|test)
    assert len(ends) - sum(p.size for p in parts.values()) == 6


def test_longer_horizon_purges_more():
    ends = np.arange(2, 18)  # lookback 3, horizon 2
    parts = split_windows(ends, 20, lookback=3, max_horizon=2, train=0.5, val=0.25)
    assert parts["train"].tolist() == [2, 3, 4, 5, 6, 7]
    assert parts["val"].tolist() == [12]
    assert parts["test"].tolist() == [17]


def test_only_given_ends_are_used():
    # Ends removed by window_ends (segment changes) never come back.
    segment = np.array([0] * 12 + [1] * 8)
    ends = window_ends(segment, 2, 1)
    parts = split_windows(ends, 20, lookback=2, max_horizon=1, train=0.5, val=0.25)
    assert parts["train"].tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    assert parts["val"].tolist() == [13]  # 11 and 12 span the segment change
    assert parts["test"].tolist() == [16, 17, 18]


CASES = list(
    itertools.product(
        [40, 97, 250],  # rows
        [1, 3, 8],  # lookback
        [1, 2, 5],  # max horizon
        [(0.7, 0.15), (0.6, 0.2), (0.5, 0.3)],  # train, val
    )
)


@pytest.mark.parametrize(("n", "lookback", "horizon", "fractions"), CASES)
def test_no_window_crosses_a_boundary_and_splits_are_chronological(
    n, lookback, horizon, fractions
):
    train, val = fractions
    rng = np.random.default_rng(n * lookback * horizon)
    segment = np.cumsum(rng.random(n) < 0.02).astype(np.int32)
    ends = window_ends(segment, lookback, horizon)
    try:
        parts = split_windows(ends, n, lookback, horizon, train, val)
    except DataError as exc:
        assert "holds no complete window" in str(exc)
        return
    train_end, val_end = row_bounds(n, train, val)
    ranges = {
        "train": (0, train_end),
        "val": (train_end, val_end),
        "test": (val_end, n),
    }
    for name, (lo, hi) in ranges.items():
        part = parts[name]
        first, last = part - lookback + 1, part + horizon
        assert (first >= lo).all(), name
        assert (last < hi).all(), name
        assert np.all(np.diff(part) > 0), name  # sorted, no repeats
        assert np.isin(part, ends).all(), name
        # Nothing is dropped that fits: every end whose span lies inside is kept.
        fits = ends[(ends - lookback + 1 >= lo) & (ends + horizon < hi)]
        assert np.array_equal(part, fits), name
    # Chronological: a split's last target row comes before the next one's first
    # input row, so the splits do not even share a row.
    assert parts["train"].max() + horizon < parts["val"].min() - lookback + 1
    assert parts["val"].max() + horizon < parts["test"].min() - lookback + 1
    # Disjoint.
    together = np.concatenate([parts[s] for s in SPLITS])
    assert np.unique(together).size == together.size


@pytest.mark.parametrize(
    ("n", "train", "val", "name", "rows"),
    [
        (20, 0.1, 0.45, "train", r"rows 0\.\.1 of 20"),
        (20, 0.5, 0.1, "val", r"rows 10\.\.11 of 20"),
        (20, 0.5, 0.4, "test", r"rows 18\.\.19 of 20"),
    ],
)
def test_empty_split_names_the_split(n, train, val, name, rows):
    ends = np.arange(2, n - 1)
    with pytest.raises(
        DataError,
        match=rf"^split '{name}' \({rows}\) holds no complete window of lookback 3 "
        r"\+ horizon 1",
    ):
        split_windows(ends, n, 3, 1, train, val)


def test_split_stage(tmp_path, raw_params, monkeypatch):
    """stages/split.py on a hand-written window index."""
    raw_params["split"] = {"train": 0.5, "val": 0.25}
    project = make_project(tmp_path, raw_params)
    windows = project / "data" / "windows"
    start = np.datetime64("2024-01-01T00:00", "ns")
    times = start + np.arange(20) * np.timedelta64(1, "h")
    write_npy(windows / "ends.npy", np.arange(2, 19, dtype=np.int64))
    write_npy(windows / "times.npy", times.view(np.int64))
    write_json(
        windows / "preprocess.json", {"lookback": 3, "max_horizon": 1, "n_rows": 20}
    )
    monkeypatch.chdir(project)
    runpy.run_path(str(STAGES / "split.py"))["main"]()
    out = project / "data" / "split"
    assert np.load(out / "train.npy").tolist() == [2, 3, 4, 5, 6, 7, 8]
    assert np.load(out / "val.npy").tolist() == [12, 13]
    assert np.load(out / "test.npy").tolist() == [17, 18]
    assert read_json(out / "summary.json") == {
        "row_bounds": {"train_end": 10, "val_end": 15},
        "windows": 17,
        "purged": 6,
        "train": {
            "windows": 7,
            "first_input": "2024-01-01T00:00:00.000000000",
            "last_target": "2024-01-01T09:00:00.000000000",
        },
        "val": {
            "windows": 2,
            "first_input": "2024-01-01T10:00:00.000000000",
            "last_target": "2024-01-01T14:00:00.000000000",
        },
        "test": {
            "windows": 2,
            "first_input": "2024-01-01T15:00:00.000000000",
            "last_target": "2024-01-01T19:00:00.000000000",
        },
    }


def test_split_stage_empty_split_writes_nothing(tmp_path, raw_params, monkeypatch):
    raw_params["split"] = {"train": 0.5, "val": 0.1}
    project = make_project(tmp_path, raw_params)
    windows = project / "data" / "windows"
    write_npy(windows / "ends.npy", np.arange(2, 19, dtype=np.int64))
    write_npy(windows / "times.npy", np.arange(20, dtype=np.int64))
    write_json(
        windows / "preprocess.json", {"lookback": 3, "max_horizon": 1, "n_rows": 20}
    )
    monkeypatch.chdir(project)
    with pytest.raises(DataError, match=r"^split 'val' \(rows 10\.\.11 of 20\)"):
        runpy.run_path(str(STAGES / "split.py"))["main"]()
    assert not (project / "data" / "split").exists()
