"""Per-series evaluation of a panel (mtlstm.per_series) and the per-series
baselines (mtlstm.baselines with series codes), on hand-built arrays.

No TensorFlow: the stage-level checks through evaluate run in
tests/test_pipeline.py, on its trained tiny pipeline.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import make_project, run_stage_cli
from numpy.testing import assert_array_equal

from mtlstm import baselines, grid, metrics, per_series, plots, uncertainty
from mtlstm.errors import DataError
from mtlstm.io import load_series, read_json, write_json, write_npy, write_npz


def regression_spec(name: str = "load") -> dict:
    return {
        "name": name,
        "type": "regression",
        "target": "Load",
        "horizon": 1,
        "mean": 0.0,
        "std": 1.0,
    }


def class_spec() -> dict:
    return {
        "name": "level",
        "type": "classification",
        "target": "Level",
        "horizon": 1,
        "classes": ["low", "high"],
        "bins": None,
    }


# --- seasonal naive stays inside its series -------------------------------------


def test_season_rows_never_read_another_series():
    """Three hourly series of 30 rows, one after the other in the row order
    (as the window stage lays out a panel): the target row 31 (series 1, its
    2nd row) is 24 rows after row 7 of series 0; with the codes its season row
    is missing (-1), without them it would be series 0's row."""
    codes = np.repeat([0, 1, 2], 30)
    ends = np.array([30, 53, 60, 84])  # targets 31, 54 (series 1), 61, 85 (2)
    assert_array_equal(
        baselines.season_rows(ends, 1, 24, codes=codes), [-1, 30, -1, 61]
    )
    unguarded = baselines.season_rows(ends, 1, 24)
    assert codes[unguarded[0]] == 0 and codes[unguarded[2]] == 1  # the old leak
    raw = np.arange(90, dtype=float) * 10
    forecast = baselines.seasonal_naive(raw, ends, 1, 24, codes=codes)
    # no row one season back in the series: persistence (the origin's value)
    assert_array_equal(forecast, [300.0, 300.0, 600.0, 610.0])


