"""Known-future inputs (features.known_future) and the series embedding
(train.series_embedding): config, the lazy gather, the model, predict's future
rows, and one real `dvc repro` in a temp repo."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import synthetic_table, two_tasks, write_params

from mtlstm import window
from mtlstm.config import Features, load_params
from mtlstm.errors import ConfigError, DataError
from mtlstm.predict import future_origins, history_rows, observed_rows, read_input

TASKS = two_tasks([1, 3])
FEATURES = Features(
    columns=["Demand", "Temperature", "Holiday"],
    calendar=["hour_of_day", "day_of_week"],
    timezone="UTC",
)


def _features(known: list[str]) -> Features:
    return Features(
        columns=FEATURES.columns,
        calendar=FEATURES.calendar,
        timezone="UTC",
        known_future=known,
    )


# --- config ---------------------------------------------------------------


def test_known_future_must_be_an_input(tmp_path, raw_params):
    raw_params["features"]["known_future"] = ["Holiday", "Rain"]
    with pytest.raises(
        ConfigError, match=r"features\.known_future\[1\]: 'Rain' is not"
    ):
        load_params(write_params(tmp_path, raw_params))


def test_known_future_listed_twice(tmp_path, raw_params):
    raw_params["features"]["known_future"] = ["Holiday", "Holiday"]
    with pytest.raises(
        ConfigError, match=r"features\.known_future: a column is listed"
    ):
        load_params(write_params(tmp_path, raw_params))


def test_a_target_is_never_known_future(tmp_path, raw_params):
    raw_params["features"]["known_future"] = ["Demand"]
    with pytest.raises(
        ConfigError, match=r"features\.known_future: 'Demand' is the target of task"
    ):
        load_params(write_params(tmp_path, raw_params))


def test_series_embedding_must_not_be_negative(tmp_path, raw_params):
    raw_params["train"]["series_embedding"] = -1
    with pytest.raises(ConfigError, match=r"train\.series_embedding: must be >= 0"):
        load_params(write_params(tmp_path, raw_params))


def test_calendar_features_may_be_known_future(tmp_path, raw_params):
    raw_params["features"]["known_future"] = ["Holiday", "hour_of_day"]
    params = load_params(write_params(tmp_path, raw_params))
    assert params.features.known_future == ["Holiday", "hour_of_day"]


# --- the bundle and the lazy gather ------------------------------------------


def test_bundle_locates_known_future_columns():
    table = synthetic_table(72)
    bundle = window.fit(table, _features(["day_of_week", "Holiday"]), TASKS, 6)
    names = bundle["feature_names"]
    spec = bundle["known_future"]
    # Demand, Temperature, Holiday, hour sin/cos, day-of-week sin/cos, classes.
    assert [names[i] for i in spec["features"]] == [
        "day_of_week_sin",
        "day_of_week_cos",
        "Holiday",
    ]
    assert spec == {
        "names": ["day_of_week", "Holiday"],
        "features": [5, 6, 2],
        "steps": 3,
    }


def test_default_bundle_has_no_known_future():
    bundle = window.fit(synthetic_table(72), FEATURES, TASKS, 6)
    assert "known_future" not in bundle


def test_gathered_known_future_equals_rows_after_the_window_end():
    """Oracle: for the window ending at e, rows e+1 .. e+H of the known columns."""
    from mtlstm.dataset import make_dataset, make_input_dataset

    table = synthetic_table(72)
    bundle = window.fit(table, _features(["Holiday", "hour_of_day"]), TASKS, 6)
    scaled = window.transform(table, bundle)
    ends = window.window_ends(np.zeros(72, np.int64), 6, bundle["max_horizon"])
    assert ends[-1] == 72 - 1 - 3  # the last window's future rows exist
    cols = [2, 3, 4]  # Holiday, hour_of_day_sin, hour_of_day_cos
    ds = make_input_dataset(scaled, ends, bundle, 16)
    got = np.concatenate([b["known_future"].numpy() for b in ds])
    expected = np.stack([scaled[e + 1 : e + 4][:, cols] for e in ends])
    np.testing.assert_array_equal(got, expected)
    # By hand for one window: hour of day at e+1..e+3, Holiday flags there.
    e = int(ends[10])
    hours = table["time"].dt.hour.to_numpy()[e + 1 : e + 4]
    np.testing.assert_allclose(got[10][:, 1], np.sin(2 * np.pi * hours / 24), atol=1e-6)
    holiday = table["Holiday"].to_numpy(float)[e + 1 : e + 4]
    np.testing.assert_array_equal(got[10][:, 0], holiday)
    # The training pipeline gathers the same block next to the targets.
    targets = window.targets(table, bundle)
    x, y = next(iter(make_dataset(scaled, targets, ends, bundle, len(ends))))
    assert y["demand"].shape == (len(ends), 3)
    np.testing.assert_array_equal(x["known_future"].numpy(), expected)
    np.testing.assert_array_equal(
        x["features"].numpy()[3], scaled[ends[3] - 5 : ends[3] + 1]
    )


# --- the model ------------------------------------------------------------


def _cfg(**kw):
    from mtlstm.config import Train

    base = {
        "loss_weights": {"demand": 1.0, "temp_class": 1.0},
        "layers": [4],
        "epochs": 1,
    }
    return Train(**{**base, **kw})


def test_default_model_has_one_input():
    from mtlstm.dataset import input_names, make_input_dataset
    from mtlstm.model import make_model

    table = synthetic_table(72)
    bundle = window.fit(table, FEATURES, TASKS, 6)
    scaled = window.transform(table, bundle)
    model = make_model(_cfg(), bundle, scaled.shape[1])
    assert input_names(model) == ["features"]
    assert not any("known" in layer.name for layer in model.layers)
    batch = next(iter(make_input_dataset(scaled, np.array([5, 6]), bundle, 2)))
    assert not isinstance(batch, dict)  # the window block alone, as before


def test_model_with_known_future_has_a_second_input():
    from mtlstm.dataset import input_names, make_input_dataset
    from mtlstm.model import make_model

    table = synthetic_table(72)
    bundle = window.fit(table, _features(["Holiday", "hour_of_day"]), TASKS, 6)
    scaled = window.transform(table, bundle)
    model = make_model(_cfg(), bundle, scaled.shape[1])
    assert input_names(model) == ["features", "known_future"]
    assert tuple(model.get_layer("known_future").batch_shape) == (None, 3, 3)
    ds = make_input_dataset(scaled, np.array([5, 6, 7]), bundle, 2)
    out = model.predict(ds, verbose=0)
    assert out["demand"].shape == (3, 3) and out["temp_class"].shape == (3, 3)


def test_series_embedding_needs_declared_series():
    from mtlstm.model import make_model

    bundle = window.fit(synthetic_table(72), FEATURES, TASKS, 6)
    with pytest.raises(
        ConfigError, match=r"train\.series_embedding: > 0 .* declares no series"
    ):
        make_model(_cfg(series_embedding=2), bundle, 10)


def test_series_embedding_reads_the_code_at_the_window_end(tmp_path):
    from mtlstm.dataset import input_names, make_input_dataset
    from mtlstm.io import load_series
    from mtlstm.model import make_model

    table = synthetic_table(72)
    bundle = window.fit(table, FEATURES, TASKS, 6)
    bundle |= {"n_rows": 72, "series": {"names": ["a", "b", "c"]}}
    codes = np.repeat(np.array([0, 1, 2], np.int32), 24)
    np.save(tmp_path / "series.npy", codes)
    loaded = load_series(tmp_path, bundle)
    np.testing.assert_array_equal(loaded, codes)
    scaled = window.transform(table, bundle)
    model = make_model(_cfg(series_embedding=2), bundle, scaled.shape[1])
    assert input_names(model) == ["features", "series"]
    assert model.get_layer("series_embedding").input_dim == 3
    ends = np.array([23, 24, 50])
    batch = next(iter(make_input_dataset(scaled, ends, bundle, 3, loaded)))
    assert batch["series"].numpy().tolist() == [0, 1, 2]
    assert model.predict(batch, verbose=0)["demand"].shape == (3, 3)


def test_series_codes_out_of_range(tmp_path):
    from mtlstm.io import load_series

    bundle = {"n_rows": 3, "series": {"names": ["a", "b"]}}
    np.save(tmp_path / "series.npy", np.array([0, 1, 2], np.int32))
    with pytest.raises(DataError, match=r"series codes run from 0 to 2 but"):
        load_series(tmp_path, bundle)
    (tmp_path / "series.npy").unlink()
    with pytest.raises(DataError, match=r"series\.npy: not found"):
        load_series(tmp_path, bundle)


# --- predict: future rows ------------------------------------------------------

PREDICT_BUNDLE = {
    "ingest": {
        "time_column": "Time",
        "columns": {"Demand": "numeric", "Holiday": "boolean"},
        "freq": "1h",
        "aggregate": {},
        "max_fill": 0,
        "long_gaps": "break",
        "csv_sep": ",",
        "csv_decimal": ".",
    },
    "timezone": "UTC",
    "known_future": {
        "names": ["Holiday", "hour_of_day"],
        "features": [1, 2, 3],
        "steps": 3,
    },
}


def _input(path: Path, observed: int, future: int, holidays=None) -> Path:
    n = observed + future
    time = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    demand = [f"{100 + i}" for i in range(observed)] + [""] * future
    flags = holidays or ["true" if i % 5 == 0 else "false" for i in range(n)]
    pd.DataFrame(
        {
            "Time": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Demand": demand,
            "Holiday": flags,
        }
    ).to_csv(path, index=False)
    return path


def test_predict_appends_exactly_the_future_rows(tmp_path):
    path = _input(tmp_path / "in.csv", observed=10, future=5)
    table, _ = read_input(path, PREDICT_BUNDLE)
    assert len(table) == 13 and history_rows(table) == 10  # 10 + 3 steps, not 5
    expected = [i % 5 == 0 for i in range(10, 13)]
    assert table["Holiday"].iloc[10:].tolist() == expected
    assert table["time"].iloc[-1] == pd.Timestamp("2024-01-01T12:00Z")
    # Other columns of future rows are placeholders: the last observed value.
    assert table["Demand"].iloc[10:].tolist() == [109.0] * 3
    # Every observed row with its own 3 future rows is an origin.
    ends = future_origins(np.arange(5, 10), table["segment"].to_numpy(), 3)
    assert ends.tolist() == [5, 6, 7, 8, 9]


def test_predict_refuses_input_without_future_rows(tmp_path):
    path = _input(tmp_path / "in.csv", observed=10, future=0)
    with pytest.raises(
        DataError,
        match=r"known-future column 'Holiday' has no value at "
        r"2024-01-01T10:00:00\+00:00 \(step 1 of 3",
    ):
        read_input(path, PREDICT_BUNDLE)


def test_predict_refuses_a_missing_future_value(tmp_path):
    flags = ["false"] * 12 + [""]
    path = _input(tmp_path / "in.csv", observed=10, future=3, holidays=flags)
    with pytest.raises(
        DataError,
        match=r"known-future column 'Holiday' has no value at 2024-01-01T12:00:00",
    ):
        read_input(path, PREDICT_BUNDLE)


def test_a_static_attribute_filled_in_future_rows_keeps_them_future(tmp_path):
    # features.static is one value per series, so a user fills it on every row,
    # the future ones too: those rows are still future rows, not observed ones
    # with a missing Demand.
    ingest = PREDICT_BUNDLE["ingest"]
    bundle = {
        **PREDICT_BUNDLE,
        "ingest": {
            **ingest,
            "columns": {**ingest["columns"], "kind": "categorical"},
            "series": ["shop"],
        },
        "static": [{"column": "kind", "categories": ["a", "b"], "codes": [0, 1]}],
    }
    frames = []
    for shop, kind in (("n", "a"), ("s", "b")):
        time = pd.date_range("2024-01-01", periods=8, freq="h", tz="UTC")
        frames.append(
            pd.DataFrame(
                {
                    "Time": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "shop": shop,
                    "kind": kind,
                    "Demand": [f"{i}" for i in range(5)] + [""] * 3,
                    "Holiday": "false",
                }
            )
        )
    path = tmp_path / "in.csv"
    pd.concat(frames).to_csv(path, index=False)
    table, _ = read_input(path, bundle)
    assert len(table) == 16  # per shop: 5 observed rows and 3 future steps
    assert observed_rows(table).sum() == 10


def test_errors_name_the_file_line_though_future_rows_are_left_out(tmp_path):
    # Shop n's 3 future rows (lines 7-9) sit before shop s's rows: a bad value
    # of s on line 14 was named line 11 (the rows after a future row were
    # renumbered), and a bad future value "row 1" of the future rows alone.
    bundle = {
        **PREDICT_BUNDLE,
        "ingest": {**PREDICT_BUNDLE["ingest"], "series": ["shop"]},
    }
    time = pd.date_range("2024-01-01", periods=8, freq="h", tz="UTC")
    demand = [f"{i}" for i in range(5)] + [""] * 3

    def write(bad_demand: str, bad_flag: str) -> Path:
        frames = [
            pd.DataFrame(
                {
                    "Time": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "shop": shop,
                    "Demand": [*demand[:4], bad, *demand[5:]],
                    "Holiday": ["false"] * 6 + [flag, "false"],
                }
            )
            for shop, bad, flag in (("n", "4", "false"), ("s", bad_demand, bad_flag))
        ]
        pd.concat(frames).to_csv(tmp_path / "in.csv", index=False)
        return tmp_path / "in.csv"

    with pytest.raises(DataError, match=r"in\.csv line 14: column 'Demand' .*'oops'"):
        read_input(write("oops", "false"), bundle)
    with pytest.raises(
        DataError, match=r"in\.csv \(future rows\) line 16: column 'Holiday' .*'maybe'"
    ):
        read_input(write("4", "maybe"), bundle)


def test_a_future_row_in_the_repeated_hour_of_local_times(tmp_path):
    # Berlin local times: 02:00 is written twice on 27 October 2024, the
    # observed row being the first (00:00Z), the future row the second
    # (01:00Z). The future rows were read apart, so their 02:00 was the
    # first instant again, and predict refused the input ("no value at 01:00").
    bundle = {
        **PREDICT_BUNDLE,
        "ingest": {**PREDICT_BUNDLE["ingest"], "source_timezone": "Europe/Berlin"},
        "timezone": "Europe/Berlin",
        "known_future": {"names": ["Holiday"], "features": [1], "steps": 2},
    }
    walls = ["00:00", "01:00", "02:00", "02:00", "03:00"]
    pd.DataFrame(
        {
            "Time": [f"2024-10-27 {w}" for w in walls],
            "Demand": ["1", "2", "3", "", ""],
            "Holiday": ["false", "false", "false", "true", "false"],
        }
    ).to_csv(tmp_path / "in.csv", index=False)
    table, _ = read_input(tmp_path / "in.csv", bundle)
    assert history_rows(table) == 3
    assert table["time"].iloc[3:].tolist() == list(
        pd.to_datetime(["2024-10-27T01:00Z", "2024-10-27T02:00Z"])
    )
    assert table["Holiday"].iloc[3:].tolist() == [True, False]


def test_a_dropped_partial_last_step_still_gives_its_known_future_value(tmp_path):
    # Half-hourly rows on an hourly grid; the last step (04:00) holds one row
    # of two, so it is dropped as an origin, but its Holiday is in the input:
    # it is step 1 of the origin 03:00. Before, predict refused the input
    # ("no value at 04:00 ... after the last observed row, 03:00") unless
    # --allow-partial-last-step was given.
    bundle = {
        **PREDICT_BUNDLE,
        "ingest": {**PREDICT_BUNDLE["ingest"], "aggregate": {"Demand": "mean"}},
    }
    seen = pd.date_range("2024-01-01", periods=9, freq="30min", tz="UTC")
    ahead = pd.date_range("2024-01-01T05:00", periods=3, freq="h", tz="UTC")
    pd.DataFrame(
        {
            "Time": seen.append(ahead).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Demand": [str(i) for i in range(9)] + [""] * 3,
            "Holiday": ["false"] * 8 + ["true"] + ["false", "true", "true"],
        }
    ).to_csv(tmp_path / "in.csv", index=False)
    table, note = read_input(tmp_path / "in.csv", bundle)
    assert note is not None and "2024-01-01T04:00:00Z" in note
    assert history_rows(table) == 4  # 00:00 .. 03:00
    assert table["time"].iloc[4:].tolist() == list(
        pd.date_range("2024-01-01T04:00", periods=3, freq="h", tz="UTC")
    )
    assert table["Holiday"].iloc[4:].tolist() == [True, False, True]


def _half_hourly(path: Path, observed: int, future: pd.DatetimeIndex, flags) -> Path:
    """``observed`` half-hourly rows from 00:00, then future rows at ``future``
    giving only Holiday (``flags``: one per future row)."""
    seen = pd.date_range("2024-01-01", periods=observed, freq="30min", tz="UTC")
    pd.DataFrame(
        {
            "Time": seen.append(future).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Demand": [str(i) for i in range(observed)] + [""] * len(future),
            "Holiday": ["false"] * observed + list(flags),
        }
    ).to_csv(path, index=False)
    return path


HALF_HOURLY_BUNDLE = {
    **PREDICT_BUNDLE,
    "ingest": {**PREDICT_BUNDLE["ingest"], "aggregate": {"Demand": "mean"}},
}


def test_future_rows_of_a_finer_source_are_read_up_to_the_horizon_only(tmp_path):
    # Half-hourly rows on an hourly grid, the last observed one 03:30: the
    # origin is the 03:00 step, the horizon its 3 steps 04:00-06:00. The rows
    # of the 07:00 step are past it. Before, the limit was counted from the
    # last source row (03:30 + 4 h = 07:30), so the 07:00 row was parsed and
    # its bad value refused the input.
    future = pd.date_range("2024-01-01T04:00", periods=8, freq="30min", tz="UTC")
    flags = ["true", "true", "false", "false", "true", "true", "maybe", "maybe"]
    path = _half_hourly(tmp_path / "in.csv", 8, future, flags)
    table, note = read_input(path, HALF_HOURLY_BUNDLE)
    assert note is None and history_rows(table) == 4  # 00:00 .. 03:00
    assert table["time"].iloc[4:].tolist() == list(
        pd.date_range("2024-01-01T04:00", periods=3, freq="h", tz="UTC")
    )
    assert table["Holiday"].iloc[4:].tolist() == [True, False, True]


def test_future_rows_past_the_horizon_of_a_dropped_partial_step_are_not_read(
    tmp_path,
):
    # The last step (04:00) holds one row of two and is dropped: the origin is
    # 03:00 and the horizon 04:00-06:00, so the 07:00 row is past it. Before,
    # the limit was counted from the last source row (04:00 + 4 h = 08:00),
    # so the 07:00 row was parsed and its bad value refused the input.
    future = pd.date_range("2024-01-01T04:30", periods=6, freq="30min", tz="UTC")
    flags = ["false", "false", "false", "true", "true", "maybe"]
    path = _half_hourly(tmp_path / "in.csv", 9, future, flags)
    table, note = read_input(path, HALF_HOURLY_BUNDLE)
    assert note is not None and "2024-01-01T04:00:00Z" in note
    assert history_rows(table) == 4  # 00:00 .. 03:00
    assert table["time"].iloc[-1] == pd.Timestamp("2024-01-01T06:00Z")
    # 04:00: the dropped step's own row, then the future rows of 05:00, 06:00
    assert table["Holiday"].iloc[4:].tolist() == [False, False, True]
    # Kept on request, the origin is 04:00 and 07:00 its step 3: read, refused.
    with pytest.raises(
        DataError, match=r"\(future rows\) line 16: column 'Holiday' .*'maybe'"
    ):
        read_input(path, HALF_HOURLY_BUNDLE, allow_partial_last_step=True)


def test_each_series_dropped_partial_step_gives_its_known_future_value(tmp_path):
    # The same in a long table: shop s ends inside the 04:00 step (one row of
    # two), shop n at 03:30 (a complete step); each has its own future rows.
    bundle = {
        **PREDICT_BUNDLE,
        "ingest": {
            **PREDICT_BUNDLE["ingest"],
            "aggregate": {"Demand": "mean"},
            "series": ["shop"],
        },
    }
    frames = []
    for shop, observed in (("n", 8), ("s", 9)):
        seen = pd.date_range("2024-01-01", periods=observed, freq="30min", tz="UTC")
        ahead = pd.date_range("2024-01-01T05:00", periods=3, freq="h", tz="UTC")
        if shop == "n":
            ahead = ahead.insert(0, pd.Timestamp("2024-01-01T04:00Z"))
        frames.append(
            pd.DataFrame(
                {
                    "Time": seen.append(ahead).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "shop": shop,
                    "Demand": [str(i) for i in range(observed)] + [""] * len(ahead),
                    "Holiday": ["false"] * (observed - 1)
                    + ["true"]
                    + ["false"] * len(ahead),
                }
            )
        )
    pd.concat(frames).to_csv(tmp_path / "in.csv", index=False)
    table, note = read_input(tmp_path / "in.csv", bundle)
    assert note is not None and "1 series (first: series 's')" in note
    assert observed_rows(table).tolist() == ([True] * 4 + [False] * 3) * 2
    assert table["time"].dt.hour.tolist() == [0, 1, 2, 3, 4, 5, 6] * 2
    # n: its future rows; s: 04:00 from its dropped step, then its future rows
    assert table["Holiday"].tolist() == [False] * 3 + [True] + [False] * 3 + [
        False
    ] * 4 + [True, False, False]


def test_calendar_only_known_future_needs_no_future_rows(tmp_path):
    bundle = {
        **PREDICT_BUNDLE,
        "known_future": {"names": ["hour_of_day"], "features": [2, 3], "steps": 2},
    }
    table, _ = read_input(_input(tmp_path / "in.csv", 10, 0), bundle)
    assert len(table) == 12 and history_rows(table) == 10


def test_origins_before_a_gap_are_left_out():
    segment = np.array([0] * 6 + [1] * 6)
    assert future_origins(np.array([3, 4, 5, 8, 9]), segment, 2).tolist() == [3, 8, 9]


def test_origins_left_out_before_the_last_gap_are_noted(tmp_path, capsys):
    # Lookback 3, horizon 3: hours 0-5, a long gap, hours 9-10 and their
    # three future rows. Origins 3-5 lie within 3 steps of the gap and the 2
    # rows after it are fewer than a lookback: the latest origin is 02:00.
    # Before, predict forecast from 02:00 alone without a word.
    import argparse

    from mtlstm.cli import _input_windows

    hours = [0, 1, 2, 3, 4, 5, 9, 10, 11, 12, 13]
    time = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(hours, unit="h")
    path = tmp_path / "in.csv"
    pd.DataFrame(
        {
            "Time": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Demand": [str(h) for h in hours[:8]] + [""] * 3,
            "Holiday": "false",
        }
    ).to_csv(path, index=False)
    args = argparse.Namespace(input=path, allow_partial_last_step=False)
    table, _, _, ends = _input_windows(args, {**PREDICT_BUNDLE, "lookback": 3})
    assert table["time"].iloc[ends].tolist() == [pd.Timestamp("2024-01-01T02:00Z")]
    assert capsys.readouterr().err == (
        "predict: note: the 2 row(s) from 2024-01-01T09:00:00Z on, after a long "
        "gap, are fewer than the lookback of 3 rows, so the latest forecast "
        "origin is 2024-01-01T02:00:00Z, not the last observed row "
        "2024-01-01T10:00:00Z; supply the 1 grid step(s) before "
        "2024-01-01T09:00:00Z (the end of the gap) to forecast from it\n"
    )


# --- end to end: real dvc repro in a temp repo -------------------------------


def test_pipeline_and_predict_with_known_future(tmp_path_factory):
    from test_pipeline import CSV, make_project, tiny_params

    params = tiny_params()
    params["features"]["known_future"] = ["Holiday", "hour_of_day"]
    params["train"]["epochs"] = 1
    scratch = tmp_path_factory.mktemp("kf-scratch")
    project = make_project(tmp_path_factory.mktemp("kf") / "repo", scratch, params)
    project.dvc("repro")
    bundle = project.read_json("models/preprocess.json")
    assert bundle["known_future"]["names"] == ["Holiday", "hour_of_day"]
    assert bundle["known_future"]["steps"] == 3  # demand's horizon
    from mtlstm.dataset import input_names
    from mtlstm.tf_setup import load_model

    model = load_model(project.root / "models/model.keras", ["demand", "temp_class"])
    assert input_names(model) == ["features", "known_future"]
    report = json.loads((project.root / "metrics/evaluate.json").read_text())
    # The single-task models (ablation) were trained and scored with it too.
    assert set(report["demand"]["single_task"]) >= {"mae"}
    # Gradient boosting read them too (Holiday: 1 column, hour_of_day: sin, cos),
    # per step of demand's range.
    chosen = json.loads((project.root / "metrics/baselines_val.json").read_text())
    assert chosen["demand"]["hgb_lag"]["known_future_columns"] == 3

    source = pd.read_csv(project.root / CSV)
    history = source.iloc[-30:-3].copy()
    future = source.iloc[-3:].copy()
    future[["Demand", "Temperature"]] = ""
    run = [sys.executable, "-m", "mtlstm.cli", "predict", "--output"]
    good = pd.concat([history, future])
    inp = scratch / "good.csv"
    good.to_csv(inp, index=False)
    proc = project.run(*run, str(scratch / "p.csv"), "--input", str(inp), check=False)
    assert proc.returncode == 0, proc.stderr
    got = pd.read_csv(scratch / "p.csv")
    last = pd.Timestamp(got["origin"].iloc[-1])
    assert last == pd.Timestamp(history["Time"].iloc[-1])  # the last observed row
    history.to_csv(scratch / "bad.csv", index=False)
    proc = project.run(
        *run, str(scratch / "q.csv"), "--input", str(scratch / "bad.csv"), check=False
    )
    assert proc.returncode == 2
    assert "known-future column 'Holiday' has no value at" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (scratch / "q.csv").exists()

    stripped = {k: v for k, v in bundle.items() if k != "known_future"}
    (scratch / "b.json").write_text(json.dumps(stripped))
    proc = project.run(
        *run,
        str(scratch / "r.csv"),
        "--input",
        str(scratch / "bad.csv"),
        "--bundle",
        str(scratch / "b.json"),
        check=False,
    )
    assert proc.returncode == 2
    assert "disagree on known-future inputs" in proc.stderr


def test_no_origin_with_its_known_future_rows_is_refused_in_one_line(tmp_path):
    # Lookback 3, horizon 3: hours 0-2, a long gap, hours 6-7 and their three
    # future rows. The one full lookback (ending at 2) is followed by the gap,
    # and the rows after it are fewer than a lookback: no origin at all.
    # Before, predict loaded the model and ran it on no window: an internal
    # error (Keras' UnboundLocalError), reported as a bug.
    import argparse

    from mtlstm.cli import _input_windows

    segment = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    with pytest.raises(DataError, match=r"^x\.csv: no forecast origin: the rows"):
        future_origins(np.array([2]), segment, 3, "x.csv")
    bundle = {**PREDICT_BUNDLE, "lookback": 3}
    hours = [0, 1, 2, 6, 7, 8, 9, 10]
    time = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(hours, unit="h")
    path = tmp_path / "in.csv"
    pd.DataFrame(
        {
            "Time": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Demand": ["1", "2", "3", "4", "5", "", "", ""],
            "Holiday": "false",
        }
    ).to_csv(path, index=False)
    args = argparse.Namespace(input=path, allow_partial_last_step=False)
    with pytest.raises(DataError, match=r"in\.csv: no forecast origin"):
        _input_windows(args, bundle)
