"""Window: scalers and encoders fitted on the training rows only, exact per row."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, STAGES, make_project, synthetic_table, write_ingested
from hypothesis import given, settings
from hypothesis import strategies as st

from mtlstm import window
from mtlstm.config import Features, Task
from mtlstm.errors import DataError
from mtlstm.io import load_npy, load_npz, read_json
from mtlstm.split import row_bounds

# A 10-row oracle. The first 4 rows are the training range: x there is
# [1, 3, 1, 3] (mean 2, std 1) and z is [10, 20, 10, 20] (mean 15, std 5).
TRAIN_ROWS = 4
ORACLE = pd.DataFrame(
    {
        "time": pd.date_range("2024-01-01", periods=10, freq="1h", tz="UTC"),
        "x": [1.0, 3, 1, 3, 5, 7, 9, 11, 13, 15],
        "flag": [True, False, True, False, True, True, False, False, True, False],
        "cat": ["b", "a", "b", "a", "a", "b", "a", "b", "a", "b"],
        "z": [10.0, 20, 10, 20, 25, 5, 15, 30, 0, 35],
        "y": [-1.0, 0, 5, 10, 11, 0, 5, 10, -3, 20],
    }
)
FEATURES = Features(
    columns=["x", "flag", "cat"], calendar=["hour_of_day"], timezone="UTC"
)
TASKS = {
    "level": Task(type="regression", target="z", horizon=1),
    "band": Task(
        type="classification",
        target="y",
        horizon=2,
        bins=[0.0, 10.0],
        classes=["lo", "mid", "hi"],
    ),
}


def fit_oracle(table=ORACLE, features=FEATURES, tasks=TASKS, lookback=3):
    return window.fit(table.iloc[:TRAIN_ROWS], features, tasks, lookback)


def test_fit_bundle_is_exact_and_json_safe():
    bundle = fit_oracle()
    assert bundle == {
        "lookback": 3,
        "max_horizon": 2,
        "timezone": "UTC",
        "fit_rows": 4,
        "fit_until": "2024-01-01 03:00:00+00:00",
        "inputs": [
            {"column": "x", "kind": "numeric", "mean": 2.0, "std": 1.0},
            {"column": "flag", "kind": "boolean"},
            {"column": "cat", "kind": "categorical", "categories": ["a", "b"]},
            {"calendar": "hour_of_day"},
            {"task_class": "band"},
        ],
        "tasks": [
            {
                "name": "level",
                "type": "regression",
                "target": "z",
                "horizon": 1,
                "unit": "",
                "mean": 15.0,
                "std": 5.0,
            },
            {
                "name": "band",
                "type": "classification",
                "target": "y",
                "horizon": 2,
                "unit": "",
                "classes": ["lo", "mid", "hi"],
                "bins": [0.0, 10.0],
            },
        ],
        "feature_names": [
            "x",
            "flag",
            "cat=a",
            "cat=b",
            "hour_of_day_sin",
            "hour_of_day_cos",
            "band=lo",
            "band=mid",
            "band=hi",
        ],
    }
    assert json.loads(json.dumps(bundle)) == bundle


def test_std_is_population_std_of_training_rows_only():
    table = ORACLE.assign(x=[1.0, 2, 4, 8, 1e6, -1e6, 0, 0, 0, 0])
    item = fit_oracle(table)["inputs"][0]
    train = np.array([1.0, 2, 4, 8])
    assert item["mean"] == train.mean() == 3.75
    assert item["std"] == train.std(ddof=0)
    assert item["std"] != train.std(ddof=1)


def test_transform_is_exact():
    bundle = fit_oracle()
    scaled = window.transform(ORACLE, bundle)
    assert scaled.dtype == np.float32
    assert scaled.shape == (10, len(bundle["feature_names"]))
    names = bundle["feature_names"]
    col = {name: scaled[:, i] for i, name in enumerate(names)}
    # (x - mean_train) / std_train with mean 2 and std 1 from rows 0..3 only
    assert np.array_equal(col["x"], [-1, 1, -1, 1, 3, 5, 7, 9, 11, 13])
    assert np.array_equal(col["flag"], [1, 0, 1, 0, 1, 1, 0, 0, 1, 0])
    assert np.array_equal(col["cat=a"], [0, 1, 0, 1, 1, 0, 1, 0, 1, 0])
    assert np.array_equal(col["cat=b"], [1, 0, 1, 0, 0, 1, 0, 1, 0, 1])
    hours = np.arange(10)
    np.testing.assert_allclose(
        col["hour_of_day_sin"], np.sin(2 * np.pi * hours / 24), rtol=0, atol=1e-7
    )
    np.testing.assert_allclose(
        col["hour_of_day_cos"], np.cos(2 * np.pi * hours / 24), rtol=0, atol=1e-7
    )
    # the observed class of each row: y = [-1, 0, 5, 10, 11, 0, 5, 10, -3, 20]
    classes = [0, 1, 1, 2, 2, 1, 1, 2, 0, 2]
    assert np.array_equal(scaled[:, 6:], np.eye(3)[classes])


def test_targets_are_exact_per_row():
    labels = window.targets(ORACLE, fit_oracle())
    assert sorted(labels) == ["band", "level"]
    assert labels["level"].dtype == np.float32
    # (z - 15) / 5
    assert np.array_equal(labels["level"], [-1, 1, -1, 1, 2, -2, 0, 3, -3, 4])
    assert labels["band"].dtype == np.int32
    # searchsorted right: a value equal to an edge goes to the upper class
    assert labels["band"].tolist() == [0, 1, 1, 2, 2, 1, 1, 2, 0, 2]


def test_class_index_on_the_edges():
    spec = {
        "name": "t",
        "target": "v",
        "classes": ["a", "b", "c"],
        "bins": [15.0, 25.0],
    }
    values = pd.Series([-np.inf, 14.999, 15.0, 15.001, 24.999, 25.0, 1e9])
    assert window.class_index(values, spec).tolist() == [0, 0, 1, 1, 1, 2, 2]


def test_transform_on_other_rows_uses_the_fitted_bundle():
    bundle = fit_oracle()
    tail = ORACLE.iloc[6:].reset_index(drop=True)
    assert np.array_equal(
        window.transform(tail, bundle), window.transform(ORACLE, bundle)[6:]
    )


def test_a_value_that_overflows_float32_once_scaled_is_refused():
    table = ORACLE.copy()
    # a training range with a tiny spread (std 1e-30), then a value 1e10 away
    table["x"] = [0.0, 2e-30, 0.0, 2e-30, 0, 0, 1e10, 0, 0, 0]
    bundle = fit_oracle(table)
    with pytest.raises(
        DataError,
        match=r"^column 'x' at 2024-01-01 06:00:00\+00:00: 1e\+10 is 1 value\(s\) "
        r"beyond float32's range",
    ):
        window.transform(table, bundle)


def test_a_target_that_overflows_float32_once_scaled_is_refused():
    table = ORACLE.copy()
    # z is the target of task level and no input, so transform never sees it:
    # scaled by a training std of 1e-30, 1e10 was an inf target, silently.
    table["z"] = [0.0, 2e-30, 0.0, 2e-30, 0, 0, 1e10, 0, 0, 0]
    bundle = fit_oracle(table)
    with pytest.raises(
        DataError,
        match=r"^column 'z' at 2024-01-01 06:00:00\+00:00: 1e\+10 is 1 value\(s\) "
        r"beyond float32's range .* mean 1e-30 and std 1e-30; fix the value or "
        r"drop tasks.level$",
    ):
        window.targets(table, bundle)


def test_fit_ignores_rows_after_the_training_range():
    changed = ORACLE.copy()
    changed.loc[TRAIN_ROWS:, "x"] = 1e9
    changed.loc[TRAIN_ROWS:, "z"] = -7.0
    changed.loc[TRAIN_ROWS:, "cat"] = "a"
    assert fit_oracle(changed) == fit_oracle()


# --- calendar features -------------------------------------------------------


def calendar(stamps: list[str], name: str, timezone: str) -> np.ndarray:
    table = pd.DataFrame(
        {
            "time": pd.to_datetime(stamps, utc=True),
            "v": np.arange(len(stamps), dtype=float),
        }
    )
    features = Features(columns=[], calendar=[name], timezone=timezone)
    tasks = {"t": Task(type="regression", target="v")}
    bundle = window.fit(table, features, tasks, lookback=1)
    assert bundle["feature_names"] == [f"{name}_sin", f"{name}_cos"]
    return window.transform(table, bundle)


def test_hour_of_day_at_known_hours():
    out = calendar(
        ["2024-03-01T00:00Z", "2024-03-01T06:00Z", "2024-03-01T12:00Z",
         "2024-03-01T18:00Z", "2024-03-01T03:00Z"],
        "hour_of_day",
        "UTC",
    )  # fmt: skip
    r = np.sqrt(0.5)
    expected = [[0, 1], [1, 0], [0, -1], [-1, 0], [r, r]]
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-7)


def test_hour_of_day_is_local_time_with_dst():
    out = calendar(
        [
            "2024-01-01T00:00Z",  # 11:00 AEDT (summer, UTC+11)
            "2024-07-01T00:00Z",  # 10:00 AEST (winter, UTC+10)
            "2024-07-01T02:30Z",  # 12:30 AEST: minutes count
        ],
        "hour_of_day",
        "Australia/Melbourne",
    )
    hours = np.array([11.0, 10.0, 12.5])
    angle = 2 * np.pi * hours / 24
    np.testing.assert_allclose(
        out, np.column_stack([np.sin(angle), np.cos(angle)]), rtol=0, atol=1e-7
    )


def test_day_of_week_and_day_of_year():
    # 2024-01-01 is a Monday (0); in Melbourne 2023-12-31T14:00Z is already
    # Monday 2024-01-01 01:00, day of year 0.
    week = calendar(
        ["2024-01-01T12:00Z", "2024-01-07T12:00Z", "2023-12-31T14:00Z"],
        "day_of_week",
        "Australia/Melbourne",
    )
    angle = 2 * np.pi * np.array([0, 6, 0]) / 7
    np.testing.assert_allclose(
        week, np.column_stack([np.sin(angle), np.cos(angle)]), rtol=0, atol=1e-7
    )
    year = calendar(
        ["2024-01-01T12:00Z", "2024-12-31T12:00Z", "2023-12-31T14:00Z"],
        "day_of_year",
        "Australia/Melbourne",
    )
    angle = 2 * np.pi * np.array([0, 365, 0]) / 365.25
    np.testing.assert_allclose(
        year, np.column_stack([np.sin(angle), np.cos(angle)]), rtol=0, atol=1e-7
    )


# --- window ends -------------------------------------------------------------


def test_window_ends_of_ten_rows():
    ends = window.window_ends(np.zeros(10, dtype=np.int32), lookback=3, max_horizon=1)
    assert ends.dtype == np.int64
    assert ends.tolist() == [2, 3, 4, 5, 6, 7, 8]
    assert window.window_ends(np.zeros(10), 3, 2).tolist() == [2, 3, 4, 5, 6, 7]
    assert window.window_ends(np.zeros(10), 1, 1).tolist() == list(range(9))


def test_no_window_spans_a_segment_change():
    segment = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1], dtype=np.int32)
    ends = window.window_ends(segment, lookback=2, max_horizon=1)
    assert ends.tolist() == [1, 2, 3, 6, 7, 8]


@pytest.mark.parametrize("seed", range(5))
def test_window_ends_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 60))
    segment = np.cumsum(rng.random(n) < 0.1).astype(np.int32)
    lookback, horizon = int(rng.integers(1, 5)), int(rng.integers(1, 4))
    expected = [
        e
        for e in range(n)
        if e - lookback + 1 >= 0
        and e + horizon < n
        and len(set(segment[e - lookback + 1 : e + horizon + 1])) == 1
    ]
    try:
        ends = window.window_ends(segment, lookback, horizon)
    except DataError:
        assert expected == []
    else:
        assert ends.tolist() == expected


def test_too_few_rows_for_one_window():
    with pytest.raises(
        DataError,
        match=r"only 3 rows, but one window needs lookback 3 \+ horizon 1 = 4 rows",
    ):
        window.window_ends(np.zeros(3), lookback=3, max_horizon=1)


def test_no_window_fits_between_long_gaps():
    segment = np.array([0, 0, 1, 1, 2, 2])
    with pytest.raises(
        DataError, match=r"no window of 3 rows fits between the long gaps"
    ):
        window.window_ends(segment, lookback=2, max_horizon=1)


def test_no_window_fits_in_a_panel_of_short_series_says_how_long_they_are():
    # Three series of 4 gap-free rows: a new series starts a new segment, so the
    # error must name series and the longest run, not only long gaps.
    segment = np.repeat([0, 1, 2], 4)
    with pytest.raises(
        DataError,
        match=r"no window of 5 rows fits between the long gaps or within one series "
        r"\(the longest run of consecutive rows holds 4;.*tasks\.\*\.horizon",
    ):
        window.window_ends(segment, lookback=4, max_horizon=1)


# --- errors ------------------------------------------------------------------


def test_single_class_in_training_range():
    table = ORACLE.assign(y=[1.0, 2, 3, 4, -5, 50, 0, 0, 0, 0])  # all 'mid' in 0..3
    with pytest.raises(
        DataError,
        match=r"^tasks\.band: the training time range holds only class 'mid'",
    ):
        fit_oracle(table)


def test_class_seen_only_after_the_training_range():
    table = ORACLE.assign(y=[-1.0, 5, -1, 5, 5, 12, 0, 30, 0, 0])  # 'hi' from row 5
    bundle = fit_oracle(table)
    labels = window.targets(table, bundle)
    window.check_classes_seen(labels, bundle, 6)  # rows 0..5 hold every class
    with pytest.raises(
        DataError,
        match=r"^tasks\.band: class 'hi' occurs after the training time range "
        r"\(2 rows\) but never inside it",
    ):
        window.check_classes_seen(labels, bundle, TRAIN_ROWS)


def test_categorical_feature_value_unseen_in_training():
    table = ORACLE.assign(cat=["b", "a", "b", "a", "a", "c", "a", "c", "a", "b"])
    bundle = fit_oracle(table)
    with pytest.raises(
        DataError,
        match=r"^column 'cat' holds 'c' at 2024-01-01 05:00:00\+00:00, a category "
        r"never seen in the training time range \(seen: \['a', 'b'\]\)",
    ):
        window.transform(table, bundle)


@pytest.mark.parametrize("column", ["x", "z"])
def test_constant_numeric_column_in_training(column):
    table = ORACLE.copy()
    table.loc[: TRAIN_ROWS - 1, column] = 3.0
    with pytest.raises(
        DataError,
        match=rf"^column '{column}' is constant \(3\.0\) in the training time range",
    ):
        fit_oracle(table)


def test_a_repeated_decimal_in_training_is_constant():
    # Seven rows of 2.99: pandas' std is 4.4e-16, not 0 (their mean is
    # 2.9899999999999998); it scaled a later 3.49 to about 1e15.
    table = ORACLE.iloc[:7].assign(x=2.99)
    with pytest.raises(DataError, match=r"^column 'x' is constant \(2\.99\)"):
        window.fit(table, FEATURES, TASKS, lookback=3)


@settings(max_examples=200, deadline=None)
@given(
    value=st.floats(-1e6, 1e6, allow_nan=False),
    rows=st.integers(2, 40),
)
def test_any_constant_column_in_training_is_refused(value, rows):
    table = ORACLE.iloc[:1].loc[[0] * rows].reset_index(drop=True).assign(x=value)
    table["time"] = pd.date_range("2024-01-01", periods=rows, freq="1h", tz="UTC")
    table["z"] = np.arange(rows, dtype=np.float64)
    table["y"] = np.where(np.arange(rows) % 2, 5.0, 11.0)
    with pytest.raises(DataError, match=r"^column 'x' is constant"):
        window.fit(table, FEATURES, TASKS, lookback=3)


def categorical_task_table():
    table = ORACLE.assign(sky=["sun", "rain", "sun", "snow", "rain"] * 2)
    tasks = {
        "sky": Task(
            type="classification", target="sky", classes=["sun", "rain", "snow"]
        )
    }
    return table, Features(columns=["x"]), tasks


def test_categorical_target_classes_follow_declared_order():
    table, features, tasks = categorical_task_table()
    bundle = fit_oracle(table, features, tasks)
    assert bundle["feature_names"] == ["x", "sky=sun", "sky=rain", "sky=snow"]
    assert window.targets(table, bundle)["sky"].tolist() == [0, 1, 0, 2, 1] * 2


def test_categorical_target_with_undeclared_label():
    table, features, tasks = categorical_task_table()
    table.loc[7, "sky"] = "hail"
    bundle = fit_oracle(table, features, tasks)
    with pytest.raises(
        DataError,
        match=r"^tasks\.sky: column 'sky' holds 'hail', which is not among the "
        r"declared classes \['sun', 'rain', 'snow'\]",
    ):
        window.targets(table, bundle)


# --- the stage: fitted on the training time range alone (no leak) ------------


def leak_params(raw: dict) -> dict:
    raw["ingest"]["columns"]["Weather"] = "categorical"
    raw["features"]["columns"].append("Weather")
    return raw


def leak_table(n: int = 200) -> pd.DataFrame:
    table = synthetic_table(n, seed=1)
    rng = np.random.default_rng(2)
    table["Weather"] = rng.choice(["sun", "rain", "cloud"], size=n)
    table["segment"] = np.zeros(n, dtype=np.int32)
    return table


def perturb(table: pd.DataFrame, start: int) -> pd.DataFrame:
    """Change every declared value in rows ``start..``, keeping known classes."""
    out = table.copy()
    rng = np.random.default_rng(3)
    rest = slice(start, None)
    k = len(out) - start
    out.loc[rest, "Demand"] = out.loc[rest, "Demand"].to_numpy() * 3 + 1000
    out.loc[rest, "Temperature"] = rng.uniform(0, 40, k)
    out.loc[rest, "Holiday"] = ~out.loc[rest, "Holiday"].to_numpy()
    out.loc[rest, "Weather"] = rng.choice(["sun", "rain", "cloud"], size=k)
    return out


def run_window_and_split(project: Path, table: pd.DataFrame, monkeypatch) -> dict:
    write_ingested(project, table)
    monkeypatch.chdir(project)
    for name in ("window", "split"):
        runpy.run_path(str(STAGES / f"{name}.py"))["main"]()
    out = {
        "bundle": read_json("data/windows/preprocess.json"),
        "scaled": load_npy("data/windows/scaled.npy"),
        "targets": load_npz("data/windows/targets.npz"),
        "ends": load_npy("data/windows/ends.npy"),
        "times": load_npy("data/windows/times.npy"),
        "summary": read_json("data/split/summary.json"),
    }
    out |= {
        name: load_npy(f"data/split/{name}.npy") for name in ("train", "val", "test")
    }
    return out


@pytest.mark.parametrize("changed_from", ["val_end", "train_end"])
def test_changing_later_rows_leaves_the_fit_and_training_data_bit_identical(
    tmp_path, raw_params, monkeypatch, changed_from
):
    raw = leak_params(raw_params)
    table = leak_table()
    n = len(table)
    train_end, val_end = row_bounds(n, raw["split"]["train"], raw["split"]["val"])
    assert (train_end, val_end) == (140, 170)
    cut = {"train_end": train_end, "val_end": val_end}[changed_from]
    changed = perturb(table, cut)
    assert not changed.iloc[cut:].equals(table.iloc[cut:])
    assert changed.iloc[:cut].equals(table.iloc[:cut])

    a = run_window_and_split(make_project(tmp_path / "a", raw), table, monkeypatch)
    b = run_window_and_split(make_project(tmp_path / "b", raw), changed, monkeypatch)

    # The fitted bundle (scalers, encoders, schema) is identical, byte for byte.
    assert a["bundle"] == b["bundle"]
    assert (tmp_path / "a/data/windows/preprocess.json").read_bytes() == (
        tmp_path / "b/data/windows/preprocess.json"
    ).read_bytes()
    # ...and it is the training rows' moments, not the whole table's.
    demand = a["bundle"]["inputs"][0]
    assert demand["column"] == "Demand"
    assert demand["mean"] == float(table["Demand"].iloc[:train_end].mean())
    assert demand["std"] == float(table["Demand"].iloc[:train_end].std(ddof=0))
    assert a["bundle"]["fit_rows"] == train_end
    weather = a["bundle"]["inputs"][3]
    assert weather == {
        "column": "Weather",
        "kind": "categorical",
        "categories": ["cloud", "rain", "sun"],
    }

    # Every row before the change is scaled and labelled identically.
    assert np.array_equal(a["scaled"][:cut], b["scaled"][:cut])
    assert not np.array_equal(a["scaled"][cut:], b["scaled"][cut:])
    assert sorted(a["targets"]) == sorted(b["targets"]) == ["demand", "temp_class"]
    for task in a["targets"]:
        assert np.array_equal(a["targets"][task][:cut], b["targets"][task][:cut])
    assert not np.array_equal(a["targets"]["demand"], b["targets"]["demand"])

    # The window index and the splits depend on time and segments only.
    for key in ("ends", "times", "train", "val", "test"):
        assert np.array_equal(a[key], b[key]), key
    assert a["summary"] == b["summary"]
    # Training windows read and predict only training rows.
    lookback, horizon = a["bundle"]["lookback"], a["bundle"]["max_horizon"]
    assert a["train"].min() - lookback + 1 >= 0
    assert a["train"].max() + horizon < train_end


def test_window_stage_outputs(tmp_path, raw_params, monkeypatch):
    raw = leak_params(raw_params)
    table = leak_table()
    out = run_window_and_split(make_project(tmp_path, raw), table, monkeypatch)
    n, lookback = len(table), raw["window"]["lookback"]
    assert out["scaled"].dtype == np.float32
    assert out["scaled"].shape == (n, len(out["bundle"]["feature_names"]))
    assert out["bundle"]["feature_names"] == [
        "Demand", "Temperature", "Holiday",
        "Weather=cloud", "Weather=rain", "Weather=sun",
        "hour_of_day_sin", "hour_of_day_cos", "day_of_week_sin", "day_of_week_cos",
        "day_of_year_sin", "day_of_year_cos",
        "temp_class=cold", "temp_class=mild", "temp_class=hot",
    ]  # fmt: skip
    assert out["bundle"]["n_rows"] == n
    assert out["ends"].tolist() == list(range(lookback - 1, n - 1))
    assert np.array_equal(
        out["times"], table["time"].to_numpy("datetime64[ns]").view(np.int64)
    )
    assert out["targets"]["temp_class"].dtype == np.int32
    expected = np.searchsorted([15.0, 25.0], table["Temperature"], side="right")
    assert np.array_equal(out["targets"]["temp_class"], expected)


def test_window_stage_rejects_undeclared_columns(tmp_path, raw_params, monkeypatch):
    project = make_project(tmp_path, leak_params(raw_params))
    write_ingested(project, leak_table().drop(columns="Weather"))
    monkeypatch.chdir(project)
    with pytest.raises(
        DataError, match=r"ingested\.parquet: lacks column\(s\) Weather"
    ):
        runpy.run_path(str(STAGES / "window.py"))["main"]()
    assert not (project / "data" / "windows").exists()


def test_window_stage_rejects_too_few_rows(tmp_path, raw_params, monkeypatch):
    project = make_project(tmp_path, leak_params(raw_params))
    write_ingested(project, leak_table(2))
    monkeypatch.chdir(project)
    with pytest.raises(DataError, match=r"ingested\.parquet: only 2 rows; too few"):
        runpy.run_path(str(STAGES / "window.py"))["main"]()


# --- no TensorFlow before training -------------------------------------------

NO_TF = """
import os, runpy, sys
os.chdir(sys.argv[1])
import mtlstm.cli, mtlstm.config, mtlstm.errors, mtlstm.io
import mtlstm.ingest, mtlstm.metrics, mtlstm.predict, mtlstm.split, mtlstm.window
for name in ("ingest", "window", "split"):
    runpy.run_path(os.path.join(sys.argv[2], name + ".py"), run_name="__main__")
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"tensorflow", "keras"})
print("heavy:", heavy)
"""


def test_data_stages_never_import_tensorflow(tmp_path, raw_params):
    raw_params["ingest"]["source"] = "data/raw/load.csv"
    project = make_project(tmp_path, raw_params)
    table = synthetic_table(200).rename(columns={"time": "Time"})
    table.to_csv(project / "data" / "raw" / "load.csv", index=False)
    result = subprocess.run(
        [sys.executable, "-c", NO_TF, str(project), str(STAGES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "heavy: []"
    for name in ("ingested.parquet", "windows/scaled.npy", "split/test.npy"):
        assert (project / "data" / name).is_file(), name


def test_a_disabled_ablation_skips_before_importing_tensorflow(tmp_path, raw_params):
    raw_params["ablation"]["enabled"] = False
    project = make_project(tmp_path, raw_params)
    code = (
        "import os, runpy, sys\n"
        "stages, project = sys.argv[1:]\n"
        "os.chdir(project)\n"
        "sys.argv = ['ablation.py', 'demand']\n"
        "runpy.run_path(os.path.join(stages, 'ablation.py'), run_name='__main__')\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'tensorflow', 'keras'})\n"
        "print('heavy:', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(STAGES), str(project)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "ablation: demand: skipped (ablation.enabled is false)",
        "heavy: []",
    ]
    note = json.loads((project / "metrics/ablation/demand.json").read_text())
    assert note == {"skipped": "ablation.enabled is false"}


# --- predict_change: the head adds the target's own last scaled value ---------


def test_predict_change_points_at_the_targets_own_column():
    features = Features(columns=["flag", "cat", "z"], calendar=[], timezone="UTC")
    tasks = {"level": Task(type="regression", target="z", predict_change=True)}
    bundle = fit_oracle(features=features, tasks=tasks)
    # flag (1 column), cat=a, cat=b, then z: the fourth column.
    assert bundle["feature_names"].index("z") == 3
    assert bundle["tasks"][0]["change_of"] == 3
    # The target's scaler equals the feature's, so the column adds directly.
    z = next(i for i in bundle["inputs"] if i.get("column") == "z")
    assert (z["mean"], z["std"]) == (
        bundle["tasks"][0]["mean"],
        bundle["tasks"][0]["std"],
    )


def test_predict_change_needs_the_target_as_an_input():
    tasks = {"level": Task(type="regression", target="z", predict_change=True)}
    with pytest.raises(DataError, match=r"add it to features\.columns"):
        fit_oracle(tasks=tasks)


# window.scaler: robust. Nine training rows 1..9 and one absurd 1e6: the median
# is 5.5 and the quartiles 3.25 and 7.75 (numpy's linear rule), so the scale is
# 4.5 / 1.349; the std (about 3e5) would put every ordinary row within 3e-5 of
# every other, a constant to the model.
ABSURD = pd.DataFrame(
    {
        "time": pd.date_range("2024-01-01", periods=10, freq="1h", tz="UTC"),
        "x": [1.0, 2, 3, 4, 5, 6, 7, 8, 9, 1e6],
        "z": np.arange(10.0),
    }
)
ABSURD_TASKS = {"level": Task(type="regression", target="z", horizon=1)}


def fit_absurd(scaler: str) -> dict:
    return window.fit(
        ABSURD, Features(columns=["x"]), ABSURD_TASKS, lookback=2, scaler=scaler
    )


def test_robust_scaler_is_the_median_and_the_iqr_in_stds_by_hand():
    bundle = fit_absurd("robust")
    item = bundle["inputs"][0]
    assert item["mean"] == 5.5
    assert item["std"] == pytest.approx(4.5 / 1.3489795003921634, rel=1e-12)
    assert bundle["scaler"] == "robust"
    # z, 0..9, quartiles 2.25 and 6.75: the target is scaled the same way.
    assert bundle["tasks"][0]["mean"] == 4.5
    assert bundle["tasks"][0]["std"] == pytest.approx(4.5 / 1.3489795003921634)


def test_one_absurd_value_squashes_a_standard_column_but_not_a_robust_one():
    ordinary = ABSURD.iloc[:9]
    spans = {}
    for scaler in ("standard", "robust"):
        scaled = window.transform(ordinary, fit_absurd(scaler))[:, 0]
        spans[scaler] = float(scaled.max() - scaled.min())
    assert spans["standard"] < 3e-5
    assert spans["robust"] == pytest.approx(8 * 1.3489795003921634 / 4.5, rel=1e-6)


def test_standard_bundle_has_no_scaler_key():
    # Bundles of the default scaler are byte for byte what they were before
    # the option, so the pipeline's outputs and lock do not move.
    assert "scaler" not in fit_absurd("standard")
    assert fit_oracle() == window.fit(
        ORACLE.iloc[:TRAIN_ROWS], FEATURES, TASKS, 3, scaler="standard"
    )


def test_robust_scale_of_a_normal_column_is_about_its_std():
    rng = np.random.default_rng(0)
    table = ABSURD.iloc[:1].loc[[0] * 20_000].reset_index(drop=True)
    table["x"] = rng.normal(3.0, 2.0, len(table))
    table["z"] = rng.normal(0.0, 1.0, len(table))
    item = window.fit(table, Features(columns=["x"]), ABSURD_TASKS, 2, scaler="robust")[
        "inputs"
    ][0]
    assert item["mean"] == pytest.approx(3.0, abs=0.05)
    assert item["std"] == pytest.approx(2.0, rel=0.03)


def test_robust_scaler_keeps_the_std_where_the_middle_half_is_one_value():
    # Mostly 0 with a few rain showers: IQR 0 but not constant.
    x = [0.0] * 8 + [4.0, 8.0]
    table = ABSURD.assign(x=x)
    item = window.fit(table, Features(columns=["x"]), ABSURD_TASKS, 2, scaler="robust")[
        "inputs"
    ][0]
    assert item["mean"] == 0.0
    assert item["std"] == pytest.approx(float(np.std(x)))


def test_robust_scaler_still_refuses_a_constant_column():
    with pytest.raises(DataError, match=r"^column 'x' is constant \(2\.0\)"):
        window.fit(
            ABSURD.assign(x=2.0),
            Features(columns=["x"]),
            ABSURD_TASKS,
            2,
            scaler="robust",
        )
