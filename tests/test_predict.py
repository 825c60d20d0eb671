"""mtlstm.predict without TensorFlow: the forecast table and input checks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mtlstm.errors import DataError
from mtlstm.predict import (
    about_input,
    check_every_series,
    check_model_fits_bundle,
    forecast_frame,
    origins,
    read_bundle,
    read_input,
    short_last_segment_note,
)

BUNDLE = {
    "ingest": {
        "time_column": "Time",
        "columns": {"Demand": "numeric", "Weather": "categorical"},
        "freq": "1h",
        "aggregate": {},
        "max_fill": 0,
        "long_gaps": "break",
        "csv_sep": ",",
        "csv_decimal": ".",
    },
    "timezone": "UTC",
    "tasks": [
        {"name": "load", "type": "regression", "horizon": 2, "mean": 10.0, "std": 2.0},
        {
            "name": "sky",
            "type": "classification",
            "horizon": 1,
            "classes": ["sun", "rain"],
        },
    ],
}


def test_forecast_frame_is_exact():
    times = pd.Series(pd.date_range("2024-01-01", periods=4, freq="h", tz="UTC"))
    outputs = {
        "load": np.array([[0.5], [-1.0]], dtype=np.float32),
        "sky": np.array([[0.25, 0.75], [0.5, 0.5]], dtype=np.float32),
    }
    frame = forecast_frame(BUNDLE, times, np.array([1, 3]), outputs)
    nan = float("nan")
    expected = pd.DataFrame(
        {
            "origin": ["2024-01-01T01:00:00Z"] * 2 + ["2024-01-01T03:00:00Z"] * 2,
            "task": ["load", "sky", "load", "sky"],
            "step": [2, 1, 2, 1],
            "time": [
                "2024-01-01T03:00:00Z",
                "2024-01-01T02:00:00Z",
                "2024-01-01T05:00:00Z",
                "2024-01-01T04:00:00Z",
            ],
            "zone": "UTC",
            "unit": "",
            # 0.5 * 2 + 10, argmax (a tie goes to the first class), -1 * 2 + 10
            "forecast": [11.0, "rain", 8.0, "sun"],
            "actual": pd.Series([nan, None, nan, None], dtype=object),  # no targets
            "p_sun": [nan, 0.25, nan, 0.5],
            "p_rain": [nan, 0.75, nan, 0.5],
        }
    )
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)


def test_forecast_frame_steps_quantiles_actuals_in_the_local_zone():
    """A range task with quantiles: one row per origin and step, target times
    and origins in the bundle's zone with its offset, the actual wherever the
    target row exists in the origin's segment."""
    bundle = {
        **BUNDLE,
        "timezone": "Australia/Melbourne",  # UTC+11 in January
        "tasks": [
            {
                **BUNDLE["tasks"][0],
                "horizon": [1, 2],
                "quantiles": [0.1, 0.5, 0.9],
                "unit": "MW",
            }
        ],
    }
    times = pd.Series(pd.date_range("2024-01-01", periods=5, freq="h", tz="UTC"))
    targets = {"load": np.arange(5, dtype=np.float32)}  # actual 10, 12, .., 18
    levels = np.array(
        [
            [[-1.0, 0.0, 1.0], [-2.0, 0.5, 2.0]],
            [[0.0, 1.0, 3.0], [0.0, 1.5, 4.0]],
            [[0.0, 2.0, 3.0], [0.0, 2.5, 4.0]],
        ],
        dtype=np.float32,
    )
    segment = np.array([0, 0, 0, 0, 1])  # row 4 starts a new segment
    frame = forecast_frame(
        bundle, times, np.array([1, 2, 3]), {"load": levels}, targets, segment
    )
    assert list(frame.columns) == [
        "origin",
        "task",
        "step",
        "time",
        "zone",
        "unit",
        "forecast",
        "actual",
        "q0.1",
        "q0.5",
        "q0.9",
    ]
    assert frame["origin"].tolist()[::2] == [
        "2024-01-01T12:00:00+11:00",
        "2024-01-01T13:00:00+11:00",
        "2024-01-01T14:00:00+11:00",
    ]
    assert frame["time"].tolist()[:3] == [
        "2024-01-01T13:00:00+11:00",
        "2024-01-01T14:00:00+11:00",
        "2024-01-01T14:00:00+11:00",
    ]
    assert frame["step"].tolist() == [1, 2] * 3
    assert (frame["zone"] == "Australia/Melbourne").all()
    assert (frame["unit"] == "MW").all()
    assert frame["forecast"].tolist() == [10.0, 11.0, 12.0, 13.0, 14.0, 15.0]
    assert frame["q0.1"].tolist() == [8.0, 6.0, 10.0, 10.0, 10.0, 10.0]
    assert frame["q0.9"].tolist() == [12.0, 14.0, 16.0, 18.0, 16.0, 18.0]
    # rows 2, 3 | 3, then 4 is in another segment | 4 (other segment), 5 (past
    # the end): not observed at the target time
    np.testing.assert_array_equal(
        frame["actual"].to_numpy(float), [14.0, 16.0, 16.0, np.nan, np.nan, np.nan]
    )


