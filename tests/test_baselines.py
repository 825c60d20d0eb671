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
from conftest import make_project, run_stage_cli
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.ensemble import HistGradientBoostingRegressor

from mtlstm import baselines, grid, metrics
from mtlstm.errors import DataError
from mtlstm.io import load_npz, read_json, write_json, write_npy, write_npz

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
    series = daily_series(days=3)
    scaled = series[:, None] / 23.0
    # Validation too is forecast (and scored): its windows end a season in.
    splits = {
        "train": np.arange(3, 23),
        "val": np.arange(23, 47),
        "test": np.arange(47, 71),  # targets: rows 48..71, the whole third day
    }
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
    splits = {
        "train": np.arange(3, 16),
        "val": np.arange(16, 20),
        "test": np.arange(23, 46),
    }
    with pytest.raises(ValueError, match=r"must be >= horizon \(2 steps\)"):
        baselines.score_baselines(
            bundle, series[:, None], {"load": series}, splits, season=1
        )


@pytest.mark.parametrize(
    ("given", "match"),
    [
        (("val", "test"), r"splits lacks \['train'\]; it needs 'train', 'val' and"),
        (("train", "test"), r"splits lacks \['val'\]"),
        (("train",), r"splits lacks \['test', 'val'\]"),
    ],
)
def test_score_baselines_needs_train_val_and_test(given, match):
    bundle = {"lookback": 4, "tasks": [regression_spec()]}
    series = daily_series()
    ranges = {"train": (3, 16), "val": (16, 20), "test": (23, 47)}
    splits = {name: np.arange(*ranges[name]) for name in given}
    with pytest.raises(ValueError, match=match):
        baselines.score_baselines(bundle, series[:, None], {"load": series}, splits)


def test_majority_is_most_frequent_training_class():
    proba = baselines.majority_proba(np.array([0, 2, 2, 1, 2]), 3, 3)
    assert_array_equal(proba, [[0, 0, 1]] * 3)
    # a tie goes to the lowest class index
    assert_array_equal(baselines.majority_proba(np.array([2, 1]), 1, 3), [[0, 1, 0]])


def test_forecasts(spec, series, scaled, splits, lookback, seed=0):
    """Every baseline's test forecast, the booster chosen as the stage does."""
    hgb = baselines.choose_hgb(spec, series, scaled, splits, lookback, seed)
    return baselines.task_forecasts(
        spec, series, scaled, hgb, splits["train"], splits["test"], lookback
    )


test_forecasts.__test__ = False  # a helper, not a test


def test_classification_forecasts_exact():
    spec = class_spec()
    labels = np.array([0, 1, 1, 1, 2, 2, 0, 1, 2, 2, 0, 2], dtype=np.int32)
    scaled = np.zeros((12, 1), np.float32)
    splits = {
        "train": np.arange(1, 5),
        "val": np.array([5, 6]),
        "test": np.array([7, 8, 9]),
    }
    out = test_forecasts(spec, labels, scaled, splits, lookback=2)
    # training targets (rows 2..5): 1, 1, 2, 2 -> tie 1/2, lowest index wins
    assert_array_equal(out["majority"], [[0, 1, 0]] * 3)
    assert_array_equal(out["persistence"], [[0, 1, 0], [0, 0, 1], [0, 0, 1]])
    assert out["hgb_lag"].shape == (3, 3)
    assert_allclose(out["hgb_lag"].sum(axis=1), 1.0)
    assert_array_equal(out["hgb_lag"][:, 0], 0.0)  # class 0: never a training target


def test_lag_features_are_lags_plus_origin_row():
    series = np.arange(10.0)
    scaled = np.arange(20.0).reshape(10, 2)
    x = baselines.lag_features(series, scaled, np.array([2, 5]), lookback=3)
    assert_array_equal(x, [[0, 1, 2, 4, 5], [3, 4, 5, 10, 11]])
    with pytest.raises(ValueError, match="fewer than lookback 3 rows"):
        baselines.lag_features(series, scaled, np.array([1]), lookback=3)