def test_season_rows_match_a_brute_force_search_on_random_panels():
    """Series of random lengths with random dropped gaps and shared clocks:
    every answer is the one row of the same series exactly one season earlier
    in grid steps, else -1."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        codes, positions = [], []
        for code in rng.permutation(4):  # codes in any order
            steps = np.cumsum(rng.choice([1, 1, 1, 2, 5], size=rng.integers(1, 60)))
            positions.append(steps - steps[0] + rng.integers(0, 3))
            codes.append(np.full(len(steps), code))
        codes, positions = np.concatenate(codes), np.concatenate(positions)
        n, season, horizon = len(codes), int(rng.integers(1, 8)), 1
        ends = np.arange(n - horizon)
        found = baselines.season_rows(ends, horizon, season, positions, codes)
        for end, row in zip(ends, found, strict=True):
            target = end + horizon
            match = np.flatnonzero(
                (codes == codes[target]) & (positions == positions[target] - season)
            )
            assert row == (match[0] if match.size else -1), (end, row, match)


def test_series_positions_count_steps_within_each_series():
    """Two series on the same clock, the second with a dropped 3-hour gap:
    positions start at 0 in each series and jump over the gap."""
    first = pd.date_range("2024-01-01", periods=4, freq="h", tz="UTC")
    second = first.delete(1).append(pd.DatetimeIndex([first[-1] + pd.Timedelta("4h")]))
    times = first.append(second)
    codes = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    positions = baselines.series_positions(times, codes, "1h", "UTC")
    assert_array_equal(positions, [0, 1, 2, 3, 0, 2, 3, 7])
    # No panel: today's grid.positions, unchanged.
    assert_array_equal(
        baselines.series_positions(first, None, "1h", "UTC"),
        grid.positions(first, "1h", "UTC"),
    )
    with pytest.raises(DataError, match=r"series.npy: 3 series codes for 8 rows"):
        baselines.series_positions(times, codes[:3], "1h", "UTC")


def test_series_positions_on_local_days_of_each_series():
    """Daily steps are local calendar days: the two series share days, and a
    calendar grid over all rows at once (not in time order) would fail."""
    days = pd.date_range("2024-03-29", periods=5, freq="D", tz="Europe/Paris")
    times = days.append(days[2:]).tz_convert("UTC")
    codes = np.array([0] * 5 + [1] * 3)
    positions = baselines.series_positions(times, codes, "1D", "Europe/Paris")
    assert_array_equal(positions, [0, 1, 2, 3, 4, 0, 1, 2])


# --- one global lag model with the series code as a feature ----------------------


def two_series_panel(n: int = 200):
    """Series 0 alternates 0, 1, 0, 1; series 1 stays 0. After a 0 the next
    value is 1 in series 0 and 0 in series 1: with lookback 1 only the series
    code tells them apart."""
    values = np.concatenate([np.arange(n) % 2, np.zeros(n)]).astype(np.float32)
    codes = np.repeat([0, 1], n)
    scaled = np.zeros((2 * n, 1), np.float32)

    def both(lo, hi):
        return np.concatenate([np.arange(lo, hi), np.arange(lo, hi) + n])

    # Horizons up to 2: the last window ends 3 rows before its series' end.
    cut, val_end = n * 3 // 4, n * 9 // 10
    splits = {
        "train": both(0, cut),
        "val": both(cut, val_end),
        "test": both(val_end, n - 2),
    }
    return values, codes, scaled, splits


def test_lag_model_takes_the_series_code_as_a_categorical_feature():
    values, codes, scaled, splits = two_series_panel()
    spec = regression_spec()
    x = baselines.lag_features(values, scaled, splits["test"], 1, codes)
    assert_array_equal(x[:, -1], codes[splits["test"]])
    assert x.shape == (len(splits["test"]), 1 + 1 + 1)

    def test_mae(fit, with_codes):
        forecast = baselines.predict_hgb(
            fit, spec, values, scaled, splits["test"], 1, with_codes
        )
        return float(np.mean(np.abs(forecast - values[splits["test"] + 1])))

    panel = baselines.choose_hgb(spec, values, scaled, splits, 1, 0, codes)
    assert panel.series_feature == "categorical"
    assert panel.summary()["series_feature"] == "categorical"
    assert panel.model.is_categorical_.tolist() == [False, False, True]
    pooled = baselines.choose_hgb(spec, values, scaled, splits, 1, 0)
    assert pooled.series_feature is None and "series_feature" not in pooled.summary()
    assert test_mae(panel, codes) < 0.01
    assert test_mae(pooled, None) > 0.2  # after a 0: 1 or 0, it cannot know
    with pytest.raises(ValueError, match="series codes must be given exactly"):
        baselines.predict_hgb(panel, spec, values, scaled, splits["test"], 1)


def test_lag_model_takes_many_series_as_an_ordinal_code(monkeypatch):
    """Above scikit-learn's 255 categories the code is an ordinal number."""
    monkeypatch.setattr(baselines, "MAX_CATEGORIES", 1)
    values, codes, scaled, splits = two_series_panel()
    fit = baselines.choose_hgb(regression_spec(), values, scaled, splits, 1, 0, codes)
    assert fit.series_feature == "ordinal"
    assert fit.model.is_categorical_ is None
    forecast = baselines.predict_hgb(
        fit, regression_spec(), values, scaled, splits["test"], 1, codes
    )
    assert np.mean(np.abs(forecast - values[splits["test"] + 1])) < 0.01


def test_classifier_and_step_fits_record_the_series_feature():
    values, codes, scaled, splits = two_series_panel(80)
    labels = values.astype(np.int64)
    fit = baselines.choose_hgb(class_spec(), labels, scaled, splits, 1, 0, codes)
    assert fit.summary()["series_feature"] == "categorical"
    assert "class_weight" in fit.summary()
    spec = {**regression_spec(), "horizon": [1, 2]}
    steps = baselines.choose_lag_model(spec, values, scaled, splits, 1, 0, codes)
    assert steps.summary()["series_feature"] == "categorical"