def test_forecast_frame_utc_offsets_follow_daylight_saving():
    bundle = {**BUNDLE, "timezone": "Europe/Berlin", "tasks": [BUNDLE["tasks"][0]]}
    times = pd.Series(pd.date_range("2024-03-31T00:00", periods=4, freq="h", tz="UTC"))
    frame = forecast_frame(
        bundle, times, np.array([0, 1]), {"load": np.zeros((2, 1), np.float32)}
    )
    # 01:00 UTC is 03:00 CEST (+02:00) after the change at 01:00 UTC
    assert frame["origin"].tolist() == [
        "2024-03-31T01:00:00+01:00",
        "2024-03-31T03:00:00+02:00",
    ]
    assert frame["time"].tolist() == [  # horizon 2
        "2024-03-31T04:00:00+02:00",
        "2024-03-31T05:00:00+02:00",
    ]


def test_origins_close_a_full_lookback_inside_one_segment():
    segment = np.array([0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(origins(segment, 2, "x.csv"), [1, 2, 4, 5, 6])


def test_origins_refuse_input_shorter_than_one_lookback():
    with pytest.raises(DataError, match=r"x\.csv: 2 row\(s\).*lookback of 3 rows"):
        origins(np.zeros(2, dtype=int), 3, "x.csv")


def test_origins_refuse_input_without_a_full_lookback_between_gaps():
    with pytest.raises(DataError, match=r"x\.csv: no 3 consecutive rows"):
        origins(np.array([0, 0, 1, 1, 2]), 3, "x.csv")


def test_every_series_of_a_long_table_must_get_a_forecast():
    # Series 0 has 4 rows (origins 2, 3 with lookback 3); series 1 has 2 rows,
    # series 2 has 3 rows split by a gap (segments 3 and 4): neither forecasts.
    series = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2])
    segment = np.array([0, 0, 0, 0, 1, 1, 2, 2, 3])
    rows = np.arange(len(series))
    ends = origins(segment, 3, "x.csv")
    np.testing.assert_array_equal(ends, [2, 3])
    names = ["north", "south", "west"]
    with pytest.raises(
        DataError,
        match=r"x\.csv: series 'south' \(and 1 more series\) has no 3 consecutive "
        r"rows between gaps \(2 row\(s\) after gridding\).*supply more history",
    ):
        check_every_series(series, rows, ends, names, 3, "x.csv")
    # Without them every series forecasts: no error.
    check_every_series(series[:4], rows[:4], ends, names, 3, "x.csv")


def _hours(hours: list[int], **columns) -> pd.DataFrame:
    time = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(hours, unit="h")
    return pd.DataFrame({"time": time, **columns})


def test_a_short_last_segment_is_noted_with_the_latest_origin():
    # Hours 0-3, a long gap, hours 6-7: with lookback 3 the origins are 2 and
    # 3; the last row (7) is none, as the 2 rows after the gap are fewer.
    table = _hours([0, 1, 2, 3, 6, 7], segment=[0, 0, 0, 0, 1, 1])
    observed = np.ones(6, dtype=bool)
    ends = origins(table["segment"].to_numpy(), 3, "x.csv")
    np.testing.assert_array_equal(ends, [2, 3])
    assert short_last_segment_note(table, observed, ends, 3, "UTC") == (
        "the 2 row(s) from 2024-01-01T06:00:00Z on, after a long gap, are fewer "
        "than the lookback of 3 rows, so the latest forecast origin is "
        "2024-01-01T03:00:00Z, not the last observed row 2024-01-01T07:00:00Z; "
        "supply the 1 grid step(s) before 2024-01-01T06:00:00Z (the end of the "
        "gap) to forecast from it"
    )
    # Times in the bundle's zone, as the forecasts are.
    assert "from 2024-01-01T17:00:00+11:00 on" in short_last_segment_note(
        table, observed, ends, 3, "Australia/Sydney"
    )
    # The last row an origin (one more row after the gap): nothing to note.
    table = _hours([0, 1, 2, 3, 6, 7, 8], segment=[0, 0, 0, 0, 1, 1, 1])
    ends = origins(table["segment"].to_numpy(), 3, "x.csv")
    assert short_last_segment_note(table, np.ones(7, bool), ends, 3, "UTC") is None