def test_lag_features_read_known_future_columns_at_the_target_row():
    series = np.arange(10.0)
    scaled = np.arange(20.0).reshape(10, 2)
    ends = np.array([2, 5])
    # Column 1 at row e + 2 (rows 4 and 7), after the origin row, before the code.
    x = baselines.lag_features(series, scaled, ends, 3, known=((1,), 2))
    assert_array_equal(x, [[0, 1, 2, 4, 5, 9], [3, 4, 5, 10, 11, 15]])
    codes = np.arange(10) * 10
    x = baselines.lag_features(series, scaled, ends, 3, codes, known=((0, 1), 1))
    assert_array_equal(x[:, -3:], [[6, 7, 20], [12, 13, 50]])


def known_future_problem() -> tuple[dict, np.ndarray, np.ndarray, dict]:
    """The target at t + 1 is column 1 at t + 1 (a forecast published ahead)
    plus a little noise; nothing at t predicts it."""
    rng = np.random.default_rng(4)
    n = 600
    scaled = rng.normal(size=(n, 2)).astype(np.float32)
    series = np.zeros(n, np.float32)
    series[1:] = scaled[1:, 1] + 0.05 * rng.normal(size=n - 1)
    splits = {
        "train": np.arange(2, 360),
        "val": np.arange(361, 480),
        "test": np.arange(481, n - 1),
    }
    bundle = {"lookback": 3, "tasks": [regression_spec()]}
    return bundle, series, scaled, splits


def test_hgb_reads_known_future_inputs_the_bundle_declares():
    bundle, series, scaled, splits = known_future_problem()
    targets = {"load": series}
    blind = baselines.run_baselines(bundle, scaled, targets, splits)
    known = {**bundle, "known_future": {"names": ["f"], "features": [1], "steps": 1}}
    sighted = baselines.run_baselines(known, scaled, targets, splits)
    # Without the column at the target time the trees can only guess the mean.
    assert blind.test["load"]["hgb_lag"]["mae"] > 0.6 * STD
    assert sighted.test["load"]["hgb_lag"]["mae"] < 0.2 * STD
    assert sighted.hgb["load"].known_columns == (1,)
    assert sighted.hgb["load"].summary()["known_future_columns"] == 1
    assert "known_future_columns" not in blind.hgb["load"].summary()


def ar_series(n: int = 600, seed: int = 0) -> np.ndarray:
    """x[t+1] = -0.8 x[t] + noise: learnable from the last lag, while
    persistence (which predicts x[t]) is wrong by ~1.8 |x[t]|."""
    rng = np.random.default_rng(seed)
    x = np.zeros(n, np.float32)
    for t in range(n - 1):
        x[t + 1] = -0.8 * x[t] + rng.normal(scale=0.3)
    return x


def ar_problem(n: int = 600) -> tuple[dict, np.ndarray, np.ndarray, dict]:
    """Chronological train / val / test windows on an AR(1) series."""
    series = ar_series(n)
    bundle = {"lookback": 3, "tasks": [regression_spec()]}
    scaled = np.ones((len(series), 1), np.float32)
    a, b = int(n * 0.6), int(n * 0.8)
    splits = {
        "train": np.arange(2, a),
        "val": np.arange(a + 1, b),
        "test": np.arange(b + 1, n - 1),
    }
    return bundle, series, scaled, splits


def test_hgb_beats_persistence_on_learnable_lag():
    bundle, series, scaled, splits = ar_problem()
    run = baselines.run_baselines(bundle, scaled, {"load": series}, splits)
    for scores in (run.val["load"], run.test["load"]):
        hgb, last = scores["hgb_lag"], scores["persistence"]
        assert hgb["mae"] < 0.5 * last["mae"]
        assert hgb["rmse"] < 0.5 * last["rmse"]
    assert run.test == baselines.score_baselines(
        bundle, scaled, {"load": series}, splits
    )


