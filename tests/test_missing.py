"""Values missing inside rows: ``ingest.missing`` per column, on hand-built tables.

Oracles are written out by hand: linear interpolation between the values around
a run, forward fill, the ``max_fill`` limit, and the counts in the summary and in
``data/windows/filled_targets.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_project, run_stage_cli, synthetic_table, write_text

from mtlstm import ingest
from mtlstm.config import Ingest, parse
from mtlstm.errors import ConfigError, DataError
from mtlstm.split import filled_targets

COLUMNS = {"x": "numeric", "flag": "boolean", "cat": "categorical"}


def config(**kwargs) -> Ingest:
    kwargs.setdefault("columns", COLUMNS)
    return Ingest(source="data/raw/a.csv", time_column="Time", **kwargs)


def run(tmp_path: Path, rows: list[str], cfg: Ingest) -> tuple[pd.DataFrame, dict]:
    """The ingest path of stages/ingest.py on ``Time,x,flag,cat`` rows."""
    path = write_text(
        tmp_path / "data" / "raw" / "a.csv", "Time,x,flag,cat\n" + "".join(rows)
    )
    src = ingest.read_table(path, cfg, label="data/raw/a.csv")
    typed, _ = ingest.order_rows(ingest.coerce(src, cfg), src)
    table, summary = ingest.fill_gaps(ingest.to_grid(typed, cfg), cfg)
    return ingest.restore_kinds(table, cfg), summary


def hour(h: int) -> str:
    return f"2024-01-01T{h:02d}:00Z"


# --- the policies ----------------------------------------------------------------


def test_interpolate_is_linear_between_the_values_around_a_run(tmp_path):
    rows = [f"{hour(0)},0,no,a\n", f"{hour(1)},,no,a\n", f"{hour(2)},NA,no,a\n"]
    rows += [f"{hour(3)},30,no,a\n", f"{hour(4)},nan,no,a\n", f"{hour(5)},36,no,a\n"]
    table, summary = run(tmp_path, rows, config(missing={"x": "interpolate"}))
    assert table["x"].tolist() == [0.0, 10.0, 20.0, 30.0, 33.0, 36.0]
    assert summary["missing_values"]["x"] == {
        "policy": "interpolate",
        "filled": 3,
        "filled_in_rows": 3,
    }
    assert summary["missing_values"]["flag"] == {
        "policy": "error",
        "filled": 0,
        "filled_in_rows": 0,
    }
    assert summary["filled_steps"] == 0


def test_ffill_repeats_the_last_value_of_every_kind(tmp_path):
    rows = [f"{hour(0)},5,yes,a\n", f"{hour(1)},6,,\n", f"{hour(2)},null,no,b\n"]
    rows += [f"{hour(3)},8,no,b\n"]
    cfg = config(missing={"x": "ffill", "flag": "ffill", "cat": "ffill"})
    table, summary = run(tmp_path, rows, cfg)
    assert table["x"].tolist() == [5.0, 6.0, 6.0, 8.0]
    assert table["flag"].tolist() == [True, True, False, False]
    assert table["cat"].tolist() == ["a", "a", "b", "b"]
    for column in COLUMNS:
        assert summary["missing_values"][column] == {
            "policy": "ffill",
            "filled": 1,
            "filled_in_rows": 1,
        }


def test_interpolate_also_fills_a_missing_step_inside_the_run(tmp_path):
    # x is missing at 01:00 (row present) and 02:00 (no row): one run of 2 steps.
    rows = [f"{hour(0)},0,no,a\n", f"{hour(1)},,no,a\n", f"{hour(3)},30,no,a\n"]
    table, summary = run(tmp_path, rows, config(missing={"x": "interpolate"}))
    assert table["x"].tolist() == [0.0, 10.0, 20.0, 30.0]
    assert table["cat"].tolist() == ["a", "a", "a", "a"]  # the step: ffill
    assert summary["missing_values"]["x"] == {
        "policy": "interpolate",
        "filled": 2,
        "filled_in_rows": 1,
    }
    assert summary["missing_values"]["cat"]["filled"] == 1
    assert summary["filled_steps"] == 1


def test_interpolate_keeps_the_last_value_at_the_end(tmp_path):
    rows = [f"{hour(0)},2,no,a\n", f"{hour(1)},4,no,a\n", f"{hour(2)},,no,a\n"]
    table, _ = run(tmp_path, rows, config(missing={"x": "interpolate"}))
    assert table["x"].tolist() == [2.0, 4.0, 4.0]  # no later value to aim at


def test_nothing_is_filled_from_across_a_long_gap(tmp_path):
    # 00-01, then a 3-step gap (dropped), then 05-06: x missing at 01:00.
    rows = [f"{hour(0)},1,no,a\n", f"{hour(1)},,no,a\n"]
    rows += [f"{hour(5)},50,no,a\n", f"{hour(6)},60,no,a\n"]
    cfg = config(missing={"x": "interpolate"}, long_gaps="break")
    table, summary = run(tmp_path, rows, cfg)
    assert table["x"].tolist() == [1.0, 1.0, 50.0, 60.0]  # not 1 .. 50
    assert table["segment"].tolist() == [0, 0, 1, 1]
    assert summary["missing_values"]["x"]["filled"] == 1


def test_a_row_with_every_value_missing_is_a_missing_step(tmp_path):
    rows = [f"{hour(0)},5,yes,a\n", f"{hour(1)},null,,\n", f"{hour(2)},7,no,b\n"]
    cfg = config(missing={"x": "ffill", "flag": "ffill", "cat": "ffill"})
    table, summary = run(tmp_path, rows, cfg)
    assert table["x"].tolist() == [5.0, 5.0, 7.0]
    assert summary["filled_steps"] == 1
    assert summary["missing_values"]["cat"] == {
        "policy": "ffill",
        "filled": 1,
        "filled_in_rows": 0,
    }


# --- what cannot be filled ---------------------------------------------------------


def test_a_run_longer_than_max_fill_names_column_and_time(tmp_path):
    rows = [f"{hour(0)},0,no,a\n"] + [f"{hour(h)},,no,a\n" for h in (1, 2, 3)]
    rows += [f"{hour(4)},4,no,a\n"]
    with pytest.raises(
        DataError,
        match=r"^column 'x' is missing for 3 step\(s\) of 1h from 2024-01-01 "
        r"01:00:00\+00:00 to 2024-01-01 03:00:00\+00:00 \(1 run\(s\) longer than "
        r"ingest\.max_fill=2\)",
    ):
        run(tmp_path, rows, config(missing={"x": "ffill"}, max_fill=2))


def test_a_missing_step_next_to_a_missing_value_counts_in_the_run(tmp_path):
    # The 02:00 step alone is a short hole, but x is missing at 01:00 and 02:00.
    rows = [f"{hour(0)},0,no,a\n", f"{hour(1)},,no,a\n", f"{hour(3)},30,no,a\n"]
    with pytest.raises(
        DataError, match=r"^column 'x' is missing for 2 step\(s\) of 1h from"
    ):
        run(tmp_path, rows, config(missing={"x": "interpolate"}, max_fill=1))


def test_a_missing_first_value_has_nothing_to_fill_from(tmp_path):
    rows = [f"{hour(0)},,no,a\n", f"{hour(1)},1,no,a\n"]
    with pytest.raises(
        DataError,
        match=r"^column 'x' is missing at 2024-01-01 00:00:00\+00:00, the first step "
        r"of the table, so there is no earlier value",
    ):
        run(tmp_path, rows, config(missing={"x": "interpolate"}))


def test_a_missing_value_after_a_long_gap_is_not_filled(tmp_path):
    rows = [f"{hour(0)},1,no,a\n", f"{hour(5)},,no,a\n", f"{hour(6)},6,no,a\n"]
    with pytest.raises(
        DataError,
        match=r"^column 'x' is missing at 2024-01-01 05:00:00\+00:00, the first step "
        r"after a long gap",
    ):
        run(tmp_path, rows, config(missing={"x": "ffill"}, long_gaps="break"))


def test_without_a_policy_a_missing_value_names_line_and_the_key(tmp_path):
    rows = [f"{hour(0)},1,no,a\n", f"{hour(1)},NA,no,a\n"]
    with pytest.raises(
        DataError,
        match=r"^data/raw/a\.csv line 3: column 'x' has a missing, NaN or infinite "
        r"value \(1 in all\); .*ingest\.missing\.x: ffill or interpolate",
    ):
        run(tmp_path, rows, config())


@pytest.mark.parametrize(
    ("row", "pattern"),
    [
        ("1,,a", r"line 3: column 'flag' is missing a value .*ingest\.missing\.flag"),
        ("1,no,", r"line 3: column 'cat' is empty.*ingest\.missing\.cat: ffill"),
    ],
)
def test_without_a_policy_missing_flags_and_categories_name_the_key(
    tmp_path, row, pattern
):
    with pytest.raises(DataError, match=pattern):
        run(tmp_path, [f"{hour(0)},1,no,a\n", f"{hour(1)},{row}\n"], config())


def test_an_infinite_value_is_not_missing(tmp_path):
    rows = [f"{hour(0)},1,no,a\n", f"{hour(1)},inf,no,a\n"]
    with pytest.raises(
        DataError, match=r"^data/raw/a\.csv line 3: column 'x' has an infinite value"
    ):
        run(tmp_path, rows, config(missing={"x": "ffill"}))


def test_a_grid_step_with_the_value_missing_in_every_row_names_the_time():
    # Rows present, x NaN in all of them (as a Parquet file can hold it): the
    # check on the grid names the time and the key.
    grid = pd.DataFrame(
        {
            "time": pd.date_range("2024-01-01", periods=3, freq="1h", tz="UTC"),
            "x": [1.0, np.nan, 3.0],
            "flag": [0.0, 0.0, 1.0],
            "cat": ["a", "a", "b"],
        }
    )
    with pytest.raises(
        DataError,
        match=r"^column 'x' is missing at 2024-01-01 01:00:00\+00:00 while the row's "
        r"other columns are present \(1 such value\(s\)\); .*ingest\.missing\.x",
    ):
        ingest.fill_gaps(grid, config())


@pytest.mark.parametrize("series", [False, True])
def test_a_sum_of_values_all_missing_in_a_step_is_missing_not_zero(tmp_path, series):
    # Half-hourly rows summed into hours: 01:00 and 01:30 both miss x, so the
    # 01:00 step has no value of x, which ffill fills. pandas' sum of no
    # values is 0: before, x was 0 there, counted as observed.
    minutes = ["00:00", "00:30", "01:00", "01:30", "02:00", "02:30"]
    xs = ["1", "2", "", "NA", "5", "6"]
    head, ids = ("Time,id,x,y\n", ["a,"] * 6) if series else ("Time,x,y\n", [""] * 6)
    rows = [
        f"2024-01-01T{m}Z,{i}{x},1\n" for m, i, x in zip(minutes, ids, xs, strict=True)
    ]
    path = write_text(tmp_path / "data" / "raw" / "a.csv", head + "".join(rows))
    cfg = Ingest(
        source="data/raw/a.csv",
        time_column="Time",
        columns={"x": "numeric", "y": "numeric"},
        aggregate={"x": "sum"},
        missing={"x": "ffill"},
        series=["id"] if series else [],
    )
    table, counts, _ = ingest.ingest_frame(
        ingest.read_table(path, cfg, label="data/raw/a.csv"), cfg
    )
    assert table["x"].tolist() == [3.0, 3.0, 11.0]
    assert counts["gaps"]["missing_values"]["x"]["filled_in_rows"] == 1


# --- the schema ----------------------------------------------------------------


def test_missing_policy_for_an_undeclared_column_lists_the_columns(raw_params):
    raw_params["ingest"]["missing"] = {"Demnd": "ffill"}
    with pytest.raises(
        ConfigError,
        match=r"^ingest\.missing\.Demnd: not a declared column \(declared: Demand, "
        r"Temperature, Holiday\)",
    ):
        from mtlstm.config import Params

        parse(Params, raw_params, "")


def test_unknown_missing_policy_lists_the_valid_ones(raw_params):
    from mtlstm.config import Params

    raw_params["ingest"]["missing"] = {"Demand": "mean"}
    with pytest.raises(
        ConfigError,
        match=r"^ingest\.missing\.Demand: 'mean' is not one of 'error', 'ffill', "
        r"'interpolate'",
    ):
        parse(Params, raw_params, "")


def test_interpolate_needs_a_numeric_column(raw_params):
    from mtlstm.config import Params

    raw_params["ingest"]["missing"] = {"Holiday": "interpolate"}
    with pytest.raises(
        ConfigError, match=r"^ingest\.missing\.Holiday: interpolate needs a numeric"
    ):
        parse(Params, raw_params, "")


# --- filled targets at scored times -------------------------------------------------


def test_filled_targets_count_the_windows_scored_on_a_filled_row():
    # 20 rows: train 0..13, val 14..16, test 17..19; lookback 2, horizon 1.
    ends = np.arange(1, 19)
    mask = np.zeros(20, dtype=bool)
    mask[[5, 15, 18, 19]] = True  # target rows: windows ending at 4, 14, 17, 18
    counts = filled_targets(
        {"y": mask, "z": np.zeros(20, bool)},
        {"a": ("y", 1), "b": ("z", 1)},
        ends,
        n_rows=20,
        lookback=2,
        max_horizon=1,
        train=0.7,
        val=0.15,
    )
    # train windows end 1..12 (target <= 13): row 5; val: ends 15 (rows 14..16);
    # the window ending at 14 reads row 13 (train): in no split. test: ends 18.
    assert counts == {
        "a": {"train": 1, "val": 0, "test": 1},
        "b": {"train": 0, "val": 0, "test": 0},
    }


def test_filled_targets_of_a_range_count_a_window_once_if_any_step_is_filled():
    # 20 rows: train 0..13, val 14..16, test 17..19; lookback 2, horizon [1, 2].
    ends = np.arange(1, 18)
    mask = np.zeros(20, dtype=bool)
    mask[[5, 6, 19]] = True
    counts = filled_targets(
        {"y": mask},
        {"a": ("y", [1, 2])},
        ends,
        n_rows=20,
        lookback=2,
        max_horizon=2,
        train=0.7,
        val=0.15,
    )
    # train windows end 1..11 (targets <= 13): ends 3 (row 5), 4 (rows 5, 6:
    # once), 5 (row 6) -> 3. val: end 15 reads 14..17 > 16: none; test: end 18
    # would need row 20: none, end 17 reads row 16 (val): in no split.
    assert counts == {"a": {"train": 3, "val": 0, "test": 0}}


def test_stages_report_filled_values_and_scored_filled_targets(tmp_path, raw_params):
    raw_params["ingest"] |= {
        "source": "data/raw/load.csv",
        "missing": {"Demand": "interpolate"},
    }
    project = make_project(tmp_path, raw_params)
    table = synthetic_table(200)
    text = table.assign(
        time=table["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        Holiday=np.where(table["Holiday"], "yes", "no"),
    ).rename(columns={"time": "Time"})
    text["Demand"] = text["Demand"].round(1).astype(str)
    text.loc[196, "Demand"] = ""  # the target of the test window ending at 195
    text.to_csv(project / "data" / "raw" / "load.csv", index=False)
    result = run_stage_cli("ingest", project)
    assert result.returncode == 0, result.stderr
    assert "filled values missing inside rows (ingest.missing): Demand 1" in (
        result.stdout
    )
    summary = json.loads((project / "data" / "ingest_summary.json").read_text())
    assert summary["missing_values"]["Demand"] == {
        "policy": "interpolate",
        "filled": 1,
        "filled_in_rows": 1,
    }
    ingested = pd.read_parquet(project / "data" / "ingested.parquet")
    around = [float(text.loc[195, "Demand"]), float(text.loc[197, "Demand"])]
    assert ingested["Demand"].iloc[196] == pytest.approx(sum(around) / 2)
    result = run_stage_cli("window", project)
    assert result.returncode == 0, result.stderr
    counts = json.loads(
        (project / "data" / "windows" / "filled_targets.json").read_text()
    )
    assert counts == {
        "demand": {"train": 0, "val": 0, "test": 1},
        "temp_class": {"train": 0, "val": 0, "test": 0},
    }
    assert "window: note: targets filled by ingest, scored as if observed" in (
        result.stdout
    )
    assert "demand 0/1" in result.stdout


def test_predict_fills_new_input_by_the_same_policy(tmp_path):
    # At the last row there is no later value: interpolate repeats the last one,
    # so a forecast never reads a value from after its origin.
    from mtlstm.predict import read_input

    cfg = config(missing={"x": "interpolate"})
    path = write_text(
        tmp_path / "new.csv",
        "Time,x,flag,cat\n"
        + "".join(
            f"{hour(h)},{v},no,a\n" for h, v in enumerate(["0", "", "20", "30", ""])
        ),
    )
    bundle = {"ingest": ingest.schema(cfg), "timezone": "UTC"}
    table, note = read_input(path, bundle)
    assert note is None
    assert table["x"].tolist() == [0.0, 10.0, 20.0, 30.0, 30.0]
