"""Reference forecasters (mtlstm.baselines) on tiny hand-built arrays.

No TensorFlow and no pipeline files: every series, bundle and split is built
here, so expected values can be worked out by hand.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from mtlstm import baselines, grid, metrics

MEAN, STD = 100.0, 2.0


def regression_spec(horizon: int = 1) -> dict:
    return {
        "name": "load",
        "type": "regression",
        "target": "Load",
        "horizon": horizon,
        "mean": MEAN,
        "std": STD,
    }


def class_spec(horizon: int = 1) -> dict:
    return {
        "name": "level",
        "type": "classification",
        "target": "Level",
        "horizon": horizon,
        "classes": ["low", "mid", "high"],
        "bins": None,
    }


def daily_series(days: int = 2) -> np.ndarray:
    """Scaled values 0, 1, .., 23 every day: raw = 100 + 2 * hour."""
    return np.tile(np.arange(24, dtype=np.float32), days)


def test_persistence_is_value_at_origin():
    raw = np.array([5.0, 7.0, 4.0, 9.0])
    assert_array_equal(baselines.persistence(raw, np.array([1, 3])), [7.0, 9.0])


def test_seasonal_naive_exact_on_daily_pattern():
    raw = metrics.original_units(daily_series(), regression_spec())
    ends = np.arange(23, 47)  # targets: rows 24..47, the whole second day
    forecast = baselines.seasonal_naive(raw, ends, horizon=1, season=24)
    assert_array_equal(forecast, raw[ends + 1])
    # horizon 3, season 24: the forecast for row e + 3 is row e - 21
    assert_array_equal(baselines.seasonal_naive(raw, np.array([30]), 3, 24), [raw[9]])


def test_score_baselines_seasonal_perfect_persistence_not():
    spec = regression_spec()
    bundle = {"lookback": 4, "tasks": [spec]}
    series = daily_series()
    scaled = series[:, None] / 23.0
    splits = {"train": np.arange(3, 20), "test": np.arange(23, 47)}
    scores = baselines.score_baselines(bundle, scaled, {"load": series}, splits)
    assert set(scores["load"]) == {"persistence", "seasonal_naive", "hgb_lag"}
    assert scores["load"]["seasonal_naive"] == {
        "mae": 0.0,
        "rmse": 0.0,
        "smape": 0.0,
        "persistence_fallbacks": 0,
    }
    # Persistence is off by one hour (2 units) on 23 windows and by 23 hours
    # (46 units) at midnight, where the daily pattern wraps from 23 to 0.
    persistence = scores["load"]["persistence"]
    assert persistence["mae"] == pytest.approx((23 * 2 + 46) / 24)
    assert persistence["rmse"] == pytest.approx(np.sqrt((23 * 4 + 46**2) / 24))


@pytest.mark.parametrize(
    ("season", "horizon", "ends", "match"),
    [
        (2, 3, [30], r"season \(2 steps\) must be >= horizon \(3 steps\)"),
        (0, 1, [30], r"season \(0 steps\) must be >= horizon"),
    ],
)
def test_seasonal_naive_rejects_bad_season(season, horizon, ends, match):
    raw = np.arange(48.0)
    with pytest.raises(ValueError, match=match):
        baselines.seasonal_naive(raw, np.array(ends), horizon, season)


def test_score_baselines_rejects_bad_season():
    bundle = {"lookback": 4, "tasks": [regression_spec(horizon=2)]}
    series = daily_series()
    splits = {"train": np.arange(3, 20), "test": np.arange(23, 46)}
    with pytest.raises(ValueError, match=r"must be >= horizon \(2 steps\)"):
        baselines.score_baselines(
            bundle, series[:, None], {"load": series}, splits, season=1
        )


def test_score_baselines_needs_train_and_test():
    bundle = {"lookback": 4, "tasks": [regression_spec()]}
    series = daily_series()
    with pytest.raises(ValueError, match=r"splits lacks \['train'\]"):
        baselines.score_baselines(
            bundle, series[:, None], {"load": series}, {"test": np.arange(23, 47)}
        )


def test_majority_is_most_frequent_training_class():
    proba = baselines.majority_proba(np.array([0, 2, 2, 1, 2]), 3, 3)
    assert_array_equal(proba, [[0, 0, 1]] * 3)
    # a tie goes to the lowest class index
    assert_array_equal(baselines.majority_proba(np.array([2, 1]), 1, 3), [[0, 1, 0]])


def test_classification_forecasts_exact():
    spec = class_spec()
    labels = np.array([0, 1, 1, 1, 2, 2, 0, 1, 2, 2, 0, 2], dtype=np.int32)
    scaled = np.zeros((12, 1), np.float32)
    splits = {"train": np.arange(1, 6), "test": np.array([7, 8, 9])}
    out = baselines.task_forecasts(spec, labels, scaled, splits, lookback=2)
    # training targets (rows 2..6): 1, 1, 2, 2, 0 -> tie 1/2, lowest index wins
    assert_array_equal(out["majority"], [[0, 1, 0]] * 3)
    assert_array_equal(out["persistence"], [[0, 1, 0], [0, 0, 1], [0, 0, 1]])
    assert out["hgb_lag"].shape == (3, 3)
    assert_allclose(out["hgb_lag"].sum(axis=1), 1.0)


def test_lag_features_are_lags_plus_origin_row():
    series = np.arange(10.0)
    scaled = np.arange(20.0).reshape(10, 2)
    x = baselines.lag_features(series, scaled, np.array([2, 5]), lookback=3)
    assert_array_equal(x, [[0, 1, 2, 4, 5], [3, 4, 5, 10, 11]])
    with pytest.raises(ValueError, match="fewer than lookback 3 rows"):
        baselines.lag_features(series, scaled, np.array([1]), lookback=3)


def ar_series(n: int = 600, seed: int = 0) -> np.ndarray:
    """x[t+1] = -0.8 x[t] + noise: learnable from the last lag, while
    persistence (which predicts x[t]) is wrong by ~1.8 |x[t]|."""
    rng = np.random.default_rng(seed)
    x = np.zeros(n, np.float32)
    for t in range(n - 1):
        x[t + 1] = -0.8 * x[t] + rng.normal(scale=0.3)
    return x


def ar_problem() -> tuple[dict, np.ndarray, np.ndarray, dict]:
    series = ar_series()
    bundle = {"lookback": 3, "tasks": [regression_spec()]}
    scaled = np.ones((len(series), 1), np.float32)
    splits = {"train": np.arange(2, 400), "test": np.arange(401, 599)}
    return bundle, series, scaled, splits


def test_hgb_beats_persistence_on_learnable_lag():
    bundle, series, scaled, splits = ar_problem()
    scores = baselines.score_baselines(bundle, scaled, {"load": series}, splits)
    hgb, last = scores["load"]["hgb_lag"], scores["load"]["persistence"]
    assert hgb["mae"] < 0.5 * last["mae"]
    assert hgb["rmse"] < 0.5 * last["rmse"]


def test_hgb_fitted_on_train_windows_only():
    bundle, series, scaled, splits = ar_problem()
    spec = bundle["tasks"][0]
    # The last training window (end 399) predicts row 400; rows after it
    # belong to validation/test and must not change the fitted model.
    corrupted = series.copy()
    corrupted[401:] = 1e6
    corrupted_scaled = scaled.copy()
    corrupted_scaled[401:] = -1e6
    fits = [
        baselines.fit_hgb(spec, s, x, splits["train"], 3, seed=0)
        for s, x in [(series, scaled), (corrupted, corrupted_scaled)]
    ]
    probe = baselines.lag_features(series, scaled, np.arange(2, 599), 3)
    assert_array_equal(fits[0].predict(probe), fits[1].predict(probe))
    assert fits[0].n_features_in_ == 3 + 1  # lookback lags + the origin row


def test_score_baselines_deterministic():
    bundle, series, scaled, splits = ar_problem()
    spec = class_spec()
    bundle = {"lookback": 3, "tasks": [*bundle["tasks"], spec]}
    targets = {"load": series, "level": np.digitize(series, [-0.3, 0.3])}
    first = baselines.score_baselines(bundle, scaled, targets, splits, seed=3)
    second = baselines.score_baselines(bundle, scaled, targets, splits, seed=3)
    assert first == second
    assert set(first["level"]) == {"majority", "persistence", "hgb_lag"}
    assert set(first["level"]["hgb_lag"]) == {"accuracy", "macro_f1", "log_loss"}


def test_class_absent_from_train_keeps_its_column():
    spec = class_spec()
    series = ar_series()
    labels = np.where(series > 0, 2, 0).astype(np.int32)  # class 1 never occurs
    scaled = np.ones((len(series), 1), np.float32)
    splits = {"train": np.arange(2, 400), "test": np.arange(401, 599)}
    out = baselines.task_forecasts(spec, labels, scaled, splits, lookback=3)
    for name in ("majority", "persistence", "hgb_lag"):
        assert out[name].shape == (198, 3), name
        assert_allclose(out[name].sum(axis=1), 1.0)
        assert_array_equal(out[name][:, 1], 0.0)
    # columns follow spec["classes"]: an alternating sign makes "high" (2)
    # likely exactly when the origin is "low" (0)
    origin_low = labels[splits["test"]] == 0
    assert np.mean(out["hgb_lag"][origin_low, 2] > 0.5) > 0.9


def test_single_training_class_still_gives_full_probabilities():
    spec = class_spec()
    labels = np.ones(40, np.int32)
    splits = {"train": np.arange(2, 30), "test": np.arange(31, 39)}
    out = baselines.task_forecasts(spec, labels, np.ones((40, 1)), splits, 3)
    assert_array_equal(out["hgb_lag"], [[0, 1, 0]] * 8)


def test_baselines_never_import_tensorflow():
    # A fresh interpreter: this test session may already have loaded TensorFlow.
    code = (
        "import sys, mtlstm.baselines; "
        "sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --- issue 14: one season earlier in time, and horizons above 1 ---------------


def test_seasonal_naive_reads_one_season_earlier_in_time_across_a_dropped_gap():
    # 60 days of hourly rows with a 72 h hole (dropped by long_gaps: break)
    # starting at hour 1200; the row after the hole is 72 steps later in time.
    times = pd.date_range("2024-01-01", periods=60 * 24, freq="h", tz="UTC")
    kept = np.r_[0:1200, 1272 : len(times)]
    times = times[kept]
    positions = grid.positions(times, "1h", "UTC")
    assert positions[1199] == 1199 and positions[1200] == 1272
    raw = np.asarray(kept, np.float64)  # each row holds its own grid hour
    ends = np.arange(1250, len(times) - 1)
    forecast = baselines.seasonal_naive(raw, ends, 1, 168, positions)
    target_hour = raw[ends + 1]
    season_hour = target_hour - 168
    in_hole = (season_hour >= 1200) & (season_hour < 1272)
    # Every forecast is the value of exactly 168 hours before its target ...
    assert_array_equal(forecast[~in_hole], season_hour[~in_hole])
    # ... and where that hour was dropped, persistence (the origin's value).
    assert in_hole.sum() == 72
    assert_array_equal(forecast[in_hole], raw[ends[in_hole]])


def test_season_rows_mark_times_before_the_series_and_in_holes():
    positions = np.array([0, 1, 2, 5, 6, 7])  # grid steps 3 and 4 were dropped
    rows = baselines.season_rows(np.array([2, 3, 4]), 1, 3, positions)
    # targets: rows 3, 4, 5 = steps 5, 6, 7; a season earlier: steps 2, 3, 4
    assert_array_equal(rows, [2, -1, -1])
    assert_array_equal(baselines.season_rows(np.array([0, 5]), 1, 3), [-1, 3])


def test_score_baselines_counts_persistence_fallbacks():
    spec = regression_spec()
    bundle = {"lookback": 4, "tasks": [spec]}
    series = daily_series(3)
    positions = np.r_[0:30, 40 : 72 + 10]  # a 10-step hole after row 29
    splits = {"train": np.arange(3, 20), "test": np.arange(40, 60)}
    scores = baselines.score_baselines(
        bundle, series[:, None], {"load": series}, splits, positions=positions
    )
    # targets at rows 41..60 = steps 51..70; 24 steps earlier: 27..46, of which
    # steps 30..39 (targets at steps 54..63) fall in the hole.
    assert scores["load"]["seasonal_naive"]["persistence_fallbacks"] == 10


def test_score_baselines_scores_row_e_plus_horizon():
    spec = regression_spec(horizon=2)
    bundle = {"lookback": 4, "tasks": [spec]}
    series = np.arange(60, dtype=np.float32)  # a ramp: persistence is off by h
    splits = {"train": np.arange(3, 30), "test": np.arange(30, 50)}
    scores = baselines.score_baselines(
        bundle, series[:, None], {"load": series}, splits, season=24
    )
    # raw = 100 + 2 * row: persistence misses row e + 2 by 2 * 2 = 4 units, and
    # the seasonal value (22 rows before the target's row) by 2 * 24 = 48.
    assert scores["load"]["persistence"]["mae"] == pytest.approx(4.0)
    assert scores["load"]["seasonal_naive"]["mae"] == pytest.approx(48.0)


def test_classification_baselines_score_row_e_plus_horizon():
    spec = class_spec(horizon=2)
    bundle = {"lookback": 2, "tasks": [spec]}
    labels = np.tile(np.array([0, 1, 2], dtype=np.int32), 20)
    splits = {"train": np.arange(1, 30), "test": np.arange(30, 57)}
    scores = baselines.score_baselines(
        bundle, labels[:, None].astype(np.float32), {"level": labels}, splits
    )
    # the class at e + 2 is never the class at e in a 0, 1, 2 cycle
    assert scores["level"]["persistence"]["accuracy"] == 0.0
