"""Forecasting a panel (ingest.series): `mtlstm predict` with known-future
inputs (features.known_future) on a hand-built three-series table, against a
model fed by hand and unscaled per series by hand; and the rolling-origin
backtest cut in time for every series."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, synthetic_table

from mtlstm import backtest, ingest, window
from mtlstm.config import Backtest, Features, Ingest, Task, load_params
from mtlstm.errors import DataError
from mtlstm.predict import observed_rows, read_input

# Three series of very different levels, one hourly grid from 2024-03-01.
LEVELS = {"north": 400.0, "south": 40.0, "west": 4000.0}
NAMES = sorted(LEVELS)
START = pd.Timestamp("2024-03-01T00:00Z")
CFG = Ingest(
    source="data/raw/panel.csv",
    time_column="Time",
    columns={"Demand": "numeric", "Temperature": "numeric"},
    series=["region"],
    long_gaps="break",
)
FEATURES = Features(
    columns=["Demand", "Temperature"],
    calendar=["hour_of_day"],
    timezone="UTC",
    known_future=["Temperature", "hour_of_day"],
)
TASKS = {"demand": Task(type="regression", target="Demand", horizon=[1, 2])}
LOOKBACK, STEPS = 4, 2  # steps: the largest horizon step


def demand(region: str, hour: np.ndarray) -> np.ndarray:
    i = NAMES.index(region)
    return LEVELS[region] * (1 + 0.1 * np.sin(hour + i)) + i


def temperature(region: str, hour: np.ndarray) -> np.ndarray:
    return 10.0 + NAMES.index(region) + (hour % 5) * 1.5


def long_frame(hours: dict[str, range], future: dict[str, range]) -> pd.DataFrame:
    """Source rows: observed ``hours`` per series, then its ``future`` hours
    with Temperature only (Demand empty)."""
    parts = []
    for region in hours:
        seen, ahead = np.array(hours[region]), np.array(future.get(region, []))
        both = np.r_[seen, ahead]
        parts.append(
            pd.DataFrame(
                {
                    "Time": (START + pd.to_timedelta(both, "h")).strftime(
                        "%Y-%m-%dT%H:%M:%SZ"
                    ),
                    "region": region,
                    "Demand": [f"{v:.4f}" for v in demand(region, seen)]
                    + [""] * len(ahead),
                    "Temperature": [f"{v:g}" for v in temperature(region, both)],
                }
            )
        )
    # Interleaved by time, as a long export often is.
    return pd.concat(parts).sort_values("Time", kind="stable").reset_index(drop=True)


def trained_table(hours: int = 40) -> pd.DataFrame:
    """The ingested panel the bundle is fitted on (every series, hours 0..)."""
    frame = long_frame(dict.fromkeys(NAMES, range(hours)), {})
    src = ingest.Source(frame.astype(str), "panel.csv", 2)
    typed, _ = ingest.order_rows(ingest.coerce(src, CFG), src, CFG.sort, CFG.duplicates)
    table, _ = ingest.fill_gaps(ingest.to_grid(typed, CFG, "UTC"), CFG)
    return table


def make_bundle(scaling: str = "per_series", names=NAMES) -> dict:
    table = trained_table()
    train = table[table["series"].isin(names)]
    bundle = window.fit(
        train, FEATURES, TASKS, LOOKBACK, series=list(names), scaling=scaling
    )
    bundle["ingest"] = ingest.schema(CFG)
    return bundle


# Observed hours 40..47 (south: 40..46), future Temperature at the next two.
HISTORY = {"north": range(40, 48), "south": range(40, 47), "west": range(40, 48)}
FUTURE = {"north": range(48, 50), "south": range(47, 49), "west": range(48, 50)}


def write_input(tmp_path, frame: pd.DataFrame, name: str = "in.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_read_input_appends_each_series_own_future_rows(tmp_path):
    future = {r: range(h.start, h.stop + 3) for r, h in FUTURE.items()}
    frame = long_frame(HISTORY, future)
    # Past the horizon: never read, so not even a number is needed there.
    beyond = (frame["region"] == "west") & (frame["Time"] >= "2024-03-03T03:00:00Z")
    frame.loc[beyond, "Temperature"] = "not a number"
    table, note = read_input(write_input(tmp_path, frame), make_bundle())
    assert note is None
    assert table.attrs["future_rows"] == STEPS
    sizes = {"north": 10, "south": 9, "west": 10}  # observed rows + STEPS
    assert table["series"].tolist() == [r for r in NAMES for _ in range(sizes[r])]
    observed = observed_rows(table)
    for region in NAMES:
        mine = table[table["series"] == region]
        seen = np.array(HISTORY[region])
        ahead = np.array(FUTURE[region])  # exactly STEPS rows, no more
        assert observed[mine.index].tolist() == [True] * len(seen) + [False] * STEPS
        hours = (mine["time"] - START) / pd.Timedelta("1h")
        np.testing.assert_array_equal(hours, np.r_[seen, ahead])
        np.testing.assert_allclose(
            mine["Temperature"], temperature(region, np.r_[seen, ahead])
        )
        # Demand of a future row is a placeholder (the last observed value).
        np.testing.assert_allclose(
            mine["Demand"].iloc[-STEPS:], [round(demand(region, seen)[-1], 4)] * 2
        )
        assert mine["segment"].nunique() == 1  # a series' future rows stay in it


def test_read_input_refuses_a_missing_future_value_naming_series_column_time(
    tmp_path,
):
    frame = long_frame(HISTORY, FUTURE)
    # south's second future step (hour 48 = 2024-03-03T00:00Z) is absent.
    frame = frame[
        ~((frame["region"] == "south") & (frame["Time"].str[:13] == "2024-03-03T00"))
    ]
    with pytest.raises(
        DataError,
        match=r"series 'south': known-future column 'Temperature' has no value at "
        r"2024-03-03T00:00:00\+00:00 \(step 2 of 2 after its series' last observed "
        r"row, 2024-03-02T22:00:00\+00:00\)",
    ):
        read_input(write_input(tmp_path, frame), make_bundle())


def test_each_series_future_rows_are_read_up_to_its_own_horizon(tmp_path):
    # south's origin is hour 46, its horizon 47-48; north's and west's is 47,
    # theirs 48-49. Hour 49 (2024-03-03T01:00Z) is past south's horizon only:
    # a bad value there is never read for south, and refused for west.
    future = {r: range(h.start, 50) for r, h in FUTURE.items()}

    def bad_at_hour_49(region: str):
        frame = long_frame(HISTORY, future)
        at = (frame["region"] == region) & frame["Time"].str.startswith("2024-03-03T01")
        frame.loc[at, "Temperature"] = "warm"
        return write_input(tmp_path, frame)

    table, _ = read_input(bad_at_hour_49("south"), make_bundle())
    south = table[table["series"] == "south"]
    assert south["time"].iloc[-1] == pd.Timestamp("2024-03-03T00:00Z")
    with pytest.raises(
        DataError,
        match=r"in\.csv \(future rows\) line \d+: column 'Temperature' .*'warm'",
    ):
        read_input(bad_at_hour_49("west"), make_bundle())


def test_read_input_refuses_a_series_without_future_rows(tmp_path):
    frame = long_frame(HISTORY, {k: v for k, v in FUTURE.items() if k != "west"})
    with pytest.raises(
        DataError,
        match=r"series 'west': known-future column 'Temperature' has no value at "
        r"2024-03-03T00:00:00\+00:00 \(step 1 of 2",
    ):
        read_input(write_input(tmp_path, frame), make_bundle())


def test_read_input_refuses_a_series_with_only_future_rows(tmp_path):
    frame = long_frame(HISTORY, FUTURE)
    frame.loc[frame["region"] == "north", "Demand"] = ""
    with pytest.raises(DataError, match=r"series 'north': no row holds a value of"):
        read_input(write_input(tmp_path, frame), make_bundle())


# --- the command, against a model fed by hand -----------------------------


def _model(tmp_path, bundle: dict, embedding: int):
    from mtlstm.config import Train
    from mtlstm.model import make_model
    from mtlstm.tf_setup import make_deterministic, save_model

    make_deterministic(0)
    cfg = Train(loss_weights={"demand": 1.0}, layers=[4], series_embedding=embedding)
    model = make_model(cfg, bundle, len(bundle["feature_names"]))
    save_model(model, tmp_path / "model.keras")
    (tmp_path / "preprocess.json").write_text(json.dumps(bundle))
    return model


def _predict(tmp_path, path, out: str):
    from mtlstm.cli import main

    return main(
        [
            "predict",
            "--model",
            str(tmp_path / "model.keras"),
            "--bundle",
            str(tmp_path / "preprocess.json"),
            "--input",
            str(path),
            "--output",
            str(tmp_path / out),
        ]
    )


def _by_hand(bundle: dict, region: str, hours: np.ndarray) -> np.ndarray:
    """The ``len(hours) x F`` scaled rows of one series, computed directly:
    Demand and Temperature by the series' own moments (per_series) or the
    global ones, then the hour of day's sin and cos."""
    code = NAMES.index(region)
    by_column = {item["column"]: item for item in bundle["inputs"] if "column" in item}

    def scale(column, values):
        item = by_column[column]
        if "series_mean" in item:
            return (values - item["series_mean"][code]) / item["series_std"][code]
        return (values - item["mean"]) / item["std"]

    angle = 2 * np.pi * (hours % 24) / 24
    return np.column_stack(
        [
            scale("Demand", np.round(demand(region, hours), 4)),
            scale("Temperature", temperature(region, hours)),
            np.sin(angle),
            np.cos(angle),
        ]
    ).astype(np.float32)