def test_a_short_last_segment_of_a_series_names_it_and_how_many_more():
    # Lookback 2. a: hours 0-2 (origins 1, 2); b: 0-1, gap, 4 (latest origin
    # 1); c: 0-2, gap, 5 (latest 2); d: 0 only (no origin at all: that is
    # check_every_series's error, not noted). Future rows (not observed) sit
    # after each series' last row in its segment and are never origins.
    table = _hours(
        [0, 1, 2, 0, 1, 4, 5, 0, 1, 2, 5, 0],
        series=list("aaabbbbccccd"),
        segment=[0, 0, 0, 1, 1, 2, 2, 3, 3, 3, 4, 5],
    )
    observed = np.array([1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1], dtype=bool)
    at = np.flatnonzero(observed)
    ends = at[origins(table["segment"].to_numpy()[observed], 2, "x.csv")]
    np.testing.assert_array_equal(ends, [1, 2, 4, 8, 9])
    note = short_last_segment_note(table, observed, ends, 2, "UTC")
    assert note is not None
    assert note.startswith(
        "series 'b' (and 1 more series): the 1 row(s) from 2024-01-01T04:00:00Z "
        "on, after a long gap, are fewer than the lookback of 2 rows, so the "
        "latest forecast origin is 2024-01-01T01:00:00Z, not the last observed "
        "row 2024-01-01T04:00:00Z; supply the 1 grid step(s) before"
    )
    # Only a and d: nothing to note.
    keep = np.isin(table["series"], ["a", "d"])
    sub = table[keep].reset_index(drop=True)
    assert short_last_segment_note(sub, observed[keep], [1, 2], 2, "UTC") is None


def test_predict_notes_on_stderr_that_the_latest_origin_is_missing(tmp_path, capsys):
    import argparse

    from mtlstm.cli import _input_windows

    path = tmp_path / "new.csv"
    path.write_text(
        "Time,Demand,Weather\n"
        + "".join(f"2024-01-01T0{h}:00:00Z,{h},sun\n" for h in (0, 1, 2, 3, 6, 7))
    )
    args = argparse.Namespace(input=path, allow_partial_last_step=False)
    _, _, _, ends = _input_windows(args, {**BUNDLE, "lookback": 3})
    np.testing.assert_array_equal(ends, [2, 3])
    err = capsys.readouterr().err
    assert err.count("\n") == 1  # one line
    assert re.fullmatch(
        r"predict: note: the 2 row\(s\) from 2024-01-01T06:00:00Z on, after a "
        r"long gap, are fewer than the lookback of 3 rows, so the latest forecast "
        r"origin is 2024-01-01T03:00:00Z, not the last observed row "
        r"2024-01-01T07:00:00Z; supply the 1 grid step\(s\) before "
        r"2024-01-01T06:00:00Z \(the end of the gap\) to forecast from it\n",
        err,
    )
    # With a full lookback after the gap, stderr stays empty.
    _input_windows(args, {**BUNDLE, "lookback": 2})
    assert capsys.readouterr().err == ""


def test_read_input_grids_and_breaks_at_gaps(tmp_path):
    path = tmp_path / "new.csv"
    path.write_text(
        "Time,Demand,Weather\n"
        "2024-01-01T00:00:00Z,1,sun\n"
        "2024-01-01T01:00:00Z,2,rain\n"
        "2024-01-01T03:00:00Z,4,sun\n"
    )
    table, note = read_input(path, BUNDLE)
    assert note is None
    assert table["Demand"].tolist() == [1.0, 2.0, 4.0]
    assert table["segment"].tolist() == [0, 0, 1]


