"""Rolling-origin backtest: fold ranges (oracle), leak-free folds, summaries."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROOT, synthetic_table

from mtlstm import backtest
from mtlstm.config import load_params
from mtlstm.errors import ConfigError


def test_fold_ranges_expand_and_the_last_is_the_main_split():
    # 100 rows, train 0.7, val 0.15: test periods of 15 rows, validation of 15.
    assert backtest.fold_ranges(100, 0.7, 0.15, 3) == [
        {"train": (0, 40), "val": (40, 55), "test": (55, 70)},
        {"train": (0, 55), "val": (55, 70), "test": (70, 85)},
        {"train": (0, 70), "val": (70, 85), "test": (85, 100)},
    ]


def test_too_many_folds_leave_no_training_rows():
    with pytest.raises(ConfigError, match=r"backtest\.folds: 6 folds .* fewer folds"):
        backtest.fold_ranges(100, 0.7, 0.15, 6)


def test_summarize_gives_mean_and_population_std():
    folds = [{"demand": {"mae": 1.0}}, {"demand": {"mae": 3.0}}]
    assert backtest.summarize(folds) == {"demand": {"mae": {"mean": 2.0, "std": 1.0}}}


@pytest.fixture
def params():
    return load_params(ROOT / "params.yaml")


def table(n: int = 300):
    return synthetic_table(n).assign(segment=np.zeros(n, dtype=np.int32))


def test_a_fold_never_reads_rows_after_its_test_period(params):
    ranges = backtest.fold_ranges(300, 0.7, 0.15, 3)[0]
    original = table()
    changed = original.copy()
    later = np.arange(len(changed)) >= ranges["test"][1]
    changed.loc[later, "Demand"] = changed.loc[later, "Demand"] * 5 + 1000
    a = backtest.prepare_fold(original, params, ranges)
    b = backtest.prepare_fold(changed, params, ranges)
    assert a["bundle"] == b["bundle"]
    np.testing.assert_array_equal(a["scaled"], b["scaled"])
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(a[name], b[name])


def test_a_fold_fits_its_scaler_on_its_own_training_rows(params):
    ranges = backtest.fold_ranges(300, 0.7, 0.15, 3)
    rows = table()
    first = backtest.prepare_fold(rows, params, ranges[0])["bundle"]
    last = backtest.prepare_fold(rows, params, ranges[2])["bundle"]
    demand = rows["Demand"]
    assert first["fit_rows"] == ranges[0]["train"][1]
    assert first["inputs"][0]["mean"] == pytest.approx(
        demand.iloc[: ranges[0]["train"][1]].mean()
    )
    assert last["inputs"][0]["mean"] == pytest.approx(
        demand.iloc[: ranges[2]["train"][1]].mean()
    )


def test_fold_windows_stay_inside_their_ranges(params):
    ranges = backtest.fold_ranges(300, 0.7, 0.15, 3)[1]
    fold = backtest.prepare_fold(table(), params, ranges)
    lookback = fold["bundle"]["lookback"]
    horizon = fold["bundle"]["max_horizon"]
    for name, (lo, hi) in ranges.items():
        assert (fold[name] - lookback + 1 >= lo).all()
        assert (fold[name] + horizon < hi).all()