@pytest.mark.parametrize(("scaling", "embedding"), [("per_series", 2), ("global", 0)])
def test_predict_forecasts_every_series_from_its_own_rows_and_moments(
    tmp_path, capsys, scaling, embedding
):
    bundle = make_bundle(scaling)
    assert bundle["feature_names"] == [
        "Demand",
        "Temperature",
        "hour_of_day_sin",
        "hour_of_day_cos",
    ]
    model = _model(tmp_path, bundle, embedding)
    beyond = {r: range(h.start, h.stop + 4) for r, h in FUTURE.items()}
    path = write_input(tmp_path, long_frame(HISTORY, beyond))
    assert _predict(tmp_path, path, "out.csv") == 0, capsys.readouterr().err
    got = pd.read_csv(tmp_path / "out.csv")
    assert got.columns[:4].tolist() == ["series", "origin", "task", "step"]
    spec = bundle["tasks"][0]
    for region in NAMES:
        # Inputs by hand: the last LOOKBACK observed hours, the known-future
        # columns (Temperature, hour of day) at the STEPS hours after them.
        last = HISTORY[region].stop - 1
        past = _by_hand(bundle, region, np.arange(last - LOOKBACK + 1, last + 1))
        ahead = _by_hand(bundle, region, np.arange(last + 1, last + 1 + STEPS))
        x = {"features": past[None], "known_future": ahead[None][:, :, 1:]}
        if embedding:
            x["series"] = np.array([NAMES.index(region)], np.int32)
        scaled = model.predict(x, verbose=0)["demand"][0].astype(np.float64)
        code = NAMES.index(region)
        mean, std = (
            (spec["series_mean"][code], spec["series_std"][code])
            if scaling == "per_series"
            else (spec["mean"], spec["std"])
        )
        origin = (START + pd.Timedelta(hours=last)).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows = got[(got["series"] == region) & (got["origin"] == origin)]
        assert rows["step"].tolist() == [1, 2]
        # Unscaled by the series' own moments (per_series) or the global ones;
        # compared in scaled units (float32 model arithmetic).
        np.testing.assert_allclose((rows["forecast"] - mean) / std, scaled, atol=1e-5)
        np.testing.assert_allclose(rows["forecast"], scaled * std + mean, rtol=1e-3)
        assert rows["actual"].isna().all()  # a future row is never an actual
        # Every earlier origin with a full lookback is forecast too; the
        # actuals there are the observed values.
        mine = got[got["series"] == region]
        assert mine["origin"].nunique() == len(HISTORY[region]) - LOOKBACK + 1
        first = mine[mine["step"] == 1].iloc[0]
        hour = HISTORY[region].start + LOOKBACK
        assert first["actual"] == pytest.approx(round(demand(region, hour), 4))