def noisy_problem() -> tuple[dict, np.ndarray, np.ndarray, dict]:
    """A lag signal plus noise and pure-noise features: boosting over-fits
    after about ten trees, long before MAX_ITER, so early stopping has a real
    choice to make."""
    rng = np.random.default_rng(1)
    n = 700
    series = (ar_series(n, seed=2) + 0.3 * rng.normal(size=n)).astype(np.float32)
    scaled = rng.normal(size=(n, 2)).astype(np.float32)  # pure-noise features
    splits = {
        "train": np.arange(2, 400),
        "val": np.arange(401, 550),
        "test": np.arange(551, n - 1),
    }
    return {"lookback": 3, "tasks": [regression_spec()]}, series, scaled, splits


def fit_of(series, scaled, splits, seed=0):
    return baselines.fit_hgb(
        regression_spec(), series, scaled, splits["train"], splits["val"], 3, seed
    )


def test_hgb_iterations_minimise_the_validation_loss():
    _, series, scaled, splits = noisy_problem()
    fit = fit_of(series, scaled, splits)
    assert 1 <= fit.n_iter < fit.model.n_iter_ < baselines.MAX_ITER
    # Oracle: boost the same trees without early stopping and read the
    # validation squared error after every iteration.
    x, y = (
        baselines.lag_features(series, scaled, splits["val"], 3),
        series[splits["val"] + 1],
    )
    full = HistGradientBoostingRegressor(
        **baselines.HGB_PARAMS, max_iter=fit.model.n_iter_, random_state=0
    ).fit(
        baselines.lag_features(series, scaled, splits["train"], 3),
        series[splits["train"] + 1],
    )
    val_mse = [np.mean((p - y) ** 2) for p in full.staged_predict(x)]
    assert fit.n_iter == int(np.argmin(val_mse)) + 1
    # ... and stopping ends PATIENCE iterations after that best one.
    assert fit.model.n_iter_ == fit.n_iter + baselines.PATIENCE
    # The forecasts use the first n_iter trees only: a booster refitted with
    # exactly that many iterations forecasts the same.
    refit = HistGradientBoostingRegressor(
        **baselines.HGB_PARAMS, max_iter=fit.n_iter, random_state=0
    ).fit(
        baselines.lag_features(series, scaled, splits["train"], 3),
        series[splits["train"] + 1],
    )
    ends = splits["test"]
    forecast = baselines.predict_hgb(fit, regression_spec(), series, scaled, ends, 3)
    expected = refit.predict(baselines.lag_features(series, scaled, ends, 3))
    assert_allclose(forecast, expected * STD + MEAN, rtol=1e-12)
    assert fit.summary() == {
        "n_iter": fit.n_iter,
        "n_iter_fitted": fit.n_iter + baselines.PATIENCE,
        "max_iter": baselines.MAX_ITER,
    }


def test_hgb_early_stopping_reads_validation_never_test():
    _, series, scaled, splits = noisy_problem()
    fit = fit_of(series, scaled, splits)
    # Rows after the last validation target (the test windows' targets and
    # newest inputs) changed: the same iterations, the same trees.
    test_rows = np.arange(splits["val"][-1] + 2, len(series))
    other_test = series.copy()
    other_test[test_rows] = np.random.default_rng(5).normal(size=test_rows.size)
    other_scaled = scaled.copy()
    other_scaled[test_rows] = -1e6
    same = fit_of(other_test, other_scaled, splits)
    assert same.n_iter == fit.n_iter
    assert same.model.n_iter_ == fit.model.n_iter_
    probe = baselines.lag_features(series, scaled, splits["val"], 3)
    assert_array_equal(same.model.predict(probe), fit.model.predict(probe))
    # Validation targets changed: the choice follows them. Targets that are
    # the booster's own late-stage forecasts make its later trees look best.
    other_val = series.copy()
    rows = splits["val"] + 1
    x_val = baselines.lag_features(series, scaled, splits["val"], 3)
    other_val[rows] = fit.model.predict(x_val)
    moved = fit_of(other_val, scaled, splits)
    assert moved.n_iter > fit.n_iter