def test_run_baselines_refuses_codes_of_another_length():
    values, codes, scaled, splits = two_series_panel(40)
    bundle = {"lookback": 1, "tasks": [regression_spec()]}
    with pytest.raises(DataError, match=r"series.npy: 79 series codes for 80 rows"):
        baselines.run_baselines(
            bundle, scaled, {"load": values}, splits, season=2, codes=codes[:-1]
        )


# --- the naive interval from each series' own residuals ----------------------------


def quantile_spec(name: str = "load") -> dict:
    return {**regression_spec(name), "horizon": [1, 2], "quantiles": [0.1, 0.5, 0.9]}


def test_naive_interval_takes_each_series_own_residual_quantiles():
    """Series 0 moves by 1 or -1 a step, series 1 by 10 or -30, series 2 has
    test windows only: each of the first two gets np.quantile of its own
    training residuals, series 2 (no residual of its own) the pooled ones."""
    steps = {0: [1, -1, 1, 1, -1, 1, -1, -1, 1, 1], 1: [10, -30, 10, 10, -30, 10]}
    raw = np.concatenate(
        [np.cumsum(steps[0]), 100 + np.cumsum(steps[1]), [7.0, 8.0, 9.0]]
    ).astype(float)
    codes = np.repeat([0, 1, 2], [10, 6, 3])
    train = {0: np.arange(0, 6), 1: np.arange(10, 13)}
    train_ends = np.concatenate([train[0], train[1]])
    ends = np.array([6, 7, 13, 16])  # two of series 0, one of 1, one of 2
    spec, q = quantile_spec(), [0.1, 0.5, 0.9]

    def oracle(rows: np.ndarray, step: int) -> np.ndarray:
        return np.quantile(raw[rows + step] - raw[rows], q)

    levels = baselines.naive_interval(spec, raw, train_ends, ends, codes)
    assert levels.shape == (4, 2, 3)
    for i, (end, series) in enumerate(zip(ends, [0, 0, 1, None], strict=True)):
        for j, step in enumerate((1, 2)):
            rows = train_ends if series is None else train[series]
            np.testing.assert_allclose(levels[i, j], raw[end] + oracle(rows, step))
    # The calm series' 80% interval is a few units wide, the volatile one's
    # tens: pooled, both would get the same width.
    width = levels[:, 0, 2] - levels[:, 0, 0]
    assert width[0] < 3 < 30 < width[2]
    # One series (no codes): the pooled offsets, as before.
    pooled = baselines.naive_interval(spec, raw, train_ends, ends)
    for j, step in enumerate((1, 2)):
        np.testing.assert_allclose(
            pooled[:, j], raw[ends, None] + oracle(train_ends, step)
        )


def test_run_baselines_scores_the_naive_interval_of_each_series():
    """Two ramps, slopes 1 and 10: each series' residual at step s is exactly
    s (or 10 s), so its own quantiles forecast it perfectly (pinball 0,
    median MAE 0, every actual covered); pooled they would miss both."""
    n = 30
    values = np.concatenate([np.arange(n), 10 * np.arange(n)]).astype(np.float32)
    codes = np.repeat([0, 1], n)

    def both(lo: int, hi: int) -> np.ndarray:
        return np.concatenate([np.arange(lo, hi), np.arange(lo, hi) + n])

    splits = {"train": both(3, 18), "val": both(18, 22), "test": both(22, n - 2)}
    bundle = {"lookback": 4, "tasks": [quantile_spec()]}
    targets, scaled = {"load": values}, values[:, None] / 100

    def naive(run: baselines.BaselineRun) -> dict[str, float]:
        return run.test["load"]["naive_interval"]

    run = baselines.run_baselines(bundle, scaled, targets, splits, codes=codes)
    assert naive(run)["pinball"] == pytest.approx(0.0)
    assert naive(run)["mae"] == pytest.approx(0.0)
    assert naive(run)["coverage_80"] == 1.0
    levels = run.quantiles["load"]["naive_interval"]
    assert_array_equal(levels[:, :, 1], run.forecasts["load"]["naive_interval"])
    pooled = baselines.run_baselines(bundle, scaled, targets, splits)
    assert naive(pooled)["pinball"] > 1.0


