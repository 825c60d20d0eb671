"""Many series in one model (ingest.series, window.scaling: per_series).

Hand-built panels of three series with oracles computed by hand or by the
one-series code applied to each series alone; the whole panel pipeline through
real ``dvc repro`` at the end.
"""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import STAGES, run_stage_cli, write_params
from conftest import make_project as make_plain_project
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from mtlstm import ingest, metrics, uncertainty, window
from mtlstm.config import Ingest, Params, parse
from mtlstm.errors import ConfigError, DataError
from mtlstm.ingest import Source
from mtlstm.split import (
    row_bounds,
    row_splits,
    split_windows,
    split_windows_by_time,
    time_cuts,
)

PANEL_CSV = "data/raw/panel.csv"
# Three regions of very different levels: per-series scaling matters.
LEVELS = {"north": 4000.0, "south": 400.0, "west": 40000.0}


def panel_frame(rows: int = 120, seed: int = 0, shuffle: bool = True) -> pd.DataFrame:
    """A long table: hourly Demand/Temperature/Holiday for three regions (the
    rows interleaved and shuffled, as a long export often is)."""
    rng = np.random.default_rng(seed)
    parts = []
    for i, (region, level) in enumerate(LEVELS.items()):
        time = pd.date_range("2024-03-01", periods=rows, freq="h", tz="UTC")
        hour = np.arange(rows) % 24
        parts.append(
            pd.DataFrame(
                {
                    "Time": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "region": region,
                    "Demand": (
                        level * (1 + 0.2 * np.sin(2 * np.pi * hour / 24))
                        + rng.normal(0, level / 100, rows)
                    ).round(3),
                    "Temperature": (
                        20
                        + 9 * np.sin(2 * np.pi * (hour - 9 + i) / 24)
                        + rng.normal(0, 1, rows)
                    ).round(2),
                    "Holiday": np.where(time.day_of_week >= 5, "true", "false"),
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    if shuffle:
        frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return frame


def panel_cfg(**changes) -> Ingest:
    base = {
        "source": PANEL_CSV,
        "time_column": "Time",
        "columns": {
            "Demand": "numeric",
            "Temperature": "numeric",
            "Holiday": "boolean",
        },
        "series": ["region"],
    }
    return Ingest(**(base | changes))


def source_of(frame: pd.DataFrame) -> Source:
    return Source(frame.astype(str), "panel.csv", 2)


def run_ingest(frame: pd.DataFrame, cfg: Ingest, timezone: str = "UTC"):
    src = source_of(frame)
    typed, _ = ingest.order_rows(ingest.coerce(src, cfg), src, cfg.sort, cfg.duplicates)
    return ingest.fill_gaps(ingest.to_grid(typed, cfg, timezone), cfg)


# --- ingest -----------------------------------------------------------------


def test_ingest_sorts_by_series_then_time_and_starts_a_segment_per_series():
    frame = panel_frame(rows=30)
    table, summary = run_ingest(frame, panel_cfg())
    assert list(table.columns) == [
        "time",
        "series",
        "Demand",
        "Temperature",
        "Holiday",
        "segment",
    ]
    assert table["series"].tolist() == [s for s in sorted(LEVELS) for _ in range(30)]
    assert table["segment"].tolist() == [k for k in range(3) for _ in range(30)]
    for name, part in table.groupby("series"):
        assert part["time"].is_monotonic_increasing
        source = frame[frame["region"] == name].sort_values("Time")
        np.testing.assert_array_equal(
            part["Demand"].to_numpy(), source["Demand"].astype(float).to_numpy()
        )
    assert summary["segments"] == 3


def test_two_id_columns_are_joined_with_a_slash():
    frame = panel_frame(rows=5, shuffle=False)
    frame["store"] = np.where(frame.index % 2 == 0, "a", "b")
    cfg = panel_cfg(series=["region", "store"], duplicates="error")
    table, _ = run_ingest(frame.iloc[::2], cfg)  # one store per hour: no dups
    assert set(table["series"]) == {f"{r}/a" for r in LEVELS}


def per_series_oracle(frame: pd.DataFrame, cfg: Ingest, timezone: str):
    """The one-series code applied to each series alone, then stacked."""
    single = Ingest(**{**cfg.__dict__, "series": []})
    parts = []
    for name in sorted(frame["region"].unique()):
        part = frame[frame["region"] == name].drop(columns="region")
        src = source_of(part.reset_index(drop=True))
        typed, _ = ingest.order_rows(
            ingest.coerce(src, single), src, single.sort, single.duplicates
        )
        grid_, counts = ingest.to_grid_counted(typed, single, timezone)
        grid_.insert(1, "series", name)
        parts.append((grid_, counts))
    return (
        pd.concat([p for p, _ in parts], ignore_index=True),
        np.concatenate([c for _, c in parts]),
    )


@pytest.mark.parametrize(
    ("freq", "timezone"),
    [("1h", "UTC"), ("2h", "UTC"), ("45min", "UTC"), ("1D", "Australia/Melbourne")],
)
def test_vectorized_grid_equals_each_series_gridded_alone(freq, timezone):
    """Holes, repeated timestamps aggregated, series of different spans: the
    all-series grid equals resample on each series by itself."""
    rng = np.random.default_rng(3)
    frame = panel_frame(rows=200, seed=1)
    frame = frame.iloc[rng.permutation(len(frame))[:520]]  # holes everywhere
    frame = pd.concat([frame, frame.iloc[:40]])  # repeated timestamps
    frame = frame[~((frame["region"] == "west") & (frame["Time"] < "2024-03-03"))]
    cfg = panel_cfg(freq=freq, duplicates="aggregate", aggregate={"Demand": "sum"})
    src = source_of(frame.reset_index(drop=True))
    typed, _ = ingest.order_rows(ingest.coerce(src, cfg), src, True, "aggregate")
    got, counts = ingest.to_grid_counted(typed, cfg, timezone)
    expected, expected_counts = per_series_oracle(frame, cfg, timezone)
    np.testing.assert_array_equal(counts, expected_counts)
    assert (got["time"].to_numpy() == expected["time"].to_numpy()).all()
    assert got["series"].tolist() == expected["series"].tolist()
    for column in ("Demand", "Temperature", "Holiday"):
        np.testing.assert_allclose(
            got[column].to_numpy(float), expected[column].to_numpy(float), rtol=1e-12
        )


def test_short_gap_filled_within_its_series_long_gap_starts_a_segment():
    frame = panel_frame(rows=40, shuffle=False)
    south = frame["region"] == "south"
    hours = pd.to_datetime(frame["Time"]).dt.hour + 24 * (
        pd.to_datetime(frame["Time"]).dt.day - 1
    )
    drop = (south & hours.isin([5, 6])) | (
        (frame["region"] == "west") & hours.between(10, 19)
    )
    table, summary = run_ingest(frame[~drop], panel_cfg(long_gaps="break"))
    south_rows = table[table["series"] == "south"]
    assert len(south_rows) == 40  # two steps filled forward
    assert south_rows["Demand"].iloc[5] == south_rows["Demand"].iloc[4]
    assert summary["filled_steps"] == 2
    assert summary["long_gaps"] == [
        {"from": "2024-03-01 10:00:00+00:00", "steps": 10, "series": "west"}
    ]
    # north 0, south 1, west 2 and 3 (after its long gap)
    assert sorted(table["segment"].unique()) == [0, 1, 2, 3]
    assert table.groupby("segment")["series"].nunique().max() == 1


def test_duplicate_timestamp_names_the_series_and_lines():
    frame = panel_frame(rows=10, shuffle=False)
    frame = pd.concat([frame, frame.iloc[[12]]], ignore_index=True)  # south, 02:00
    with pytest.raises(
        DataError,
        match=r"^series 'south': duplicate timestamp 2024-03-01 02:00:00\+00:00 at "
        r"panel\.csv line 14 and panel\.csv line 32 ",
    ):
        run_ingest(frame, panel_cfg())


def test_same_time_in_two_series_is_no_duplicate():
    frame = panel_frame(rows=10, shuffle=False)
    table, _ = run_ingest(frame, panel_cfg())
    assert len(table) == 30


def test_unsorted_series_with_sort_false_names_the_series():
    frame = panel_frame(rows=10, shuffle=False)
    # Interleaved series are fine with sort: false, as long as each is in order.
    interleaved = frame.iloc[np.argsort(np.tile(np.arange(10), 3), kind="stable")]
    table, _ = run_ingest(interleaved, panel_cfg(sort=False))
    assert len(table) == 30
    swapped = frame.iloc[[*range(23), 24, 23, *range(25, 30)]]  # west 3:00, 4:00
    with pytest.raises(
        DataError,
        match=r"^series 'west': panel\.csv line 26: timestamp 2024-03-01 "
        r"03:00:00\+00:00 is earlier than the series' row before",
    ):
        run_ingest(swapped, panel_cfg(sort=False))


def test_long_gap_error_names_the_series():
    frame = panel_frame(rows=20, shuffle=False)
    frame = frame.drop(index=range(25, 30))  # south 5:00..9:00
    with pytest.raises(
        DataError, match=r"^series 'south': gap of 5 missing step\(s\) of 1h from "
    ):
        run_ingest(frame, panel_cfg())


def test_missing_first_value_of_a_series_is_not_filled_from_the_previous():
    frame = panel_frame(rows=10, shuffle=False).astype(str)
    frame.loc[10, "Demand"] = ""  # south's first row
    cfg = panel_cfg(missing={"Demand": "ffill"})
    with pytest.raises(
        DataError,
        match=r"^series 'south': column 'Demand' is missing at 2024-03-01 "
        r"00:00:00\+00:00, the first step of the series",
    ):
        run_ingest(frame, cfg)


def test_empty_series_id_names_the_line():
    frame = panel_frame(rows=5, shuffle=False)
    frame.loc[3, "region"] = " "
    with pytest.raises(DataError, match=r"^panel\.csv line 5: series id column"):
        run_ingest(frame, panel_cfg())


def test_config_rejects_bad_series_settings(raw_params, tmp_path):
    from mtlstm.config import load_params

    raw_params["window"]["scaling"] = "per_series"
    with pytest.raises(ConfigError, match=r"window\.scaling: per_series needs"):
        load_params(write_params(tmp_path, raw_params))
    raw_params["window"]["scaling"] = "global"
    raw_params["ingest"]["series"] = ["Time"]
    with pytest.raises(ConfigError, match=r"ingest\.series: 'Time' is the time"):
        load_params(write_params(tmp_path, raw_params))
    raw_params["ingest"]["series"] = "region"
    with pytest.raises(ConfigError, match=r"ingest\.series"):
        load_params(write_params(tmp_path, raw_params))


# --- one time cut -------------------------------------------------------------


@pytest.mark.parametrize("n", [60, 90, 101])
@pytest.mark.parametrize(("train", "val"), [(0.7, 0.15), (0.5, 0.1), (0.6, 0.3)])
def test_time_cut_of_one_series_is_the_row_cut(n, train, val):
    times = np.arange(n, dtype=np.int64) * 3_600_000_000_000 + 7
    train_end, val_end = row_bounds(n, train, val)
    expected = np.repeat(
        np.int8([0, 1, 2]), [train_end, val_end - train_end, n - val_end]
    )
    np.testing.assert_array_equal(row_splits(times, train, val), expected)
    ends = np.arange(2, n - 2)
    by_rows = split_windows(ends, n, 3, 2, train, val)
    by_time = split_windows_by_time(ends, times, 3, 2, train, val)
    for name in by_rows:
        np.testing.assert_array_equal(by_rows[name], by_time[name])


def test_time_cut_is_shared_by_every_series():
    # Series a: times 0..9, b: 5..14 (ragged), c: 0..9. Distinct times 0..14:
    # row_bounds(15, 0.6, 0.2) = (9, 12): val from time 9, test from time 12.
    times = np.r_[np.arange(10), np.arange(5, 15), np.arange(10)].astype(np.int64)
    assert time_cuts(times, 0.6, 0.2) == (9, 12)
    code = row_splits(times, 0.6, 0.2)
    np.testing.assert_array_equal(code[:10], [0] * 9 + [1])
    np.testing.assert_array_equal(code[10:20], [0] * 4 + [1] * 3 + [2] * 3)
    np.testing.assert_array_equal(code[20:], [0] * 9 + [1])
    segment = np.repeat([0, 1, 2], 10)
    from mtlstm.window import window_ends

    ends = window_ends(segment, 2, 1)
    parts = split_windows_by_time(ends, times, 2, 1, 0.6, 0.2)
    # train: every window with first input and last target before time 9
    np.testing.assert_array_equal(
        parts["train"], [1, 2, 3, 4, 5, 6, 7, 11, 12, 21, 22, 23, 24, 25, 26, 27]
    )
    # Row 13 (inputs at times 7..8, target at 9) straddles the cut: purged.
    np.testing.assert_array_equal(parts["val"], [15])  # times 9..11 of b only
    np.testing.assert_array_equal(parts["test"], [18])  # times 12..14 of b
    for chosen in parts.values():  # never across series
        assert (segment[chosen - 1] == segment[chosen + 1]).all()


# --- the window stage on a panel ----------------------------------------------


def panel_params(raw_params: dict, scaling: str = "per_series") -> dict:
    raw_params["ingest"].update(
        source=PANEL_CSV,
        series=["region"],
        missing={},
        long_gaps="break",
    )
    raw_params["features"]["timezone"] = "UTC"
    raw_params["tasks"]["demand"]["horizon"] = 2
    raw_params["window"] = {"lookback": 6, "scaling": scaling}
    return raw_params


def windowed_panel(tmp_path, raw_params, frame=None, scaling="per_series"):
    project = make_plain_project(tmp_path, panel_params(raw_params, scaling))
    frame = panel_frame() if frame is None else frame
    frame.to_csv(project / PANEL_CSV, index=False)
    for stage in ("ingest", "window", "split"):
        proc = run_stage_cli(stage, project)
        assert proc.returncode == 0, proc.stderr
    return project


def load_windows(project):
    folder = project / "data" / "windows"
    bundle = json.loads((folder / "preprocess.json").read_text())
    arrays = {
        name: np.load(folder / f"{name}.npy")
        for name in ("series", "ends", "times", "scaled")
    }
    with np.load(folder / "targets.npz") as targets:
        arrays["targets"] = {k: targets[k] for k in targets.files}
    return bundle, arrays


def test_window_stage_per_series_scalers_on_training_rows_only(tmp_path, raw_params):
    project = windowed_panel(tmp_path, raw_params)
    bundle, arrays = load_windows(project)
    assert bundle["series"] == {"names": sorted(LEVELS), "scaling": "per_series"}
    table = pd.read_parquet(project / "data" / "ingested.parquet")
    np.testing.assert_array_equal(
        arrays["series"], pd.Index(sorted(LEVELS)).get_indexer(table["series"])
    )
    assert arrays["series"].dtype == np.int32
    # 120 distinct hours: training range = the first 84 (row_bounds(120, .7)).
    train = table["time"] < table["time"].min() + pd.Timedelta(hours=84)
    demand = next(t for t in bundle["tasks"] if t["name"] == "demand")
    for code, name in enumerate(sorted(LEVELS)):
        rows = table.loc[train & (table["series"] == name), "Demand"]
        assert len(rows) == 84
        assert demand["series_mean"][code] == pytest.approx(rows.mean(), rel=1e-12)
        assert demand["series_std"][code] == pytest.approx(rows.std(ddof=0), rel=1e-12)
    assert demand["series_fallback"] == []
    # Scaled per series: every series' training Demand has mean 0, std 1.
    col = bundle["feature_names"].index("Demand")
    for code in range(3):
        mine = arrays["scaled"][(arrays["series"] == code) & train.to_numpy(), col]
        assert abs(mine.mean()) < 1e-5 and mine.std() == pytest.approx(1, abs=1e-5)
    # Windows never cross series.
    ends, lookback = arrays["ends"], bundle["lookback"]
    first, last = ends - lookback + 1, ends + bundle["max_horizon"]
    assert (arrays["series"][first] == arrays["series"][last]).all()
    assert len(ends) == 3 * (120 - lookback + 1 - bundle["max_horizon"])
    summary = json.loads((project / "data/split/summary.json").read_text())
    assert summary["time_bounds"] == {
        "val_from": "2024-03-04T12:00:00.000000000",
        "test_from": "2024-03-05T06:00:00.000000000",
    }
    assert summary["series"] == 3


def load_stage(name: str):
    """A stage script as a module (to run its ``main`` with a constant changed)."""
    spec = importlib.util.spec_from_file_location(
        f"stage_{name}", STAGES / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("scaling", ["per_series", "global"])
def test_window_stage_in_chunks_equals_the_whole_table(
    tmp_path, raw_params, monkeypatch, scaling
):
    # A static categorical column as well: strings must survive chunking too.
    raw_params["ingest"]["columns"]["kind"] = "categorical"
    raw_params["features"]["columns"].append("kind")
    frame = panel_frame()
    frame["kind"] = frame["region"].map({"north": "a", "south": "b", "west": "a"})
    project = windowed_panel(tmp_path, raw_params, frame, scaling)
    windows = project / "data" / "windows"
    whole = {p.name: p.read_bytes() for p in windows.iterdir()}
    # The oracle: today's in-memory path, every function on the whole table.
    params = parse(Params, yaml.safe_load((project / "params.yaml").read_text()), "")
    table = pd.read_parquet(project / "data" / "ingested.parquet")
    times = table["time"].to_numpy("datetime64[ns]").view(np.int64)
    train = row_splits(times, params.split.train, params.split.val) == 0
    names = sorted(table["series"].unique())
    bundle = window.fit(
        table[train],
        params.features,
        params.tasks,
        params.window.lookback,
        series=names,
        scaling=scaling,
    )
    stored = json.loads(whole["preprocess.json"])
    assert {k: v for k, v in stored.items() if k not in ("n_rows", "ingest")} == bundle
    scaled = np.load(windows / "scaled.npy")
    assert scaled.tobytes() == window.transform(table, bundle).tobytes()
    with np.load(windows / "targets.npz") as stored_targets:
        for task, values in window.targets(table, bundle).items():
            assert stored_targets[task].tobytes() == values.tobytes()
    assert np.array_equal(
        np.load(windows / "series.npy"), window.series_codes(table, bundle)
    )
    # Chunks of 7 rows (cutting series and the train/val boundary): same bytes.
    for name in list(whole):
        (windows / name).unlink()
    monkeypatch.chdir(project)
    stage = load_stage("window")
    monkeypatch.setattr(stage, "CHUNK_ROWS", 7)
    stage.main()
    assert {p.name: p.read_bytes() for p in windows.iterdir()} == whole


def test_changing_a_test_range_value_changes_no_scaler(tmp_path, raw_params):
    frame = panel_frame()
    first = windowed_panel(tmp_path / "a", raw_params, frame)
    changed = frame.copy()
    late = (changed["region"] == "south") & (changed["Time"] >= "2024-03-05T10:00:00Z")
    changed.loc[late, "Demand"] = 99999.0
    second = windowed_panel(tmp_path / "b", raw_params, changed)
    a = (first / "data/windows/preprocess.json").read_bytes()
    b = (second / "data/windows/preprocess.json").read_bytes()
    assert a == b
    assert (first / "data/windows/scaled.npy").read_bytes() != (
        second / "data/windows/scaled.npy"
    ).read_bytes()


def test_series_without_training_rows_falls_back_to_global_moments(
    tmp_path, raw_params
):
    frame = panel_frame()
    # "late" starts after the training range: no training row of its own.
    late = frame[frame["region"] == "north"].copy()
    late["region"] = "late"
    late = late[late["Time"] >= "2024-03-04T18:00:00Z"]
    project = windowed_panel(tmp_path, raw_params, pd.concat([frame, late]))
    bundle, _ = load_windows(project)
    demand = next(t for t in bundle["tasks"] if t["name"] == "demand")
    code = bundle["series"]["names"].index("late")
    assert demand["series_fallback"] == ["late"]
    assert demand["series_mean"][code] == demand["mean"]
    assert demand["series_std"][code] == demand["std"]
    # mean/std stay the moments of every series' training rows together.
    table = pd.read_parquet(project / "data" / "ingested.parquet")
    train = table["time"] < table["time"].min() + pd.Timedelta(hours=84)
    assert demand["mean"] == pytest.approx(table.loc[train, "Demand"].mean())


def test_per_series_unscaling_round_trips(tmp_path, raw_params):
    project = windowed_panel(tmp_path, raw_params)
    bundle, arrays = load_windows(project)
    table = pd.read_parquet(project / "data" / "ingested.parquet")
    spec = next(t for t in bundle["tasks"] if t["name"] == "demand")
    series = arrays["series"]
    back = metrics.original_units(arrays["targets"]["demand"], spec, series)
    np.testing.assert_allclose(back, table["Demand"].to_numpy(), rtol=1e-6)
    ends = arrays["ends"]
    actual = metrics.actuals(spec, arrays["targets"]["demand"], ends, series)
    np.testing.assert_allclose(
        actual[:, 0], table["Demand"].to_numpy()[ends + 2], rtol=1e-6
    )
    # A perfect scaled forecast unscales, window by window, to the actuals.
    scaled_forecast = arrays["targets"]["demand"][ends + 2]
    output = metrics.model_output(
        scaled_forecast, spec, metrics.window_series(series, ends)
    )
    np.testing.assert_allclose(output, actual, rtol=1e-6)
    with pytest.raises(ValueError, match="scaled per series"):
        metrics.original_units(arrays["targets"]["demand"], spec)


def test_global_scaling_with_series_keeps_one_scaler(tmp_path, raw_params):
    project = windowed_panel(tmp_path, raw_params, scaling="global")
    bundle, _ = load_windows(project)
    assert bundle["series"] == {"names": sorted(LEVELS), "scaling": "global"}
    assert all("series_mean" not in t for t in bundle["tasks"])
    assert (project / "data/windows/series.npy").is_file()


# --- the whole pipeline -------------------------------------------------------


def test_panel_pipeline_through_dvc_repro_and_predict(tmp_path_factory, raw_params):
    from test_pipeline import make_project, tiny_params

    params = tiny_params()
    panel_params(params)
    params["train"].update(layers=[4], epochs=1, batch_size=64)
    params["ablation"]["enabled"] = False
    params["baselines"]["season"] = 8  # 16 test times
    params["evaluate"]["bootstrap_samples"] = 100
    scratch = tmp_path_factory.mktemp("scratch")
    project = make_project(tmp_path_factory.mktemp("panel") / "repo", scratch, params)
    panel_frame(rows=150).to_csv(project.root / PANEL_CSV, index=False)
    project.run("git", "add", "-A")
    project.run("git", "commit", "-q", "-m", "panel data")
    ran = project.repro()
    assert ran[:3] == ["ingest", "window", "split"] and "evaluate" in ran
    assert project.status() == {}
    report = project.read_json("metrics/evaluate.json")
    # Scores in original units: MAE far below the smallest series' level would
    # be impossible if south were unscaled with west's moments, and persistence
    # errors are of the order of the levels' hourly changes.
    assert report["demand"]["baselines"]["persistence"]["mae"] < 2000
    test_csv = pd.read_csv(project.root / "predictions/test.csv")
    assert test_csv.columns[0] == "series"
    demand = test_csv[test_csv["task"] == "demand"]
    for name, level in LEVELS.items():
        mine = demand[demand["series"] == name]
        assert len(mine) > 0
        actual, forecast = (mine[c].astype(float) for c in ("actual", "forecast"))
        assert actual.between(0.7 * level, 1.3 * level).all()
        assert forecast.between(0.3 * level, 1.7 * level).all()
    _check_pooled_skill_resamples_by_time(project, report["demand"], demand, params)
    # The chart over time draws one series (the first), named in its label.
    line = pd.read_csv(project.root / "plots/predictions.csv").query(
        "series == 'actual'"
    )
    assert line["time"].is_unique
    assert line["task"].str.endswith(f", series {sorted(LEVELS)[0]}").all()
    # predict on a long table: every series, rows carry the series id.
    new = panel_frame(rows=150, seed=0, shuffle=True)
    new = new[new["Time"] >= "2024-03-06T12:00:00Z"]
    out = project.root / "forecast.csv"
    proc = _predict(project, str(_write(new, project.root / "new.csv")), str(out))
    assert proc.returncode == 0, proc.stderr
    forecast = pd.read_csv(out)
    assert forecast.columns[0] == "series"
    assert set(forecast["series"]) == set(LEVELS)
    last = forecast[forecast["task"] == "demand"].groupby("series")["origin"].max()
    assert (last == "2024-03-07T05:00:00Z").all()
    # The same window in evaluate's test.csv and in predict: same forecast.
    both = demand.merge(
        forecast[forecast["task"] == "demand"], on=["series", "origin", "step"]
    )
    assert len(both) > 0
    np.testing.assert_allclose(
        both["forecast_x"].astype(float), both["forecast_y"].astype(float), rtol=1e-5
    )
    unknown = pd.concat([new, new[new["region"] == "north"].assign(region="east")])
    proc = _predict(
        project,
        str(_write(unknown, project.root / "unknown.csv")),
        str(project.root / "unknown_out.csv"),
    )
    assert proc.returncode == 2
    assert "series 'east' was not among the series" in proc.stderr
    # A series with fewer rows than the lookback would get no forecast: refused,
    # naming it, and nothing written.
    short = new[(new["region"] != "south") | (new["Time"] >= "2024-03-07T03:00:00Z")]
    out = project.root / "short_out.csv"
    proc = _predict(project, str(_write(short, project.root / "short.csv")), str(out))
    assert proc.returncode == 2
    assert "series 'south' has no 6 consecutive rows" in proc.stderr
    assert not out.exists()


def _check_pooled_skill_resamples_by_time(project, report, rows, params) -> None:
    """The pooled skill over persistence is resampled in blocks of times that
    carry every series' windows (uncertainty.time_positions), recomputed here
    from predictions/test.csv and the stored persistence forecasts."""
    ends = np.load(project.root / "data/split/test.npy")
    names = np.array(sorted(LEVELS))[np.load(project.root / "data/windows/series.npy")]
    assert_array_equal(rows["series"].to_numpy(), names[ends])  # ends' order
    actual = rows["actual"].to_numpy(float)
    model = np.abs(rows["forecast"].to_numpy(float) - actual)
    stored = np.load(project.root / "predictions/baselines.npz")
    ref = {"persistence": np.abs(stored["demand.persistence"] - actual)}
    times = np.load(project.root / "data/windows/times.npy")[ends]
    places = uncertainty.time_positions(times)
    assert places is not None and places.max() + 1 < len(ends)  # shared times
    settings = (params["baselines"]["season"], params["evaluate"]["bootstrap_samples"])
    by_time = uncertainty.compare(
        model, ref, *settings, params["base"]["seed"], positions=places
    )
    got = report["skill"]["vs_persistence"]
    # test.csv holds float32 forecasts: equal to about 1e-5.
    assert got == pytest.approx(by_time["vs_persistence"], rel=1e-4)
    by_window = uncertainty.compare(model, ref, *settings, params["base"]["seed"])
    assert got["ci_low"] != pytest.approx(
        by_window["vs_persistence"]["ci_low"], rel=1e-2
    )


def _predict(project, source: str, out):
    """`mtlstm predict --input source --output out` in the project; the process."""
    command = [sys.executable, "-m", "mtlstm.cli", "predict", "--input", source]
    return project.run(*command, "--output", str(out), check=False)


def _write(frame: pd.DataFrame, path):
    frame.to_csv(path, index=False)
    return path


def test_filled_targets_cut_in_time_equal_the_row_cut_for_one_series():
    from mtlstm.split import filled_targets

    n = 60
    rng = np.random.default_rng(0)
    mask = {"y": rng.random(n) < 0.2}
    ends = np.arange(3, n - 2)
    times = np.arange(n, dtype=np.int64) * 60_000_000_000
    args = (mask, {"t": ("y", [1, 2])}, ends, n, 4, 2, 0.7, 0.15)
    assert filled_targets(*args) == filled_targets(*args, times)
    # Hand count on three series of 20 rows sharing times 0..19: train < 14,
    # val 14..16, test 17..19; one filled value at time 15 of series 1 (row 35).
    panel_mask = {"y": np.zeros(60, bool)}
    panel_mask["y"][35] = True
    panel_times = np.tile(np.arange(20, dtype=np.int64), 3)
    ends = np.r_[np.arange(1, 19), np.arange(21, 39), np.arange(41, 59)]
    got = filled_targets(
        panel_mask, {"t": ("y", 1)}, ends, 60, 2, 1, 0.7, 0.15, panel_times
    )
    # The only window whose target is row 35 ends at row 34: its inputs (rows
    # 33..34, times 13..14) start in train, so it is purged; no split counts it.
    assert got == {"t": {"train": 0, "val": 0, "test": 0}}
    panel_mask["y"][36] = True  # time 16: target of val window ending at row 35
    got = filled_targets(
        panel_mask, {"t": ("y", 1)}, ends, 60, 2, 1, 0.7, 0.15, panel_times
    )
    assert got == {"t": {"train": 0, "val": 1, "test": 0}}


def fit_y_per_series(rows: pd.DataFrame, series: list[str], **kwargs) -> dict:
    """window.fit of one regression task on column y, scaled per series."""
    from mtlstm.config import Features, Task
    from mtlstm.window import fit

    return fit(
        rows,
        Features(columns=["y"]),
        {"t": Task(type="regression", target="y")},
        lookback=2,
        series=series,
        scaling="per_series",
        **kwargs,
    )


def test_fit_per_series_moments_by_hand_and_constant_series_fallback():
    from mtlstm.window import targets, transform

    rows = pd.DataFrame(
        {
            "time": pd.date_range("2024-01-01", periods=6, freq="h", tz="UTC"),
            "series": ["a", "a", "a", "b", "b", "b"],
            "y": [1.0, 2.0, 3.0, 10.0, 10.0, 10.0],
        }
    )
    bundle = fit_y_per_series(rows, ["a", "b", "c"])
    spec = bundle["tasks"][0]
    # global: mean 6, std sqrt(((25+16+9)+3*16)/6) = sqrt(98/6)
    assert spec["mean"] == 6.0
    assert spec["std"] == pytest.approx(np.sqrt(98 / 6))
    # a: mean 2, std sqrt(2/3); b is constant and c has no rows: global.
    assert spec["series_mean"] == [2.0, 6.0, 6.0]
    assert spec["series_std"] == pytest.approx([np.sqrt(2 / 3), *[np.sqrt(98 / 6)] * 2])
    assert spec["series_fallback"] == ["b", "c"]
    assert bundle["inputs"][0]["series_fallback"] == ["b", "c"]
    scaled = targets(rows, bundle)["t"]
    np.testing.assert_allclose(
        scaled[:3], np.array([-1, 0, 1]) / np.sqrt(2 / 3), rtol=1e-6
    )
    np.testing.assert_allclose(transform(rows, bundle)[:, 0], scaled, rtol=1e-6)
    with pytest.raises(DataError, match=r"^series 'zz' was not among the series"):
        transform(rows.assign(series="zz"), bundle)


def test_a_per_series_overflow_names_the_series_moments_that_scaled_it():
    from mtlstm.window import transform

    # Series a spreads by about 1e-30 in training, so 1e10 overflows float32
    # once scaled by a's own moments (mean 6.7e-31, std 9.4e-31), not by the
    # global ones (mean 10, std 11.5), which would not overflow.
    rows = pd.DataFrame(
        {
            "time": pd.date_range("2024-01-01", periods=6, freq="h", tz="UTC"),
            "series": ["a", "a", "a", "b", "b", "b"],
            "y": [0.0, 2e-30, 0.0, 10.0, 20.0, 30.0],
        }
    )
    bundle = fit_y_per_series(rows, ["a", "b"])
    with pytest.raises(
        DataError,
        match=r"^column 'y' at 2024-01-01 02:00:00\+00:00: 1e\+10 is 1 value\(s\) "
        r"beyond float32's range \(3.4e38\) once scaled by series 'a''s training "
        r"rows' mean 6.66667e-31 and std 9.43e-31;",
    ):
        transform(rows.assign(y=[0.0, 2e-30, 1e10, 10.0, 20.0, 30.0]), bundle)


def test_a_series_constant_at_a_repeated_decimal_falls_back():
    from mtlstm.window import transform

    # Series a is 2.99 on its seven training rows: its two-pass std is 4.4e-16,
    # not 0, and scaled a later 3.49 to about 1e15. It is constant: global.
    rows = pd.DataFrame(
        {
            "time": pd.date_range("2024-01-01", periods=14, freq="h", tz="UTC"),
            "series": ["a"] * 7 + ["b"] * 7,
            "y": [2.99] * 7 + [1.0, 2, 3, 4, 5, 6, 7],
        }
    )
    bundle = fit_y_per_series(rows, ["a", "b"])
    item = bundle["inputs"][0]
    assert item["series_fallback"] == ["a"]
    assert item["series_mean"] == [item["mean"], 4.0]
    assert item["series_std"] == [item["std"], 2.0]
    later = rows.assign(y=[3.49] * 7 + [1.0] * 7)
    expected = (3.49 - item["mean"]) / item["std"]
    np.testing.assert_allclose(transform(later, bundle)[:7, 0], expected, rtol=1e-6)


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=4),
    lengths=st.lists(st.integers(1, 30), min_size=4, max_size=4),
)
def test_per_series_constant_series_always_fall_back(values, lengths):
    from mtlstm.window import _series_moments

    # Series k repeats values[k] lengths[k] times; one more series varies.
    lengths = lengths[: len(values)]
    x = np.r_[np.repeat(values, lengths), 0.0, 1.0]
    codes = np.r_[np.repeat(np.arange(len(values)), lengths), [len(values)] * 2]
    names = [f"s{k}" for k in range(len(values) + 1)]
    got = _series_moments(pd.Series(x), codes, names, {"mean": 0.5, "std": 0.5})
    assert got["series_fallback"] == names[:-1]


def test_missing_id_column_is_named(tmp_path):
    path = tmp_path / "x.csv"
    panel_frame(rows=3).drop(columns="region").to_csv(path, index=False)
    with pytest.raises(DataError, match=r"missing column\(s\) region .*ingest\.series"):
        ingest.read_table(path, panel_cfg(), "x.csv")


def test_robust_per_series_scalers_by_hand_and_fallbacks():

    # a: 1, 2, 3, 100 (median 2.5, quartiles 1.75 and 27.25); b constant; c
    # without training rows: b and c take the global median and IQR / 1.349.
    rows = pd.DataFrame(
        {
            "time": pd.date_range("2024-01-01", periods=8, freq="h", tz="UTC"),
            "series": ["b", "a", "b", "a", "b", "a", "b", "a"],
            "y": [10.0, 1.0, 10.0, 2.0, 10.0, 3.0, 10.0, 100.0],
        }
    )
    bundle = fit_y_per_series(rows, ["a", "b", "c"], scaler="robust")
    item = bundle["inputs"][0]
    iqr = 1.3489795003921634
    # global: sorted 1, 2, 3, 10, 10, 10, 10, 100: median 10, quartiles 2.75, 10
    assert item["mean"] == 10.0
    assert item["std"] == pytest.approx(7.25 / iqr)
    assert item["series_mean"] == [2.5, 10.0, 10.0]
    assert item["series_std"] == pytest.approx([25.5 / iqr, 7.25 / iqr, 7.25 / iqr])
    assert item["series_fallback"] == ["b", "c"]