def test_chosen_hgb_stops_early_on_validation_never_test():
    """choose_hgb (what run_baselines and the stage call) hands fit_hgb the
    validation windows for early stopping: its iterations are those fit_hgb
    finds on validation, and test rows do not move them. Catches choose_hgb
    passing splits["test"] as fit_hgb's validation windows."""
    _, series, scaled, splits = noisy_problem()
    spec = regression_spec()
    chosen = baselines.choose_hgb(spec, series, scaled, splits, 3, seed=0)
    # Oracle: the chosen option fitted directly on the validation windows.
    direct = baselines.fit_hgb(
        spec,
        series,
        scaled,
        splits["train"],
        splits["val"],
        3,
        seed=0,
        loss=chosen.loss,
        target=chosen.target,
    )
    assert chosen.n_iter == direct.n_iter
    assert chosen.model.n_iter_ == direct.model.n_iter_
    # Every row after the last validation target replaced: nothing chosen moves.
    test_rows = np.arange(splits["val"][-1] + 2, len(series))
    other = series.copy()
    other[test_rows] = np.random.default_rng(7).normal(scale=5.0, size=test_rows.size)
    again = baselines.choose_hgb(spec, other, scaled, splits, 3, seed=0)
    assert again.summary() == chosen.summary()


def test_hgb_fitted_on_train_windows_only():
    _, series, scaled, splits = ar_problem()
    spec = regression_spec()
    # The last validation window (end 479) predicts row 480: rows after it
    # (test targets, the newest test inputs) must not change the fitted model.
    after_val = splits["val"][-1] + 2
    corrupted = series.copy()
    corrupted[after_val:] = 1e6
    corrupted_scaled = scaled.copy()
    corrupted_scaled[after_val:] = -1e6
    fits = [
        baselines.fit_hgb(spec, s, x, splits["train"], splits["val"], 3, seed=0)
        for s, x in [(series, scaled), (corrupted, corrupted_scaled)]
    ]
    probe = baselines.lag_features(series, scaled, np.arange(2, 599), 3)
    assert_array_equal(fits[0].model.predict(probe), fits[1].model.predict(probe))
    assert fits[0].n_iter == fits[1].n_iter
    assert fits[0].model.n_features_in_ == 3 + 1  # lookback lags + the origin row


def imbalanced_problem(weak_signal: bool) -> tuple[dict, np.ndarray, np.ndarray, dict]:
    """Classes 0 and 1 are told apart by one feature; class 2 is rare (~5%).
    With ``weak_signal`` its only hint is a noisy second feature, so the
    unweighted booster rarely dares to predict it (macro-F1 suffers) and
    balancing helps; without, every class is exactly predictable and
    weighting cannot improve on that."""
    rng = np.random.default_rng(3)
    n = 1500
    side, hint = rng.normal(size=n), rng.normal(size=n)
    labels = (side > 0).astype(np.int32)
    labels[hint > 1.65] = 2
    if weak_signal:
        hint = hint + rng.normal(scale=0.8, size=n)
    # The feature row at origin e predicts the label at e + 1.
    scaled = np.roll(np.stack([side, hint], axis=1), -1, axis=0).astype(np.float32)
    splits = {
        "train": np.arange(2, 900),
        "val": np.arange(901, 1200),
        "test": np.arange(1201, n - 1),
    }
    return {"lookback": 3, "tasks": [class_spec()]}, labels, scaled, splits


@pytest.mark.parametrize(("weak", "chosen"), [(True, "balanced"), (False, "none")])
def test_class_weighting_chosen_by_validation_macro_f1(weak, chosen):
    bundle, labels, scaled, splits = imbalanced_problem(weak)
    spec = class_spec()
    fit = baselines.choose_hgb(spec, labels, scaled, splits, 3, seed=0)
    summary = fit.summary()
    assert summary["class_weight"] == chosen
    f1 = summary["val_macro_f1"]
    assert set(f1) == {"none", "balanced"}
    if chosen == "balanced":
        assert f1["balanced"] > f1["none"]
    else:
        assert f1["balanced"] <= f1["none"]
    # The recorded validation macro-F1 is the chosen booster's own.
    val = baselines.run_baselines(bundle, scaled, {"level": labels}, splits).val
    assert val["level"]["hgb_lag"]["macro_f1"] == f1[chosen]
    assert (fit.class_weight or "none") == chosen