def test_predict_refuses_missing_future_rows_and_unseen_series(tmp_path, capsys):
    _model(tmp_path, make_bundle(), 2)
    frame = long_frame(HISTORY, FUTURE)
    lacking = frame[~((frame["region"] == "north") & (frame["Demand"] == ""))]
    assert _predict(tmp_path, write_input(tmp_path, lacking, "a.csv"), "a.out") == 2
    err = capsys.readouterr().err
    assert "series 'north': known-future column 'Temperature' has no value at " in err
    assert "2024-03-03T00:00:00+00:00 (step 1 of 2" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "a.out").exists()

    east = frame[frame["region"] == "north"].assign(region="east")
    unseen = pd.concat([frame, east])
    assert _predict(tmp_path, write_input(tmp_path, unseen, "b.csv"), "b.out") == 2
    err = capsys.readouterr().err
    assert "series 'east' was not among the series the preprocessing was fitted" in err
    assert not (tmp_path / "b.out").exists()


def test_predict_summary_names_the_latest_origin_of_any_series(
    tmp_path, capsys, monkeypatch
):
    # west (the last series in the output) ends 3 hours before north and
    # south: the summary named west's last origin as the last one.
    from mtlstm import cli

    bundle = make_bundle()
    (tmp_path / "preprocess.json").write_text(json.dumps(bundle))
    hours = {"north": range(40, 48), "south": range(40, 48), "west": range(40, 45)}
    future = {r: range(h.stop, h.stop + STEPS) for r, h in hours.items()}
    path = write_input(tmp_path, long_frame(hours, future))

    def run_model(args, bundle, scaled, ends, series):
        return {"demand": np.zeros((len(ends), STEPS), np.float32)}

    monkeypatch.setattr(cli, "_run_model", run_model)
    assert _predict(tmp_path, path, "out.csv") == 0
    out = capsys.readouterr().out
    assert out.endswith("(last origin 2024-03-02T23:00:00Z)\n"), out