def test_read_input_applies_the_ingest_checks(tmp_path):
    path = tmp_path / "new.csv"
    path.write_text("Time,Demand,Weather\n2024-01-01T00:00:00Z,oops,sun\n")
    with pytest.raises(DataError, match=r"new\.csv line 2: column 'Demand'"):
        read_input(path, BUNDLE)


def test_read_input_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nope\.csv: input file not found"):
        read_input(tmp_path / "nope.csv", BUNDLE)


# --- issue 14: the grid's time zone and an incomplete last step ---------------


def daily_bundle(timezone: str = "Europe/Berlin") -> dict:
    ingest = {**BUNDLE["ingest"], "freq": "1D", "long_gaps": "error"}
    tasks = [{**BUNDLE["tasks"][0], "horizon": 1}]
    return {**BUNDLE, "ingest": ingest, "timezone": timezone, "tasks": tasks}


def test_daily_rows_at_local_midnight_keep_their_local_day(tmp_path):
    path = tmp_path / "new.csv"
    path.write_text(
        "Time,Demand,Weather\n"
        "2024-01-01T00:00:00+01:00,1,sun\n"  # Monday 1 January in Berlin
        "2024-01-02T00:00:00+01:00,2,sun\n"
        "2024-01-03T00:00:00+01:00,3,rain\n"
    )
    table, _ = read_input(path, daily_bundle())
    local = table["time"].dt.tz_convert("Europe/Berlin")
    assert local.dt.strftime("%Y-%m-%d %H:%M").tolist() == [
        "2024-01-01 00:00",
        "2024-01-02 00:00",
        "2024-01-03 00:00",
    ]
    assert local.dt.day_of_week.tolist() == [0, 1, 2]
    frame = forecast_frame(
        daily_bundle(), table["time"], np.array([2]), {"load": np.zeros((1, 1))}
    )
    # local midnight, written in the zone (the instant 2024-01-02T23:00:00Z),
    # not the UTC day before's midnight
    assert frame["origin"].tolist() == ["2024-01-03T00:00:00+01:00"]
    assert frame["time"].tolist() == ["2024-01-04T00:00:00+01:00"]


def test_zone_less_dates_are_the_local_days_ingest_reads_them_as(tmp_path):
    # West of UTC a date read as UTC midnight would be the local day before:
    # predict reads new data as ingest read the training data, as local days.
    path = tmp_path / "new.csv"
    path.write_text("Time,Demand,Weather\n2024-01-01,1,sun\n2024-01-02,2,sun\n")
    table, _ = read_input(path, daily_bundle("America/New_York"))
    local = table["time"].dt.tz_convert("America/New_York")
    assert local.dt.strftime("%Y-%m-%d %H:%M").tolist() == [
        "2024-01-01 00:00",
        "2024-01-02 00:00",
    ]


def test_local_wall_times_are_read_in_the_bundles_source_timezone(tmp_path):
    path = tmp_path / "new.csv"
    path.write_text(
        "Time,Demand,Weather\n2024-07-01 12:00,1,sun\n2024-07-01 13:00,2,sun\n"
    )
    local = BUNDLE | {"ingest": BUNDLE["ingest"] | {"source_timezone": "Europe/Paris"}}
    table, _ = read_input(path, local)
    assert table["time"].dt.strftime("%H:%M").tolist() == ["10:00", "11:00"]  # UTC


def test_daily_target_time_follows_local_days_across_dst():
    times = pd.Series(pd.to_datetime(["2024-03-30T23:00:00Z"], utc=True))
    frame = forecast_frame(
        daily_bundle(), times, np.array([0]), {"load": np.zeros((1, 1))}
    )
    # 31 March 2024 has 23 hours in Berlin: the next local midnight is 22:00Z.
    assert frame["origin"].tolist() == ["2024-03-31T00:00:00+01:00"]
    assert frame["time"].tolist() == ["2024-04-01T00:00:00+02:00"]


HALF_HOURS = (
    "Time,Demand,Weather\n"
    "2024-01-01T00:00:00Z,1,sun\n"
    "2024-01-01T00:30:00Z,3,sun\n"
    "2024-01-01T01:00:00Z,5,sun\n"
    "2024-01-01T01:30:00Z,7,sun\n"
    "2024-01-01T02:00:00Z,100,rain\n"  # 02:30 not yet recorded
)