def noise_problem(skewed: bool) -> tuple[dict, np.ndarray, np.ndarray, dict]:
    """The target is a function of two known inputs' last values plus noise.
    ``skewed``: ``x1 + exponential noise``, whose median (what MAE rewards)
    lies 1 - ln 2 = 0.31 below the mean that squared error fits. Otherwise
    ``x0**2 + x1`` with small normal noise: median and mean agree, and
    squared error, whose gradients carry the residuals' size rather than
    their sign, fits the curve more closely in the trees it is given."""
    rng = np.random.default_rng(6)
    n = 2000
    inputs = rng.normal(size=(n, 2))
    if skewed:
        target = inputs[:, 1] + rng.exponential(size=n)
    else:
        target = inputs[:, 0] ** 2 + inputs[:, 1] + rng.normal(scale=0.1, size=n)
    series = np.zeros(n, np.float32)
    series[1:] = target[:-1]  # the inputs' row e predicts the target at e + 1
    splits = {
        "train": np.arange(2, 1200),
        "val": np.arange(1201, 1600),
        "test": np.arange(1601, n - 1),
    }
    bundle = {"lookback": 3, "tasks": [regression_spec()]}
    return bundle, series, inputs.astype(np.float32), splits


@pytest.mark.parametrize(
    ("skewed", "chosen"), [(True, "absolute_error"), (False, "squared_error")]
)
def test_regression_loss_chosen_by_validation_mae(skewed, chosen):
    bundle, series, scaled, splits = noise_problem(skewed)
    fit = baselines.choose_hgb(regression_spec(), series, scaled, splits, 3, seed=0)
    summary = fit.summary()
    assert summary["loss"] == chosen == fit.loss
    mae = summary["val_mae"]
    # Each loss on the level and on the change; i.i.d. noise: the level wins.
    changes = {f"change {loss}" for loss in baselines.REGRESSION_LOSSES}
    assert set(mae) == set(baselines.REGRESSION_LOSSES) | changes
    assert summary["target"] == fit.target == "level"
    other = next(loss for loss in baselines.REGRESSION_LOSSES if loss != chosen)
    # Margins of 4% or more here, not a coin toss between near-equal fits.
    assert mae[chosen] < 0.97 * mae[other]
    # The recorded validation MAE is the chosen booster's own.
    val = baselines.run_baselines(bundle, scaled, {"load": series}, splits).val
    assert val["load"]["hgb_lag"]["mae"] == pytest.approx(mae[chosen], rel=1e-12)
    assert "class_weight" not in summary


def test_a_drifting_series_gets_the_booster_of_its_change():
    """A random walk with drift leaves the training range: trees fitted on
    the level cannot forecast a level they never saw, and those fitted on the
    change from the last value can. Validation chooses the change, and its
    forecast is the last value plus the predicted change."""
    rng = np.random.default_rng(3)
    n = 1600
    walk = np.cumsum(0.05 + rng.normal(scale=0.1, size=n)).astype(np.float32)
    scaled = walk[:, None]
    splits = {
        "train": np.arange(2, 1000),
        "val": np.arange(1000, 1300),
        "test": np.arange(1300, n - 1),
    }
    spec = regression_spec()
    fit = baselines.choose_hgb(spec, walk, scaled, splits, 3, seed=0)
    mae = fit.summary()["val_mae"]
    assert fit.target == "change"
    best_change = min(mae[f"change {loss}"] for loss in baselines.REGRESSION_LOSSES)
    assert best_change < 0.5 * min(mae[loss] for loss in baselines.REGRESSION_LOSSES)
    ends = splits["test"]
    got = baselines.predict_hgb(fit, spec, walk, scaled, ends, 3)
    x = baselines.lag_features(walk, scaled, ends, 3)
    change = list(fit.model.staged_predict(x))[fit.n_iter - 1]
    expected = (walk[ends] + change) * spec["std"] + spec["mean"]
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_a_change_target_is_for_regression_only():
    bundle, labels, scaled, splits = imbalanced_problem(weak_signal=True)
    spec = bundle["tasks"][0]
    with pytest.raises(ValueError, match="change \\(regression only\\)"):
        baselines.fit_hgb(
            spec, labels, scaled, splits["train"], splits["val"], 3, 0, target="change"
        )


