"""Horizon ranges and quantiles without TensorFlow: the task shape
(mtlstm.tasks), its params.yaml form, targets gathered per step across gaps
and split boundaries, per-step baselines, pinball loss and interval coverage.
Every expected number is worked out by hand in the comments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import write_params
from numpy.testing import assert_allclose, assert_array_equal

from mtlstm import baselines, metrics, tasks, window
from mtlstm.config import Features, Task, load_params
from mtlstm.errors import ConfigError
from mtlstm.split import split_windows


def load(tmp_path, raw):
    return load_params(write_params(tmp_path, raw))


# --- params.yaml -----------------------------------------------------------------


def test_a_range_and_quantiles_parse(tmp_path, raw_params):
    raw_params["tasks"]["demand"].update(horizon=[1, 24], quantiles=[0.1, 0.5, 0.9])
    raw_params["tasks"]["temp_class"]["horizon"] = [2, 5]
    p = load(tmp_path, raw_params)
    assert p.tasks["demand"].horizon == [1, 24]
    assert p.tasks["demand"].quantiles == [0.1, 0.5, 0.9]
    assert p.tasks["temp_class"].horizon == [2, 5]
    assert p.tasks["temp_class"].quantiles is None


@pytest.mark.parametrize(
    ("horizon", "message"),
    [
        ([1], r"tasks\.demand\.horizon: a range is \[first, last\] with 1 <= first"),
        ([3, 2], r"tasks\.demand\.horizon: a range is \[first, last\]"),
        ([0, 2], r"tasks\.demand\.horizon: a range is \[first, last\]"),
        ([1, 2, 3], r"tasks\.demand\.horizon: a range is \[first, last\]"),
        ([1, 2.5], r"tasks\.demand\.horizon\[1\]: expected an integer, got 2\.5"),
        ([1, True], r"tasks\.demand\.horizon\[1\]: expected an integer, got True"),
        (2.5, r"tasks\.demand\.horizon: expected an integer or a list, got 2\.5"),
        ("1-24", r"tasks\.demand\.horizon: expected an integer or a list, got '1-24'"),
        (None, r"tasks\.demand\.horizon: expected an integer or a list, got null"),
        (0, r"tasks\.demand\.horizon: must be >= 1, got 0"),
        ([1, 10_001], r"tasks\.demand\.horizon: at most 10000 steps ahead"),
    ],
)
def test_bad_horizons_name_the_key(tmp_path, raw_params, horizon, message):
    raw_params["tasks"]["demand"]["horizon"] = horizon
    raw_params["baselines"]["season"] = 20_000
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, raw_params)


@pytest.mark.parametrize(
    ("quantiles", "message"),
    [
        ([0.1, 0.9], r"tasks\.demand\.quantiles: must include 0\.5"),
        ([0.5, 0.1], r"tasks\.demand\.quantiles: list levels strictly between"),
        ([0.0, 0.5], r"tasks\.demand\.quantiles: list levels strictly between"),
        ([0.5, 1.0], r"tasks\.demand\.quantiles: list levels strictly between"),
        ([0.5, 0.5], r"tasks\.demand\.quantiles: list levels strictly between"),
        ([], r"tasks\.demand\.quantiles: list levels strictly between"),
        (0.5, r"tasks\.demand\.quantiles: expected a list, got 0\.5"),
    ],
)
def test_bad_quantiles_name_the_key(tmp_path, raw_params, quantiles, message):
    raw_params["tasks"]["demand"]["quantiles"] = quantiles
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, raw_params)


def test_quantiles_are_for_regression_only(tmp_path, raw_params):
    raw_params["tasks"]["temp_class"]["quantiles"] = [0.1, 0.5, 0.9]
    with pytest.raises(
        ConfigError, match=r"tasks\.temp_class\.quantiles: only for regression tasks"
    ):
        load(tmp_path, raw_params)


def test_a_quantile_task_takes_no_other_loss(tmp_path, raw_params):
    raw_params["tasks"]["demand"]["quantiles"] = [0.1, 0.5, 0.9]
    raw_params["train"]["losses"] = {"demand": "mae"}
    with pytest.raises(
        ConfigError, match=r"train\.losses\.demand: a task with quantiles is trained"
    ):
        load(tmp_path, raw_params)


def test_season_must_reach_the_last_step_of_a_range(tmp_path, raw_params):
    raw_params["tasks"]["demand"]["horizon"] = [1, 25]
    with pytest.raises(
        ConfigError,
        match=r"baselines\.season: 24 steps is shorter than the longest regression "
        r"horizon \(25\)",
    ):
        load(tmp_path, raw_params)
    raw_params["tasks"]["demand"]["horizon"] = [1, 24]
    load(tmp_path, raw_params)


# --- the task shape ------------------------------------------------------------


def spec(horizon, kind="regression", **extra) -> dict:
    out = {"name": "t", "type": kind, "horizon": horizon, **extra}
    if kind == "classification":
        out.setdefault("classes", ["a", "b", "c"])
    return out


def test_steps_of_a_scalar_and_of_a_range():
    assert_array_equal(tasks.steps(spec(3)), [3])
    assert_array_equal(tasks.steps(spec([2, 5])), [2, 3, 4, 5])
    assert tasks.n_steps(spec([2, 5])) == 4 and tasks.last_step(spec([2, 5])) == 5
    assert not tasks.is_range(spec(3)) and tasks.is_range(spec([3, 3]))
    assert tasks.max_horizon([spec(7), spec([1, 4])]) == 7
    assert tasks.describe(spec(1)) == "1 step ahead"
    assert tasks.describe(spec(3)) == "3 steps ahead"
    assert tasks.describe(spec([1, 24])) == "steps 1-24 ahead"


def test_central_intervals_pair_q_with_one_minus_q():
    s = spec(1, quantiles=[0.05, 0.1, 0.25, 0.5, 0.9, 0.95])
    # 0.05/0.95 (90%) and 0.1/0.9 (80%); 0.25 has no 0.75
    assert tasks.intervals(s) == [(0, 5, 0.9), (1, 4, 0.8)]
    assert [tasks.level_name(level) for *_, level in tasks.intervals(s)] == [
        "90",
        "80",
    ]
    assert tasks.level_name(0.995) == "99_5"
    assert tasks.quantile_name(0.1) == "q0.1"
    assert tasks.median_index(s) == 3
    assert tasks.intervals(spec(1)) == []


def test_with_steps_and_squeezed_round_trip_and_keep_scalar_files_as_they_were():
    flat = np.arange(4.0)
    point = tasks.with_steps(spec(2), flat)
    assert point.shape == (4, 1)
    assert_array_equal(tasks.squeezed(spec(2), point), flat)  # stored as before
    proba = np.arange(12.0).reshape(4, 3)
    c = spec(1, "classification")
    assert tasks.with_steps(c, proba).shape == (4, 1, 3)
    assert_array_equal(tasks.squeezed(c, tasks.with_steps(c, proba)), proba)
    r = spec([1, 2], "classification")
    per_step = np.arange(24.0).reshape(4, 2, 3)
    assert_array_equal(tasks.squeezed(r, per_step), per_step)  # ranges keep steps


# --- targets gathered per step, across a gap and a split boundary ----------------


def gap_table() -> pd.DataFrame:
    """30 hourly rows in two segments: a long gap after row 11 (rows 0..11,
    then 12..29). The target z holds 100 + row, so each gathered value names
    the row it came from."""
    times = pd.date_range("2024-01-01", periods=30, freq="1h", tz="UTC")
    times = times.where(np.arange(30) < 12, times + pd.Timedelta(hours=10))
    rows = np.arange(30, dtype=np.float64)
    return pd.DataFrame(
        {
            "time": times,
            "x": np.sin(rows),
            "z": 100.0 + rows,
            "segment": np.where(rows < 12, 0, 1),
        }
    )


def test_windows_and_targets_of_a_range_across_a_gap_and_split_boundaries():
    table = gap_table()
    features = Features(columns=["x"], calendar=[], timezone="UTC")
    task_set = {
        "level": Task(type="regression", target="z", horizon=[1, 4]),
        "next": Task(type="regression", target="z", horizon=2),
    }
    bundle = window.fit(table.iloc[:15], features, task_set, lookback=3)
    assert bundle["max_horizon"] == 4  # the range's last step
    assert [t["horizon"] for t in bundle["tasks"]] == [[1, 4], 2]
    ends = window.window_ends(table["segment"].to_numpy(), 3, 4)
    # A window spans rows e - 2 .. e + 4 inside one segment: e in 2..7
    # (segment 0, rows 0..11) and 14..25 (segment 1, rows 12..29). Window 8
    # (targets 9..12) would cross the gap; 26 (target row 30) the end.
    assert_array_equal(ends, [*range(2, 8), *range(14, 26)])
    parts = split_windows(ends, 30, 3, 4, train=0.5, val=0.25)
    # rows: train 0..14, val 15..21, test 22..29. Window 14 (rows 12..18)
    # crosses the train/val boundary, 18..23 the val/test one: all dropped.
    assert_array_equal(parts["train"], range(2, 8))
    assert_array_equal(parts["val"], [17])
    assert_array_equal(parts["test"], [24, 25])
    per_row = window.targets(table, bundle)["level"]
    level = bundle["tasks"][0]
    raw = metrics.original_units(per_row, level)
    assert_allclose(raw, table["z"], rtol=1e-6)  # scaled float32, unscaled
    # every step of every kept window reads row e + step, never across a break
    assert_allclose(
        tasks.gather(raw, parts["train"], level),
        [[100 + e + s for s in (1, 2, 3, 4)] for e in range(2, 8)],
        rtol=1e-6,
    )
    assert_allclose(tasks.gather(raw, parts["val"], level), [[118, 119, 120, 121]])
    assert_allclose(
        metrics.actuals(level, per_row, parts["test"]),
        [[125, 126, 127, 128], [126, 127, 128, 129]],
        rtol=1e-6,
    )
    nxt = bundle["tasks"][1]  # a one-step task beside the range reads e + 2
    next_rows = window.targets(table, bundle)["next"]
    assert_allclose(
        metrics.actuals(nxt, next_rows, parts["test"]), [[126], [127]], rtol=1e-6
    )


# --- scores: pooled, per step, pinball and coverage ------------------------------


def test_pooled_scores_are_the_mean_of_per_step_scores():
    s = spec([1, 2])
    actual = np.array([[10.0, 20.0], [30.0, 40.0], [50.0, 60.0]])
    forecast = actual + np.array([[1.0, -4.0], [3.0, 0.0], [-2.0, 2.0]])
    per_step = metrics.step_scores(s, actual, forecast)
    # step 1: |1|, |3|, |2| -> 2; step 2: 4, 0, 2 -> 2
    assert per_step["mae"] == [2.0, 2.0]
    assert metrics.score_task(s, actual, forecast)["mae"] == 2.0
    # RMSE per step: sqrt(14 / 3), sqrt(20 / 3); pooled sqrt(34 / 6)
    assert_allclose(per_step["rmse"], [np.sqrt(14 / 3), np.sqrt(20 / 3)])
    assert metrics.score_task(s, actual, forecast)["rmse"] == pytest.approx(
        np.sqrt(34 / 6)
    )
    # each window's loss is the mean of its steps' absolute errors
    assert_array_equal(metrics.window_losses(s, actual, forecast), [2.5, 1.5, 2.0])


def test_pinball_coverage_and_width_on_a_hand_built_case():
    s = spec(1, quantiles=[0.1, 0.5, 0.9])
    actual = np.array([[10.0], [14.0]])
    levels = np.array([[[8.0, 10.0, 13.0]], [[8.0, 10.0, 13.0]]])
    # y = 10: q0.1 0.1 * 2 = 0.2, q0.5 0, q0.9 0.1 * 3 = 0.3 -> 0.5
    # y = 14: 0.1 * 6 = 0.6, 0.5 * 4 = 2.0, 0.9 * 1 = 0.9 -> 3.5
    assert_allclose(
        metrics.pinball_losses(actual, levels, [0.1, 0.5, 0.9]),
        [[[0.2, 0.0, 0.3]], [[0.6, 2.0, 0.9]]],
    )
    assert_allclose(metrics.window_pinball(s, actual, levels), [0.5 / 3, 3.5 / 3])
    scores = metrics.quantile_scores(s, actual, levels)
    # 10 lies in [8, 13], 14 does not; the interval is 5 wide
    assert scores == pytest.approx(
        {"pinball": 4.0 / 6, "coverage_80": 0.5, "width_80": 5.0}
    )
    # bounds count as inside
    edge = metrics.quantile_scores(s, np.array([[8.0], [13.0]]), levels)
    assert edge["coverage_80"] == 1.0


def test_model_output_of_a_quantile_head_is_its_median_in_original_units():
    s = spec([1, 2], quantiles=[0.1, 0.5, 0.9], mean=10.0, std=2.0)
    out = np.array([[[-1.0, 0.0, 1.0], [0.0, 0.5, 2.0]]], dtype=np.float32)
    assert_array_equal(metrics.model_output(out, s), [[10.0, 11.0]])
    assert_array_equal(
        metrics.model_quantiles(out, s), [[[8.0, 10.0, 12.0], [10.0, 11.0, 14.0]]]
    )


# --- baselines per step ----------------------------------------------------------


def test_per_step_persistence_seasonal_naive_and_naive_interval():
    s = {**spec([1, 3], quantiles=[0.1, 0.5, 0.9]), "mean": 0.0, "std": 1.0}
    raw = np.arange(100, dtype=np.float64) ** 1.5  # convex: residuals grow
    series = raw.astype(np.float32)
    scaled = series[:, None] / 1000
    splits = {
        "train": np.arange(10, 50),
        "val": np.arange(51, 60),
        "test": np.array([70, 80]),
    }
    fits = baselines.choose_lag_model(s, series, scaled, splits, 4, seed=0)
    assert isinstance(fits, baselines.StepFits) and fits.steps == [1, 2, 3]
    summary = fits.summary()
    assert summary["steps"] == [1, 2, 3] and len(summary["n_iter"]) == 3
    out = baselines.task_forecasts(
        s, series, scaled, fits, splits["train"], splits["test"], 4, season=5
    )
    raw = series.astype(np.float64)
    # persistence repeats the origin's value at every step
    assert_array_equal(out["persistence"], [[raw[70]] * 3, [raw[80]] * 3])
    # seasonal naive: one season (5 rows) before each target row e + step
    assert_array_equal(
        out["seasonal_naive"],
        [[raw[66], raw[67], raw[68]], [raw[76], raw[77], raw[78]]],
    )
    assert out["hgb_lag"].shape == (2, 3)
    # naive interval: persistence + per-step empirical quantiles of the
    # training windows' residuals y[e + step] - y[e]
    levels = baselines.naive_interval(s, raw, splits["train"], splits["test"])
    for i, step in enumerate((1, 2, 3)):
        residuals = raw[np.arange(10, 50) + step] - raw[np.arange(10, 50)]
        expected = np.quantile(residuals, [0.1, 0.5, 0.9])
        assert_allclose(levels[0, i], raw[70] + expected)
        assert_allclose(levels[1, i], raw[80] + expected)
    assert_allclose(out["naive_interval"], levels[..., 1])


def run_two_step_baselines(series: np.ndarray, splits: dict) -> baselines.BaselineRun:
    """run_baselines on one series, task "load" at steps 1 and 2 with an 80%
    interval, lookback 4, season 24."""
    s = {**spec([1, 2], quantiles=[0.1, 0.5, 0.9]), "name": "load"}
    s |= {"mean": 0.0, "std": 1.0}
    bundle = {"lookback": 4, "tasks": [s]}
    return baselines.run_baselines(
        bundle, series[:, None], {"load": series}, splits, season=24
    )


def test_per_step_fallbacks_and_scores_in_run_baselines():
    series = np.arange(60, dtype=np.float32)  # a ramp: persistence off by step
    splits = {
        "train": np.arange(3, 20),
        "val": np.arange(22, 30),
        "test": np.arange(32, 50),
    }
    run = run_two_step_baselines(series, splits)
    test = run.test["load"]
    # persistence misses step 1 by 1, step 2 by 2: pooled MAE 1.5
    assert test["persistence"]["mae"] == pytest.approx(1.5)
    # the naive interval learned exactly those offsets from training: a perfect
    # median, every quantile equal (a ramp has one residual per step)
    assert test["naive_interval"]["mae"] == pytest.approx(0.0)
    assert test["naive_interval"]["pinball"] == pytest.approx(0.0)
    assert test["naive_interval"]["coverage_80"] == 1.0
    assert test["seasonal_naive"]["persistence_fallbacks"] == 0
    assert run.quantiles["load"]["naive_interval"].shape == (18, 2, 3)
    assert run.forecasts["load"]["persistence"].shape == (18, 2)


def test_run_baselines_naive_interval_offsets_come_from_training_windows_only():
    # Slope 1 up to row 21, slope 5 after: the training windows (targets up to
    # row 21) see residuals of exactly 1 and 2 at steps 1 and 2, the validation
    # and test windows 5 and 10. The stored test interval is persistence plus
    # the training offsets (every quantile equal), not the later residuals'.
    rows = np.arange(60)
    series = np.where(rows <= 21, rows, 21 + 5 * (rows - 21)).astype(np.float32)
    splits = {
        "train": np.arange(3, 20),
        "val": np.arange(22, 28),
        "test": np.arange(32, 50),
    }
    run = run_two_step_baselines(series, splits)
    origin = series[splits["test"]].astype(np.float64)
    expected = origin[:, None, None] + np.array([1.0, 2.0])[None, :, None]
    assert_array_equal(
        run.quantiles["load"]["naive_interval"], np.repeat(expected, 3, axis=2)
    )
    # Test residuals are 5 and 10: the training offsets miss them by 4 and 8.
    assert run.test["load"]["naive_interval"]["mae"] == pytest.approx(6.0)


def test_the_day_ahead_example_declares_24_steps_with_an_80_percent_interval():
    from conftest import ROOT

    params = load_params(ROOT / "examples" / "day_ahead" / "params.yaml")
    price, level = params.tasks["price"], params.tasks["price_level"]
    assert price.horizon == [1, 24] and price.quantiles == [0.1, 0.5, 0.9]
    assert level.type == "classification" and level.horizon == [1, 24]
    assert params.baselines.season >= 24


# --- plot tables ----------------------------------------------------------------


def test_steps_fan_and_skill_tables():
    from mtlstm import plots

    s = {**spec([1, 2], quantiles=[0.1, 0.5, 0.9]), "target": "y", "unit": "MW"}
    assert plots.task_label(s) == "t: y [MW], steps 1-2 ahead"
    per_step = {
        "steps": [1, 2],
        "model": {"mae": [1.0, 2.0], "rmse": [9.0, 9.0]},
        "persistence": {"mae": [3.0, 4.0], "rmse": [9.0, 9.0]},
    }
    table = plots.steps_table(s, per_step, "mae")
    assert table.to_dict("list") == {
        "task": ["t: y [MW], steps 1-2 ahead"] * 4,
        "step": [1, 2, 1, 2],
        "reference": ["model", "model", "persistence", "persistence"],
        "error": [1.0, 2.0, 3.0, 4.0],
    }
    # every second window of a 2-step range tiles the target times
    assert_array_equal(plots.tiled(5, 2), [0, 2, 4])
    times = pd.date_range("2024-01-01", periods=3, freq="h", tz="UTC")
    levels = np.array([[1.0, 2.0, 3.0], [2.0, 3.0, 5.0], [0.0, 1.0, 1.5]])
    fan = plots.fan_table(s, times, np.array([2.5, 6.0, 1.0]), levels, points=2)
    assert fan.to_dict("list") == {
        "task": ["t: y [MW], steps 1-2 ahead"] * 2,
        "time": ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z"],
        "interval": ["80%", "80%"],
        "lower": [1.0, 2.0],
        "upper": [3.0, 5.0],
        "median": [2.0, 3.0],
        "actual": [2.5, 6.0],
    }
    interval = {"value": 0.1, "ci_low": 0.0, "ci_high": 0.2}
    report = {
        "skill": {"vs_persistence": interval},
        "pinball_skill": {"vs_naive_interval": {**interval, "value": 0.15}},
    }
    skill = plots.skill_table(s, report)
    assert skill["reference"].tolist() == ["persistence", "naive_interval (pinball)"]
    assert skill["skill"].tolist() == [0.1, 0.15]