def test_an_incomplete_last_step_is_dropped_with_a_note(tmp_path):
    path = tmp_path / "new.csv"
    path.write_text(HALF_HOURS)
    table, note = read_input(path, BUNDLE)
    assert table["Demand"].tolist() == [2.0, 6.0]
    assert note is not None
    assert "2024-01-01T02:00:00Z" in note and "1 source row(s)" in note
    assert "--allow-partial-last-step" in note


def test_an_incomplete_last_step_is_kept_on_request(tmp_path):
    path = tmp_path / "new.csv"
    path.write_text(HALF_HOURS)
    table, note = read_input(path, BUNDLE, allow_partial_last_step=True)
    assert table["Demand"].tolist() == [2.0, 6.0, 100.0]
    assert note is None


def test_a_complete_last_step_is_kept(tmp_path):
    path = tmp_path / "new.csv"
    path.write_text(HALF_HOURS + "2024-01-01T02:30:00Z,102,rain\n")
    table, note = read_input(path, BUNDLE)
    assert table["Demand"].tolist() == [2.0, 6.0, 101.0]
    assert note is None


def test_actuals_are_shown_to_float32_precision():
    from mtlstm.predict import significant

    # a target stored scaled in float32 and unscaled reads 4084.5299989656355
    np.testing.assert_array_equal(
        significant(np.array([4084.5299989656355, -0.000123456789, 0.0])),
        [4084.53, -0.0001234568, 0.0],
    )


# --- the bundle: predict's preprocessing, checked to be one ---------------------


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("Time: 1\n", r"b\.json: not a JSON preprocessing bundle \(Expecting value: "),
        ("[1, 2]", r"b\.json: not a preprocessing bundle \(no lookback, timezone, "),
        (
            '{"lookback": 4, "tasks": []}',
            r"not a preprocessing bundle \(no timezone, inputs, feature_names, ingest\)"
            r"; give the preprocess\.json saved with the model",
        ),
    ],
)
def test_read_bundle_refuses_what_is_not_a_bundle(tmp_path, text, match):
    path = tmp_path / "b.json"
    path.write_text(text)
    with pytest.raises(DataError, match=match):
        read_bundle(path)


def test_read_bundle_missing_file_and_a_real_bundle(tmp_path):
    with pytest.raises(DataError, match=r"nope\.json: bundle not found; run `dvc"):
        read_bundle(tmp_path / "nope.json")
    path = tmp_path / "b.json"
    whole = BUNDLE | {"lookback": 3, "feature_names": [], "inputs": []}
    path.write_text(json.dumps(whole))
    assert read_bundle(path) == whole


def test_a_model_and_a_bundle_of_other_windows_are_refused():
    bundle = {"lookback": 24, "feature_names": ["a", "b", "c"]}
    check_model_fits_bundle((None, 24, 3), bundle, "m.keras", "b.json")
    with pytest.raises(
        DataError,
        match=r"m\.keras reads windows of 48 steps x 3 features but b\.json makes "
        r"24 x 3: they are from different runs",
    ):
        check_model_fits_bundle((None, 48, 3), bundle, "m.keras", "b.json")


def test_input_errors_name_the_file_and_where_its_settings_come_from(tmp_path):
    # A hole longer than ingest.max_fill: ingest's message names params.yaml's
    # keys as the fix, which for predict take a retrain; the file is named once.
    path = tmp_path / "new.csv"
    rows = ["2024-01-01T00:00:00Z,1,sun", "2024-01-01T05:00:00Z,2,sun"]
    path.write_text("Time,Demand,Weather\n" + "\n".join(rows) + "\n")
    strict = BUNDLE | {"ingest": BUNDLE["ingest"] | {"long_gaps": "error"}}
    with pytest.raises(DataError) as caught, about_input(path):
        read_input(path, strict)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and message.count(str(path)) == 1
    assert "missing step" in message
    assert message.endswith(
        "(predict reads it with the ingest settings and classes saved in the "
        "bundle at training time: a change to them in params.yaml takes a `dvc "
        "repro` first)"
    )
    already = pytest.raises(DataError, match=r"^x\.csv line 2: bad \(predict reads")
    with already, about_input(Path("x.csv")):
        raise DataError("x.csv line 2: bad")