def test_baselines_stage_on_a_panel(tmp_path, raw_params):
    """stages/baselines.py on three hourly series sharing one clock, each a
    daily cycle at its own level: seasonal naive, which must read its own
    series, is exact; read one series over, it would be off by the level."""
    n, lookback = 96, 2
    hour = np.arange(n) % 24
    levels = [0.0, 5.0, 10.0]
    values = np.concatenate([hour / 10 + level for level in levels]).astype(np.float32)
    codes = np.repeat(np.arange(3, dtype=np.int32), n)
    times = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    spec = {**regression_spec("demand"), "mean": 0.0, "std": 1.0}
    bundle = {
        "lookback": lookback,
        "tasks": [spec],
        "ingest": {"freq": "1h"},
        "timezone": "UTC",
        "series": {"names": ["a", "b", "c"]},
    }

    def each(lo, hi):
        return np.concatenate([np.arange(lo, hi) + n * c for c in range(3)])

    splits = {"train": each(1, 60), "val": each(60, 75), "test": each(75, n - 1)}
    make_project(tmp_path, raw_params)
    write_json(tmp_path / "data/windows/preprocess.json", bundle)
    write_npy(tmp_path / "data/windows/times.npy", np.tile(times.as_unit("ns").asi8, 3))
    write_npy(tmp_path / "data/windows/scaled.npy", values[:, None])
    write_npy(tmp_path / "data/windows/series.npy", codes)
    write_npz(tmp_path / "data/windows/targets.npz", {"demand": values})
    for name, ends in splits.items():
        write_npy(tmp_path / f"data/split/{name}.npy", ends)

    proc = run_stage_cli("baselines", tmp_path)
    assert proc.returncode == 0, proc.stderr
    test = read_json(tmp_path / "metrics/baselines.json")["demand"]
    assert test["seasonal_naive"]["mae"] == 0.0
    assert test["seasonal_naive"]["persistence_fallbacks"] == 0
    val = read_json(tmp_path / "metrics/baselines_val.json")["demand"]
    assert val["hgb_lag"]["series_feature"] == "categorical"
    # What the stage did before: one clock for the whole panel, no codes. The
    # positions repeat in every series and the lookup lands in another one.
    clock = grid.positions(pd.DatetimeIndex(np.tile(times, 3)), "1h", "UTC")
    rows = baselines.season_rows(splits["test"], 1, 24, clock)
    assert (codes[rows] != codes[splits["test"] + 1]).any()


# --- the per-series table ---------------------------------------------------------

# Hand-built test windows of three series (interleaved, as a panel's windows
# need not be) and a fourth series without any: {series: (model, persistence,
# seasonal_naive, hgb_lag) absolute error of every window}.
ERRORS = {
    "north": (1.0, 2.0, 4.0, 0.5),  # best: hgb_lag 0.5, skill 1 - 1 / 0.5 = -1
    "south": (2.0, 4.0, 8.0, 5.0),  # best: persistence 4, skill 0.5
    "east": (3.0, 3.0, 6.0, 3.0),  # tie: persistence (listed first), skill 0
}
NAMES = ["north", "south", "east", "west"]  # codes 0..3; west has no window
REFS = ("persistence", "seasonal_naive", "hgb_lag")


def hand_built_panel():
    window_series = np.array([0, 1, 2, 0, 1, 2, 2, 0])
    actual = np.full((len(window_series), 1), 100.0)
    sign = np.where(np.arange(len(window_series)) % 2 == 0, 1.0, -1.0)[:, None]
    forecasts = {
        name: actual
        + sign * np.array([ERRORS[NAMES[c]][i] for c in window_series])[:, None]
        for i, name in enumerate(("model", *REFS))
    }
    spec = regression_spec()
    losses = {k: metrics.window_losses(spec, actual, f) for k, f in forecasts.items()}
    return spec, window_series, losses