def test_hgb_classifier_beats_persistence_on_validation():
    bundle, labels, scaled, splits = imbalanced_problem(weak_signal=True)
    run = baselines.run_baselines(bundle, scaled, {"level": labels}, splits)
    val = run.val["level"]
    assert val["hgb_lag"]["log_loss"] < val["persistence"]["log_loss"]
    assert val["hgb_lag"]["macro_f1"] > val["persistence"]["macro_f1"]
    assert set(run.forecasts["level"]) == {"majority", "persistence", "hgb_lag"}
    assert run.forecasts["level"]["hgb_lag"].shape == (len(splits["test"]), 3)


def test_fit_hgb_errors():
    _, series, scaled, splits = ar_problem()
    with pytest.raises(ValueError, match="class_weight applies to classification"):
        baselines.fit_hgb(
            regression_spec(),
            series,
            scaled,
            splits["train"],
            splits["val"],
            3,
            seed=0,
            class_weight="balanced",
        )
    with pytest.raises(ValueError, match="loss applies to regression tasks only"):
        baselines.fit_hgb(
            class_spec(),
            np.where(series > 0, 1, 0).astype(np.int32),
            scaled,
            splits["train"],
            splits["val"],
            3,
            seed=0,
            loss="absolute_error",
        )
    with pytest.raises(DataError, match=r"val.npy: task 'load' has no validation"):
        baselines.fit_hgb(
            regression_spec(), series, scaled, splits["train"], np.array([], int), 3, 0
        )
    labels = np.where(series > 0, 2, 0).astype(np.int32)
    labels[splits["val"] + 1] = 1  # validation holds only a class never trained on
    with pytest.raises(DataError, match="only classes that no training window"):
        baselines.fit_hgb(
            class_spec(), labels, scaled, splits["train"], splits["val"], 3, 0
        )


def test_score_baselines_deterministic():
    bundle, series, scaled, splits = ar_problem()
    spec = class_spec()
    bundle = {"lookback": 3, "tasks": [*bundle["tasks"], spec]}
    targets = {"load": series, "level": np.digitize(series, [-0.3, 0.3])}
    first = baselines.run_baselines(bundle, scaled, targets, splits, seed=3)
    second = baselines.run_baselines(bundle, scaled, targets, splits, seed=3)
    assert first.test == second.test
    assert first.val == second.val
    assert {t: f.summary() for t, f in first.hgb.items()} == {
        t: f.summary() for t, f in second.hgb.items()
    }
    for task, by_name in first.forecasts.items():
        for name, output in by_name.items():
            assert_array_equal(output, second.forecasts[task][name])
    assert set(first.test["level"]) == {"majority", "persistence", "hgb_lag"}
    assert set(first.test["level"]["hgb_lag"]) == {"accuracy", "macro_f1", "log_loss"}


def test_class_absent_from_train_keeps_its_column():
    spec = class_spec()
    _, series, scaled, splits = ar_problem()
    labels = np.where(series > 0, 2, 0).astype(np.int32)  # class 1 never occurs
    labels[splits["val"][:5] + 1] = 1  # ... except in a few validation windows
    out = test_forecasts(spec, labels, scaled, splits, lookback=3)
    n = len(splits["test"])
    for name in ("majority", "persistence", "hgb_lag"):
        assert out[name].shape == (n, 3), name
        assert_allclose(out[name].sum(axis=1), 1.0)
        assert_array_equal(out[name][:, 1], 0.0)
    # columns follow spec["classes"]: an alternating sign makes "high" (2)
    # likely exactly when the origin is "low" (0)
    origin_low = labels[splits["test"]] == 0
    assert np.mean(out["hgb_lag"][origin_low, 2] > 0.5) > 0.9