# --- backtest on a panel ---------------------------------------------------


def panel_table(n: int = 200) -> pd.DataFrame:
    """The ingested form of three hourly series of different levels; "south"
    starts 20 hours late."""
    parts = []
    for i, region in enumerate(NAMES):
        part = synthetic_table(n, seed=i)
        part["Demand"] *= LEVELS[region] / 4000
        part.insert(1, "series", region)
        part["segment"] = i
        parts.append(part.iloc[20:] if region == "south" else part)
    return pd.concat(parts, ignore_index=True)


@pytest.fixture
def panel_params():
    params = load_params(ROOT / "params.yaml")
    return dataclasses.replace(
        params,
        ingest=dataclasses.replace(params.ingest, series=["region"]),
        window=dataclasses.replace(params.window, lookback=6, scaling="per_series"),
    )


def persistence_scores(fold, ranges, i):
    """A "model" that forecasts each series' last observed value (its skill
    against the persistence baseline is exactly 0)."""
    from mtlstm import metrics

    out = {}
    for spec in fold["bundle"]["tasks"]:
        name, ends = spec["name"], fold["test"]
        raw = metrics.original_units(fold["targets"][name], spec, fold["codes"])
        actual, last = raw[ends + spec["horizon"]], raw[ends]
        if spec["type"] == "classification":
            last = metrics.one_hot(last, len(spec["classes"]))
        out[name] = metrics.score_task(spec, actual, last)
    return out