def test_per_series_table_oracle():
    spec, window_series, losses = hand_built_panel()
    single = losses["model"] * 2
    table = per_series.task_table(
        spec,
        window_series,
        NAMES,
        losses["model"],
        {ref: losses[ref] for ref in REFS},
        single,
        block=1,  # every series has more windows than one block
        samples=200,
        seed=0,
    )
    assert list(table.columns) == [*per_series.COLUMNS, *REFS, "single_task"]
    assert table["series"].tolist() == ["east", "north", "south", "west"]
    assert table["windows"].tolist() == [3, 3, 2, 0]
    assert set(table["metric"]) == {"mae"} and set(table["task"]) == {"load"}
    rows = table.set_index("series")
    for name, (model, *refs) in ERRORS.items():
        row = rows.loc[name]
        assert row["model"] == model
        assert [row[ref] for ref in REFS] == refs
        assert row["single_task"] == 2 * model
    assert rows["best_baseline"].tolist()[:3] == [
        "persistence",
        "hgb_lag",
        "persistence",
    ]
    assert rows.loc[["east", "north", "south"], "skill"].tolist() == [0.0, -1.0, 0.5]
    # Constant losses: every resample gives the same skill.
    scored = rows.loc[["east", "north", "south"]]
    assert_array_equal(scored["ci_low"], scored["skill"])
    assert_array_equal(scored["ci_high"], scored["skill"])
    assert scored["dm_p"].tolist() == [1.0, 0.0, 0.0]  # equal, worse, better
    assert rows.loc["west", ["model", "skill", "best_baseline"]].isna().all()
    plot = per_series.plot_table(table)
    assert list(plot.columns) == per_series.PLOT_COLUMNS
    assert plot["series"].tolist() == ["east", "north", "south"]  # west: no bar
    assert per_series.summary(table) == (
        "beats its best baseline in 1 of 3 series (interval above 0 in 1, below 0 in 1)"
    )


def test_a_series_within_one_block_gets_no_interval():
    # Blocks of 24 windows over series of 2 and 3 windows: one block would
    # hold each series' windows, every resample would have their mean, and
    # the zero-width interval counted as a sure win or loss.
    spec, window_series, losses = hand_built_panel()
    table = per_series.task_table(
        spec,
        window_series,
        NAMES,
        losses["model"],
        {ref: losses[ref] for ref in REFS},
        None,
        block=24,
        samples=200,
        seed=0,
    )
    scored = table.set_index("series").loc[["east", "north", "south"]]
    assert scored["skill"].tolist() == [0.0, -1.0, 0.5]
    assert scored[["ci_low", "ci_high"]].isna().all().all()
    assert scored["dm_p"].tolist() == [1.0, 0.0, 0.0]
    assert per_series.summary(table) == (
        "beats its best baseline in 1 of 3 series (interval above 0 in 0, below 0 in 0)"
    )


def test_per_series_errors_are_the_pooled_scores_of_each_series():
    """A series' error is what metrics.score_task gives on its windows alone,
    also for a horizon range (each window's loss a mean over its steps)."""
    rng = np.random.default_rng(0)
    spec = {**regression_spec(), "horizon": [1, 3]}
    actual = rng.normal(size=(30, 3))
    forecast = {"model": actual + rng.normal(size=(30, 3))}
    forecast["persistence"] = actual + rng.normal(size=(30, 3))
    codes = rng.integers(0, 3, 30)
    losses = {k: metrics.window_losses(spec, actual, f) for k, f in forecast.items()}
    table = per_series.task_table(
        spec,
        codes,
        ["x", "y", "z"],
        losses["model"],
        {"persistence": losses["persistence"]},
        None,
        block=4,
        samples=50,
        seed=1,
    )
    assert "single_task" not in table.columns
    for code, name in enumerate(["x", "y", "z"]):
        chosen = codes == code
        row = table.set_index("series").loc[name]
        for key in ("model", "persistence"):
            expected = metrics.score_task(spec, actual[chosen], forecast[key][chosen])
            assert row[key] == pytest.approx(expected["mae"], rel=1e-12)