def test_an_unseen_category_names_the_input_before_the_model_is_loaded(
    tmp_path, capsys, monkeypatch
):
    # The encoders' errors (window.transform) were raised after the model was
    # loaded and outside about_input: "column 'Weather' holds 'fog' at ...;
    # move that period into training", naming neither the input file nor the
    # bundle as where its settings come from. No model file is needed here:
    # the input is refused first.
    from mtlstm import ingest, window
    from mtlstm.cli import main
    from mtlstm.config import Features, Ingest, Task

    cfg = Ingest(
        source="data/raw/x.csv",
        time_column="Time",
        columns={"Demand": "numeric", "Weather": "categorical"},
    )
    times = pd.date_range("2024-01-01", periods=20, freq="h", tz="UTC")
    train = pd.DataFrame(
        {
            "time": times,
            "Demand": np.arange(20.0) % 7,
            "Weather": ["sun", "rain"] * 10,
            "segment": 0,
        }
    )
    features = Features(columns=["Demand", "Weather"])
    tasks = {"load": Task(type="regression", target="Demand")}
    bundle = window.fit(train, features, tasks, 3) | {"ingest": ingest.schema(cfg)}
    (tmp_path / "preprocess.json").write_text(json.dumps(bundle))
    pd.DataFrame(
        {
            "Time": times[:5].strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Demand": [1, 2, 3, 4, 5],
            "Weather": ["sun", "fog", "sun", "rain", "sun"],
        }
    ).to_csv(tmp_path / "new.csv", index=False)
    monkeypatch.chdir(tmp_path)
    argv = ["predict", "--model", "none.keras", "--bundle", "preprocess.json"]
    assert main([*argv, "--input", "new.csv", "--output", "out.csv"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: predict: new.csv: column 'Weather' holds 'fog'")
    assert "(predict reads it with the ingest settings and classes saved" in err
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize(
    ("freq", "zone", "start", "end", "kept"),
    [
        # Daily rows on a grid of months: June's 30 days are a complete month
        # (before: fewer than the 31 of the median month, so dropped), June
        # 1-15 are not.
        ("MS", "UTC", "2024-01-01", "2024-06-30", 6),
        ("MS", "UTC", "2024-01-01", "2024-06-15", 5),
        # Hourly rows on Berlin's local days: 31 March 2024 has 23 hours, all
        # of them here (before: fewer than 24, so dropped), then one missing.
        ("1D", "Europe/Berlin", "2024-03-28", "2024-03-31T23:00", 4),
        ("1D", "Europe/Berlin", "2024-03-28", "2024-03-31T22:00", 3),
    ],
)
def test_a_complete_last_step_of_another_length_is_kept(
    tmp_path, freq, zone, start, end, kept
):
    step = "D" if freq == "MS" else "h"
    times = pd.date_range(start, end, freq=step, tz=zone)
    path = tmp_path / "new.csv"
    pd.DataFrame(
        {"Time": times.strftime("%Y-%m-%dT%H:%M:%S%z"), "Demand": 1, "Weather": "sun"}
    ).to_csv(path, index=False)
    ingest = BUNDLE["ingest"] | {"freq": freq, "aggregate": {"Demand": "mean"}}
    table, note = read_input(path, BUNDLE | {"ingest": ingest, "timezone": zone})
    assert len(table) == kept
    assert (note is None) == (kept == 4 if freq == "1D" else kept == 6)


def test_each_series_last_step_is_compared_by_its_own_length(tmp_path):
    # A long table on a grid of months: a ends with a complete June (30 days),
    # b with half a May; the median month (31 days) is not the bar for June.
    from mtlstm.predict import step_hours

    frames = [
        pd.DataFrame(
            {
                "Time": pd.date_range("2024-01-01", end, freq="D").strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
                "shop": shop,
                "Demand": 1,
                "Weather": "sun",
            }
        )
        for shop, end in (("a", "2024-06-30"), ("b", "2024-05-16"))
    ]
    path = tmp_path / "new.csv"
    pd.concat(frames).to_csv(path, index=False)
    ingest = BUNDLE["ingest"] | {
        "freq": "MS",
        "aggregate": {"Demand": "mean"},
        "series": ["shop"],
    }
    table, note = read_input(path, BUNDLE | {"ingest": ingest})
    assert table.groupby("series").size().to_dict() == {"a": 6, "b": 4}
    assert "the last grid step of 1 series (first: series 'b')" in note
    assert "a complete step's 31" in note
    hours = step_hours(table["time"][:3], "MS", "UTC")
    assert hours.tolist() == [31 * 24, 29 * 24, 31 * 24]