def test_panel_folds_cut_every_series_at_the_same_times(panel_params):
    table = panel_table()
    times = backtest.period_times(table)
    assert len(times) == 200  # distinct hours, not 580 rows
    ranges = backtest.fold_ranges(len(times), 0.7, 0.15, 2)
    assert ranges[0] == {"train": (0, 110), "val": (110, 140), "test": (140, 170)}
    fold = backtest.prepare_panel_fold(table, panel_params, ranges[0], times, NAMES)
    rows = table.iloc[fold["rows"]]
    assert rows["time"].max() == times[169]  # nothing after the test period
    val_from, test_from = times[110], times[140]
    lookback, horizon = 6, fold["bundle"]["max_horizon"]
    for name, (lo, hi) in {
        "train": (None, val_from),
        "val": (val_from, test_from),
        "test": (test_from, None),
    }.items():
        ends = fold[name]
        first, last = (
            rows["time"].iloc[ends - lookback + 1],
            rows["time"].iloc[ends + horizon],
        )
        assert lo is None or (first.to_numpy() >= lo).all()
        assert hi is None or (last.to_numpy() < hi).all()
        # Windows of every series, never across two.
        codes = fold["codes"]
        np.testing.assert_array_equal(codes[ends - lookback + 1], codes[ends + horizon])
        assert set(codes[ends]) == {0, 1, 2}
    # Per-series scalers refitted on the fold's own training time range.
    demand = next(t for t in fold["bundle"]["tasks"] if t["name"] == "demand")
    for code, region in enumerate(NAMES):
        mine = rows[(rows["series"] == region) & (rows["time"] < val_from)]
        assert demand["series_mean"][code] == pytest.approx(mine["Demand"].mean())
        assert demand["series_std"][code] == pytest.approx(mine["Demand"].std(ddof=0))
    # A later value changes no scaler of the fold.
    changed = table.copy()
    changed.loc[changed["time"] > times[169], "Demand"] += 1e5
    again = backtest.prepare_panel_fold(changed, panel_params, ranges[0], times, NAMES)
    assert again["bundle"] == fold["bundle"]
    np.testing.assert_array_equal(again["scaled"], fold["scaled"])


def test_panel_backtest_pools_every_series_per_fold(panel_params):
    result = backtest.run(
        panel_table(), panel_params, Backtest(folds=2), persistence_scores, freq="1h"
    )
    first = result["folds"][0]
    assert first["test"] == {
        "from": "2024-01-06T20:00:00+00:00",
        "to": "2024-01-08T01:00:00+00:00",
        "steps": [140, 170],
    }
    assert first["test_steps"] == [140, 170]
    for fold in result["folds"]:
        assert fold["skill"]["demand"]["vs_persistence"] == pytest.approx(0, abs=1e-12)
        assert fold["skill"]["temp_class"]["vs_persistence"] == pytest.approx(
            0, abs=1e-12
        )
        # Original units of each series: far below the largest level.
        assert fold["scores"]["demand"]["mae"] < 400
    assert result["summary"]["demand"]["mae"]["std"] is not None


def test_backtest_stage_on_a_panel_with_a_series_embedding(tmp_path):
    """The stage itself: each fold trains a model that embeds the series
    (refit: warm-started from the previous fold) and scores every series."""
    import copy
    import os
    import subprocess
    import sys

    from conftest import DEFAULT_PARAMS, STAGES, make_project, run_stage_cli
    from test_series import PANEL_CSV, panel_frame
    from test_series import panel_params as panel_raw

    raw = panel_raw(copy.deepcopy(DEFAULT_PARAMS))
    raw["train"].update(layers=[4], epochs=1, batch_size=64, series_embedding=2)
    raw["backtest"] = {"p": {"folds": 2, "mode": "refit"}}
    project = make_project(tmp_path, raw)
    panel_frame(rows=150).to_csv(project / PANEL_CSV, index=False)
    assert run_stage_cli("ingest", project).returncode == 0
    proc = subprocess.run(
        [sys.executable, str(STAGES / "backtest.py")],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "DVC_STAGE": "backtest@p"},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads((project / "metrics/backtest/p.json").read_text())
    # 150 distinct hours: test periods of 23 steps, the last the main split's.
    assert [f["test_steps"] for f in result["folds"]] == [[104, 127], [127, 150]]
    assert result["folds"][1]["test"]["to"] == "2024-03-07T05:00:00+00:00"
    for fold in result["folds"]:
        assert np.isfinite(fold["scores"]["demand"]["mae"])
        assert set(fold["baselines"]["demand"]) >= {"persistence", "seasonal_naive"}
    assert "backtest@p: demand: mae " in proc.stdout