def test_classification_per_series_log_loss():
    spec = class_spec()
    actual = np.array([[0], [1], [0], [1]])
    model = np.array([[0.5, 0.5]] * 4)[:, None, :]
    majority = np.array([[1.0, 0.0]] * 4)[:, None, :]
    codes = np.array([0, 0, 1, 1])
    table = per_series.task_table(
        spec,
        codes,
        ["p", "q"],
        metrics.window_losses(spec, actual, model),
        {"majority": metrics.window_losses(spec, actual, majority)},
        None,
        block=24,
        samples=20,
        seed=0,
    )
    assert set(table["metric"]) == {"log_loss"}
    assert table["model"].tolist() == pytest.approx([math.log(2)] * 2)
    # majority: log-loss 0 (clipped) on class 0, -log(1e-7) on class 1.
    expected = metrics.classification_scores(
        np.array([0, 1]), np.array([[1.0, 0.0]] * 2), 2
    )["log_loss"]
    assert table["majority"].tolist() == pytest.approx([expected] * 2)


def test_one_series_is_the_pooled_comparison():
    """No ingest.series: one row per task, 'all', whose errors are the pooled
    means and whose skill and interval are evaluate's against that baseline."""
    spec, _, losses = hand_built_panel()
    rng = np.random.default_rng(5)
    noisy = {k: v + rng.uniform(0, 1, v.size) for k, v in losses.items()}
    refs = {ref: noisy[ref] for ref in REFS}
    table = per_series.task_table(
        spec, None, None, noisy["model"], refs, None, block=3, samples=300, seed=7
    )
    assert table["series"].tolist() == [per_series.ALL]
    row = table.iloc[0]
    assert row["windows"] == len(noisy["model"])
    assert row["model"] == pytest.approx(noisy["model"].mean(), rel=1e-15)
    best = min(refs, key=lambda r: refs[r].mean())
    assert row["best_baseline"] == best
    pooled = uncertainty.compare(noisy["model"], refs, 3, 300, 7)[f"vs_{best}"]
    assert (row["skill"], row["ci_low"], row["ci_high"], row["dm_p"]) == (
        pooled["value"],
        pooled["ci_low"],
        pooled["ci_high"],
        pooled["dm_p"],
    )


def test_combine_sorts_by_task_then_series_and_leaves_other_baselines_empty():
    spec, window_series, losses = hand_built_panel()
    regression = per_series.task_table(
        {**spec, "name": "zload"},
        window_series,
        NAMES,
        losses["model"],
        {ref: losses[ref] for ref in REFS},
        None,
        block=2,
        samples=10,
        seed=0,
    )
    classes = per_series.task_table(
        class_spec(),
        np.array([1, 0]),
        ["a", "b"],
        np.array([0.1, 0.2]),
        {"majority": np.array([0.3, 0.4])},
        None,
        block=2,
        samples=10,
        seed=0,
    )
    table = per_series.combine([regression, classes])
    assert table["task"].tolist() == ["level"] * 2 + ["zload"] * 4
    assert table["series"].tolist()[:2] == ["a", "b"]
    assert table.loc[table["task"] == "level", "persistence"].isna().all()
    assert table.loc[table["task"] == "zload", "majority"].isna().all()


def test_task_table_checks_its_inputs():
    with pytest.raises(ValueError, match="at least one baseline"):
        per_series.task_table(
            regression_spec(), None, None, np.ones(3), {}, None, 2, 10, 0
        )
    with pytest.raises(ValueError, match=r"series codes must lie in 0\.\.1"):
        per_series.task_table(
            regression_spec(),
            np.array([0, 2, 1]),
            ["a", "b"],
            np.ones(3),
            {"persistence": np.ones(3)},
            None,
            2,
            10,
            0,
        )
    with pytest.raises(ValueError, match="2 series codes for 3 windows"):
        per_series.task_table(
            regression_spec(),
            np.array([0, 1]),
            ["a", "b"],
            np.ones(3),
            {"persistence": np.ones(3)},
            None,
            2,
            10,
            0,
        )