def test_single_training_class_still_gives_full_probabilities():
    spec = class_spec()
    labels = np.ones(40, np.int32)
    splits = {
        "train": np.arange(2, 25),
        "val": np.arange(26, 30),
        "test": np.arange(31, 39),
    }
    out = test_forecasts(spec, labels, np.ones((40, 1)), splits, 3)
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
    splits = {
        "train": np.arange(3, 20),
        "val": np.arange(20, 29),
        "test": np.arange(40, 60),
    }
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
    splits = {
        "train": np.arange(3, 20),
        "val": np.arange(20, 28),
        "test": np.arange(30, 50),
    }
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
    splits = {
        "train": np.arange(1, 20),
        "val": np.arange(20, 28),
        "test": np.arange(30, 57),
    }
    scores = baselines.score_baselines(
        bundle, labels[:, None].astype(np.float32), {"level": labels}, splits
    )
    # the class at e + 2 is never the class at e in a 0, 1, 2 cycle
    assert scores["level"]["persistence"]["accuracy"] == 0.0


# --- the stage ------------------------------------------------------------------


def test_stage_writes_scores_choices_and_forecasts_and_warns(tmp_path, raw_params):
    """stages/baselines.py on hand-written windows: a steady upward trend that
    turns down where validation starts. Persistence follows it; boosting on
    the level or on the change learned only the rise (+0.01 a row), so it
    loses to persistence on validation and the stage says so."""
    n, lookback = 400, 3
    rows = np.arange(n)
    # Scaled target: +0.01 per row up to row 280, then -0.01 per row.
    series = (np.where(rows <= 280, rows, 560 - rows) / 100).astype(np.float32)
    spec = {**regression_spec(), "name": "demand"}
    bundle = {
        "lookback": lookback,
        "tasks": [spec],
        "ingest": {"freq": "1h"},
        "timezone": "UTC",
    }
    splits = {
        "train": np.arange(2, 280),
        "val": np.arange(281, 340),
        "test": np.arange(341, n - 1),
    }
    make_project(tmp_path, raw_params)
    write_json(tmp_path / "data/windows/preprocess.json", bundle)
    times = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    write_npy(tmp_path / "data/windows/times.npy", times.as_unit("ns").asi8)
    write_npy(tmp_path / "data/windows/scaled.npy", series[:, None])
    write_npz(tmp_path / "data/windows/targets.npz", {"demand": series})
    for name, ends in splits.items():
        write_npy(tmp_path / f"data/split/{name}.npy", ends)

    proc = run_stage_cli("baselines", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (
        "baselines: warning: demand: gradient boosting's validation mae" in proc.stdout
    )
    assert "is no better than persistence's 0.02" in proc.stdout
    test = read_json(tmp_path / "metrics/baselines.json")
    val = read_json(tmp_path / "metrics/baselines_val.json")
    assert list(test["demand"]) == ["persistence", "seasonal_naive", "hgb_lag"]
    # persistence is off by one step (0.01 scaled = 0.02 original) everywhere
    assert val["demand"]["val"]["persistence"]["mae"] == pytest.approx(0.02)
    assert test["demand"]["persistence"]["mae"] == pytest.approx(0.02)
    assert val["demand"]["hgb_lag"]["max_iter"] == baselines.MAX_ITER
    # The loss validation chose is recorded and said, next to its iterations.
    loss = val["demand"]["hgb_lag"]["loss"]
    assert loss in baselines.REGRESSION_LOSSES
    target = val["demand"]["hgb_lag"]["target"]
    assert target in baselines.REGRESSION_TARGETS
    assert set(val["demand"]["hgb_lag"]["val_mae"]) == {
        loss if target == "level" else f"{target} {loss}"
        for target in baselines.REGRESSION_TARGETS
        for loss in baselines.REGRESSION_LOSSES
    }
    assert f", target {target}, loss {loss} (chosen on validation)" in proc.stdout
    forecasts = load_npz(tmp_path / "predictions/baselines.npz")
    assert set(forecasts) == {
        "ends",
        "demand.persistence",
        "demand.seasonal_naive",
        "demand.hgb_lag",
    }
    assert_array_equal(forecasts["ends"], splits["test"])
    actual = metrics.original_units(series, spec)[splits["test"] + 1]
    for name, forecast in forecasts.items():
        if name != "ends":
            baseline = name.split(".")[1]
            scores = metrics.score_task(spec, actual, forecast)
            reported = dict(test["demand"][baseline])
            reported.pop("persistence_fallbacks", None)  # a count, not a score
            assert scores == reported