# --- reading the panel's codes ----------------------------------------------------


def test_load_series_checks_the_codes_against_the_bundle(tmp_path):
    bundle = {"n_rows": 4, "series": {"names": ["a", "b"]}}
    assert load_series(tmp_path, {"n_rows": 4}) is None  # no panel
    with pytest.raises(DataError, match=r"series.npy: not found, but the bundle"):
        load_series(tmp_path, bundle)
    write_npy(tmp_path / "series.npy", np.array([0, 0, 1, 1], np.int32))
    assert_array_equal(load_series(tmp_path, bundle), [0, 0, 1, 1])
    with pytest.raises(DataError, match=r"series.npy exists but .*preprocess.json"):
        load_series(tmp_path, {"n_rows": 4})
    with pytest.raises(DataError, match=r"expected 5 integer series codes"):
        load_series(tmp_path, {**bundle, "n_rows": 5})
    with pytest.raises(DataError, match=r"codes run from 0 to 1 but .* names 1"):
        load_series(tmp_path, {"n_rows": 4, "series": {"names": ["a"]}})
    write_npy(tmp_path / "series.npy", np.array([0.0, 1.0, 1.0, 1.0]))
    with pytest.raises(DataError, match=r"found float64 of shape \(4,\)"):
        load_series(tmp_path, bundle)


def test_plot_keeps_the_lowest_and_highest_skills_of_many_series():
    """Past PLOT_SERIES_MAX series a task's bars are its extremes, by skill."""
    n = per_series.PLOT_SERIES_MAX + 7
    skills = np.r_[np.linspace(-1.0, 1.0, n - 1), 0.0]  # one tie at 0
    names = [f"s{i:03d}" for i in range(n)]
    table = pd.DataFrame(
        {
            "task": "demand",
            "series": names,
            "windows": 3,
            "best_baseline": "persistence",
            "skill": skills,
            "ci_low": skills - 0.1,
            "ci_high": skills + 0.1,
        }
    )
    small = table.iloc[:5]
    both = pd.concat([table, small.assign(task="temp")], ignore_index=True)
    plot = per_series.plot_table(both)
    drawn = plot[plot["task"] == "demand"]
    low = per_series.PLOT_SERIES_MAX // 2
    order = table.sort_values(["skill", "series"], kind="stable")["series"].tolist()
    assert drawn["series"].tolist() == order[:low] + order[n - low :]
    assert drawn["skill"].is_monotonic_increasing
    # A task within the cap keeps its rows in series order.
    assert plot.loc[plot["task"] == "temp", "series"].tolist() == names[:5]
    assert per_series.summary(table).endswith(
        f"; plot: the {low} lowest and {low} highest skills"
    )


def test_charts_over_time_draw_one_series_of_a_panel():
    """plots/predictions.csv and plots/fan.csv draw one series of a panel: the
    test windows run series by series, so the first plot_points of them held
    every short series at the same times, one zigzagging "actual" line."""
    codes = np.array([1, 1, 1, 2, 2, 2])  # series 0 has no test window
    drawn = plots.drawn_windows(codes, len(codes))
    assert_array_equal(drawn, [0, 1, 2])
    assert_array_equal(plots.drawn_windows(None, 4), [0, 1, 2, 3])
    spec = regression_spec()
    times = pd.date_range("2024-01-01", periods=3, freq="h", tz="UTC")
    actual = np.array([1.0, 2.0, 3.0, 100.0, 200.0, 300.0])
    table = plots.predictions_table(
        spec, times, actual[drawn], actual[drawn] + 1, points=10, series_name="west"
    )
    stamps = ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z", "2024-01-01T02:00:00Z"]
    assert table.to_dict("list") == {
        "time": stamps * 2,
        "series": ["actual"] * 3 + ["predicted"] * 3,
        "value": [1.0, 2.0, 3.0, 2.0, 3.0, 4.0],
        "task": ["load: Load, 1 step ahead, series west"] * 6,
    }
    # One series: every window, and the label as before.
    assert plots.task_label(spec) == "load: Load, 1 step ahead"
