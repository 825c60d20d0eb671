"""``mtlstm init``: detection on hand-written tables, the file it writes, errors.

The end-to-end runs (init, then ``dvc repro`` on the default data and on the EPF
example's raw file) are in tests/test_init_pipeline.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, write_text

from mtlstm import cli, scaffold
from mtlstm.config import load_params
from mtlstm.errors import ConfigError, DataError


def hours(n: int, skip: tuple[int, ...] = ()) -> list[str]:
    return [f"2024-01-01T{h:02d}:00:00Z" for h in range(n) if h not in skip]


def table(tmp_path: Path, text: str, name: str = "t.csv") -> str:
    write_text(tmp_path / "data" / "raw" / name, text)
    return f"data/raw/{name}"


def plain_csv(tmp_path: Path, n: int = 12) -> str:
    rows = [
        f"{t},{h},{h * 1.5 % 7},{'yes' if h % 3 else 'no'},{'ab'[h % 2]},"
        f"2024-01-0{1 + h % 2},{h}"
        for h, t in enumerate(hours(n))
    ]
    header = "when,load,temp,holiday,kind,day,id\n"
    return table(tmp_path, header + "\n".join(rows) + "\n")


def init(tmp_path: Path, monkeypatch, *args: str) -> int:
    monkeypatch.chdir(tmp_path)
    return cli.main(["init", *args])


# --- detection ---------------------------------------------------------------------


def test_profile_finds_time_column_grid_and_kinds(tmp_path):
    source = plain_csv(tmp_path)
    prof = scaffold.profile(source, tmp_path)
    assert prof.source == "data/raw/t.csv"
    assert prof.time_column == "when"  # more distinct timestamps than "day"
    assert prof.freq == "1h"
    assert prof.columns == {
        "load": "numeric",
        "temp": "numeric",
        "holiday": "boolean",
        "kind": "categorical",
        "id": "numeric",
    }
    assert prof.skipped == {"day": "timestamps (a second time column)"}
    assert (prof.rows, prof.steps, prof.gaps, prof.duplicates) == (12, 12, [], 0)
    assert all(h.in_rows == 0 for h in prof.holes.values())


def test_profile_counts_holes_and_values_missing_inside_rows(tmp_path):
    times = hours(12, skip=(3, 7, 8))
    x = ["1", "", "3", "4", "NA", "", "7", "8", "9"]  # missing at 01, 05, 06
    text = "Time,x,y\n" + "".join(
        f"{t},{v},{i % 4}\n" for i, (t, v) in enumerate(zip(times, x, strict=True))
    )
    prof = scaffold.profile(table(tmp_path, text), tmp_path)
    assert prof.gaps == [
        ("2024-01-01 03:00:00+00:00", 1),
        ("2024-01-01 07:00:00+00:00", 2),
    ]
    # x: 01 (alone), 05-06 in rows then 07-08 whole steps: a run of 4.
    h = prof.holes["x"]
    assert (h.in_rows, h.longest, h.first, h.leading) == (
        3,
        4,
        "2024-01-01 01:00:00+00:00",
        False,
    )
    assert prof.holes["y"].in_rows == prof.holes["y"].longest == 0


def test_profile_reads_semicolons_and_decimal_commas(tmp_path):
    text = "ts;price;zone\n" + "".join(
        f"{t};{h},5;{'n' if h % 2 else 's'}\n" for h, t in enumerate(hours(6))
    )
    prof = scaffold.profile(table(tmp_path, text), tmp_path)
    assert (prof.csv_sep, prof.csv_decimal) == (";", ",")
    assert prof.columns == {"price": "numeric", "zone": "categorical"}
    assert prof.table["price"].tolist() == [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]


def test_points_in_a_file_of_decimal_commas_are_not_guessed(tmp_path):
    # "4.006" beside decimal commas: 4006 with a thousands separator, or 4.006?
    # ingest refuses the column, so init leaves it out and says why.
    text = "ts;price;load\n" + "".join(
        f"{t};{h},5;{h + 1}.00{h}\n" for h, t in enumerate(hours(6))
    )
    prof = scaffold.profile(table(tmp_path, text), tmp_path)
    assert (prof.csv_sep, prof.csv_decimal) == (";", ",")
    assert prof.columns == {"price": "numeric"}
    assert prof.skipped == {
        "load": "numbers with a '.' in a file of decimal commas (a thousands "
        "separator or a decimal point?); remove the thousands separators"
    }


def test_a_column_name_written_twice_is_refused(tmp_path):
    text = "Time,v,v\n" + "".join(f"{t},{i},{-i}\n" for i, t in enumerate(hours(4)))
    with pytest.raises(
        DataError,
        match=r"^data/raw/t\.csv line 1: column name 'v' appears 2 times in the "
        r"header \(columns 2 and 3\); rename one of them",
    ):
        scaffold.profile(table(tmp_path, text), tmp_path)


def test_too_few_distinct_times_names_the_file_and_column(tmp_path):
    # Three rows at one time (several series in one file): no step to detect.
    text = "Time,v\n" + "".join(f"{hours(1)[0]},{i}\n" for i in range(3))
    with pytest.raises(
        DataError,
        match=r"^data/raw/t\.csv: column 'Time' holds 1 distinct timestamp\(s\), "
        r"fewer than 3: no grid step to detect",
    ):
        scaffold.profile(table(tmp_path, text), tmp_path)


@pytest.mark.parametrize(
    ("freq", "times", "season", "calendar"),
    [
        ("30min", [f"2024-01-01T{h // 2:02d}:{30 * (h % 2):02d}Z" for h in range(8)],
         48, ["hour_of_day", "day_of_week", "day_of_year"]),
        ("D", [f"2024-01-{d:02d}" for d in range(1, 9)], 7,
         ["day_of_week", "day_of_year"]),
        ("MS", [f"2024-{m:02d}-01" for m in range(1, 9)], 12, ["day_of_year"]),
    ],
)  # fmt: skip
def test_grid_step_season_and_calendar(tmp_path, freq, times, season, calendar):
    text = "date,v\n" + "".join(f"{t},{i * i}\n" for i, t in enumerate(times))
    prof = scaffold.profile(table(tmp_path, text), tmp_path)
    assert prof.freq == freq
    assert scaffold.season_of(freq) == season
    assert scaffold.calendar_of(freq) == calendar


def test_many_categories_and_constant_columns_are_not_read(tmp_path):
    n = 60
    text = "Time,v,code,const\n" + "".join(
        f"2024-01-01T00:00Z,{i},c{i},k\n".replace(
            "00:00Z", f"{i // 60:02d}:{i % 60:02d}Z"
        )
        for i in range(n)
    )
    prof = scaffold.profile(table(tmp_path, text), tmp_path)
    assert prof.columns == {"v": "numeric"}
    assert prof.skipped == {
        "code": "60 distinct values, too many for a categorical feature (at most 50)",
        "const": "holds a single value",
    }
    assert prof.freq == "1min"


# --- the written file --------------------------------------------------------------


def test_init_writes_a_params_yaml_that_passes_check(tmp_path, monkeypatch, capsys):
    source = plain_csv(tmp_path)
    code = init(
        tmp_path,
        monkeypatch,
        source,
        "--regress",
        "load:3",
        "--classify",
        "temp:2,4",
        "--classify",
        "kind",
    )
    assert code == 0, capsys.readouterr().err
    assert capsys.readouterr().out.startswith(
        "init: wrote params.yaml: 5 column(s) of data/raw/t.csv on a 1h grid, "
        "task(s) load, temp_class, kind_class"
    )
    params = load_params(tmp_path / "params.yaml")
    assert params.ingest.source == "data/raw/t.csv"
    assert params.ingest.time_column == "when"
    assert params.ingest.freq == "1h" and params.ingest.missing == {}
    assert params.features.columns == ["load", "temp", "holiday", "kind", "id"]
    assert params.tasks["load"].horizon == 3
    assert params.tasks["temp_class"].bins == [2.0, 4.0]
    assert params.tasks["temp_class"].classes == ["low", "mid", "high"]
    assert params.tasks["kind_class"].classes == ["a", "b"]
    assert params.train.loss_weights == {
        "load": 1.0,
        "temp_class": 1.0,
        "kind_class": 1.0,
    }
    assert params.baselines.season == params.window.lookback == 24
    # Every setting not about the data is the default's.
    written = yaml.safe_load((tmp_path / "params.yaml").read_text())
    default = yaml.safe_load((ROOT / "params.yaml").read_text())
    for section in ("base", "split", "ablation", "evaluate", "backtest"):
        assert written[section] == default[section], section
    written["train"].pop("loss_weights")
    default["train"].pop("loss_weights")
    assert written["train"] == default["train"]


def test_quantile_classes_cut_the_training_range(tmp_path):
    # 10 rows, train share 0.7: values 0..6 -> terciles 2 and 4.
    text = "Time,v,w\n" + "".join(f"{t},{h},{h % 2}\n" for h, t in enumerate(hours(10)))
    prof = scaffold.profile(table(tmp_path, text), tmp_path)
    tasks = scaffold.tasks_from_flags(prof, [], ["v"])
    assert tasks == {
        "v_class": {
            "type": "classification",
            "target": "v",
            "horizon": 1,
            "bins": [2.0, 4.0],
            "classes": ["low", "mid", "high"],
        }
    }
    assert scaffold.tasks_from_flags(prof, [], ["v:q2"])["v_class"]["bins"] == [3.0]


def test_init_proposes_a_missing_policy_and_breaks_long_gaps(
    tmp_path, monkeypatch, capsys
):
    times = hours(20, skip=(10, 11, 12, 13))
    x = ["" if i in (4, 15) else str(i) for i in range(len(times))]
    text = "Time,x,y\n" + "".join(
        f"{t},{v},{i % 5}\n" for i, (t, v) in enumerate(zip(times, x, strict=True))
    )
    source = table(tmp_path, text)
    assert init(tmp_path, monkeypatch, source, "--regress", "x", "--print") == 0
    out, err = capsys.readouterr()
    assert err == ""  # nothing left for the user to fix
    assert not (tmp_path / "params.yaml").exists()
    assert (
        "  missing:              # values missing inside rows: ffill | interpolate\n"
        "    x: ffill            # 2 missing inside rows, longest run 1 step(s), "
        "first at 2024-01-01 04:00:00+00:00\n"
    ) in out
    assert (
        "  long_gaps: break      # 1 hole(s) longer than max_fill, the first 4 "
        "steps from 2024-01-01 10:00:00+00:00: no window spans them\n"
    ) in out
    raw = yaml.safe_load(out)
    assert raw["ingest"]["missing"] == {"x": "ffill"}
    assert raw["ingest"]["long_gaps"] == "break"
    # The proposal ingests: the stage's functions run on it without an error.
    (tmp_path / "params.yaml").write_text(out)
    params = load_params(tmp_path / "params.yaml")
    prof = scaffold.profile(source, tmp_path)
    assert scaffold.dry_ingest(prof, params) is None


def test_init_notes_what_it_cannot_fix(tmp_path, monkeypatch, capsys):
    x = ["1", "", "", "", "5", "6", "7"]  # a run of 3 > max_fill 2
    text = "Time,x,y\n" + "".join(
        f"{t},{v},{i}\n" for i, (t, v) in enumerate(zip(hours(7), x, strict=True))
    )
    source = table(tmp_path, text)
    assert init(tmp_path, monkeypatch, source, "--regress", "y") == 0
    err = capsys.readouterr().err
    assert (
        "init: note: x is missing for up to 3 steps in a row, more than max_fill"
    ) in err
    assert "init: note: ingest would stop: column 'x' is missing for 3 step(s)" in err
    written = (tmp_path / "params.yaml").read_text()
    assert "  # NOTE: ingest would stop: column 'x' is missing for 3 step(s)" in written
    load_params(tmp_path / "params.yaml")  # still a valid file


def test_default_params_shipped_with_the_package_equal_params_yaml():
    shipped = ROOT / "src" / "mtlstm" / "params_default.yaml"
    assert shipped.read_text() == (ROOT / "params.yaml").read_text(), (
        "cp params.yaml src/mtlstm/params_default.yaml (mtlstm init starts from it)"
    )


# --- errors ------------------------------------------------------------------------


def test_init_refuses_to_overwrite_without_force(tmp_path, monkeypatch, capsys):
    source = plain_csv(tmp_path)
    (tmp_path / "params.yaml").write_text("mine\n")
    assert init(tmp_path, monkeypatch, source, "--regress", "load") == 2
    assert capsys.readouterr().err == (
        "error: init: params.yaml exists; pass --force to replace it (or --print "
        "to see the proposed file)\n"
    )
    assert (tmp_path / "params.yaml").read_text() == "mine\n"
    assert init(tmp_path, monkeypatch, source, "--regress", "load", "--force") == 0
    load_params(tmp_path / "params.yaml")


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_init_refuses_an_output_folder_as_a_user_error(
    tmp_path, monkeypatch, capsys, force
):
    source = plain_csv(tmp_path)
    (tmp_path / "conf").mkdir()
    args = [source, "--regress", "load", "--output", "conf", *force]
    assert init(tmp_path, monkeypatch, *args) == 2
    assert capsys.readouterr().err == (
        "error: init: --output conf is a folder; name a YAML file\n"
    )
    assert not list((tmp_path / "conf").iterdir())
    assert not (tmp_path / "logs").exists()  # no traceback: not a bug


@pytest.mark.parametrize(
    ("flags", "pattern"),
    [
        ([], r"give at least one task: --regress COLUMN\[:HORIZON\] or --classify"),
        (["--regress", "lod"], r"--regress lod: 'lod' is not a column init reads; "
         r"columns: load, temp, holiday, kind, id"),
        (["--regress", "day"], r"'day' is not a column init reads \(timestamps"),
        (["--regress", "kind"], r"--regress kind: 'kind' is categorical; regression "
         r"needs a numeric column"),
        (["--regress", "load:0"], r"--regress load:0: '0' is not a horizon"),
        (["--classify", "temp:4,2"], r"edges must be finite and strictly increasing"),
        (["--classify", "temp:cold"], r"'cold' is neither bin edges"),
        (["--classify", "temp:q1"], r"q1: give 2 to 20 classes"),
        (["--classify", "holiday"], r"'holiday' is boolean, which cannot be a target"),
        (["--classify", "kind:a"], r"--classify kind:a: the data also hold 'b'"),
        (["--regress", "load", "--horizon", "0"], r"--horizon: must be >= 1, got 0"),
    ],
)  # fmt: skip
def test_bad_task_flags_name_the_flag(tmp_path, flags, pattern):
    prof = scaffold.profile(plain_csv(tmp_path), tmp_path)
    regress = [flags[i + 1] for i, f in enumerate(flags) if f == "--regress"]
    classify = [flags[i + 1] for i, f in enumerate(flags) if f == "--classify"]
    horizon = int(flags[-1]) if "--horizon" in flags else 1
    with pytest.raises(ConfigError, match=pattern):
        scaffold.tasks_from_flags(prof, regress, classify, horizon)


def test_a_source_outside_data_raw_is_refused(tmp_path, monkeypatch, capsys):
    write_text(tmp_path / "t.csv", "Time,x\n")
    assert init(tmp_path, monkeypatch, "t.csv", "--regress", "x") == 2
    assert capsys.readouterr().err.startswith(
        "error: init: ingest.source: 't.csv' is neither a built-in data set"
    )


def test_a_table_without_timestamps_is_refused(tmp_path):
    source = table(tmp_path, "a,b\n1,x\n2,y\n3,z\n")
    with pytest.raises(
        DataError,
        match=r"^data/raw/t\.csv: no column holds only ISO 8601 timestamps "
        r"\(found: a, b\)",
    ):
        scaffold.profile(source, tmp_path)


def test_a_table_with_only_the_time_column_is_refused(tmp_path):
    text = "Time,c\n" + "".join(f"{t},k\n" for t in hours(4))
    with pytest.raises(
        DataError,
        match=r"^data/raw/t\.csv: no column besides 'Time' can be read .*"
        r"c: holds a single value",
    ):
        scaffold.profile(table(tmp_path, text), tmp_path)


def test_profile_reads_parquet_types(tmp_path, monkeypatch, capsys):
    path = tmp_path / "data" / "raw" / "t.parquet"
    path.parent.mkdir(parents=True)
    pd.DataFrame(
        {
            "stamp": pd.date_range("2024-01-01", periods=6, freq="15min", tz="UTC"),
            "v": [1.0, float("nan"), 3.0, 4.0, 5.0, 6.0],
            "on": [True, False, True, True, False, False],
            "zone": ["n", "s", "n", "s", "n", "s"],
        }
    ).to_parquet(path)
    prof = scaffold.profile("data/raw/t.parquet", tmp_path)
    assert (prof.time_column, prof.freq) == ("stamp", "15min")
    assert prof.columns == {"v": "numeric", "on": "boolean", "zone": "categorical"}
    assert prof.holes["v"].in_rows == 1
    code = init(tmp_path, monkeypatch, "data/raw/t.parquet", "--classify", "zone")
    assert code == 0 and capsys.readouterr().err == ""
    params = load_params(tmp_path / "params.yaml")
    assert params.ingest.missing == {"v": "ffill"}
    assert params.baselines.season == params.window.lookback == 96  # a day


def test_lookback_is_one_season_capped(tmp_path):
    text = "Time,v\n" + "".join(
        f"2024-01-01T00:{5 * i:02d}:00Z,{i * i}\n" for i in range(8)
    )
    prof = scaffold.profile(table(tmp_path, text), tmp_path)
    tasks = scaffold.tasks_from_flags(prof, ["v"], [])
    params = scaffold.check(scaffold.build(prof, tasks, "mtlstm init")[0])
    assert prof.freq == "5min"
    assert params.baselines.season == 288  # a day of 5 minutes
    assert params.window.lookback == scaffold.MAX_LOOKBACK == 168


def test_task_names_yaml_would_misread_are_quoted(tmp_path, monkeypatch, capsys):
    # YAML 1.1 reads no / on unquoted as booleans; "features" and "static_0_a"
    # are model layer names, x_hidden task x's hidden layer: init renames those.
    columns = ("NO", "On", "features", "static_0_a", "x", "x_hidden")
    text = f"when,{','.join(columns)}\n" + "".join(
        f"{t},{h},{h % 5},{h % 3},{h % 6},{h * 2},{h % 4}\n"
        for h, t in enumerate(hours(12))
    )
    source = table(tmp_path, text)
    flags = [f for c in columns for f in ("--regress", c)]
    assert init(tmp_path, monkeypatch, source, *flags) == 0, capsys.readouterr().err
    written = (tmp_path / "params.yaml").read_text()
    assert "\n  'no':\n" in written and "\n    'on': 1.0\n" in written
    params = load_params(tmp_path / "params.yaml")
    names = ["no", "on", "task_features", "task_static_0_a", "x", "x_hidden_2"]
    assert list(params.tasks) == names
    assert list(params.train.loss_weights) == names
    assert params.tasks["no"].target == "NO"
    assert list(params.ingest.columns)[:2] == ["NO", "On"]


def test_a_line_break_in_a_column_name_is_written_on_one_line(
    tmp_path, monkeypatch, capsys
):
    # A quoted CSV header may hold a line break (a wrapped Excel header): YAML
    # refuses the folded single-quoted key init wrote ("mapping values are not
    # allowed here"), and init stopped with an internal error.
    names = ("load\n(MW)", "temp\u2028C")
    header = "when," + ",".join(f'"{n}"' for n in names)
    rows = [f"{t},{h},{h * 1.5 % 7}" for h, t in enumerate(hours(12))]
    source = table(tmp_path, header + "\n" + "\n".join(rows) + "\n")
    flags = ["--regress", names[1], "--classify", f"{names[0]}:q2"]
    assert init(tmp_path, monkeypatch, source, *flags) == 0, capsys.readouterr().err
    assert '\n    "load\\n(MW)": numeric\n' in (tmp_path / "params.yaml").read_text()
    params = load_params(tmp_path / "params.yaml")
    assert list(params.ingest.columns) == list(names)
    assert params.features.columns == list(names)
    assert params.tasks["load_mw_class"].target == names[0]


def test_init_names_a_parquet_file_it_cannot_read(tmp_path, monkeypatch, capsys):
    source = table(tmp_path, "when,load\n2024-01-01T00:00:00Z,1\n", "t.parquet")
    assert init(tmp_path, monkeypatch, source, "--regress", "load", "--print") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: init: data/raw/t.parquet: cannot be read as Parquet")
    assert not (tmp_path / "logs").exists()  # a user error, not a bug


def test_qn_on_a_column_mostly_at_one_value_suggests_an_edge_that_splits(tmp_path):
    # Nine in ten values 0: every quantile is 0, and an edge at 0 (the old
    # suggestion) puts every value in the upper class (a value on an edge is
    # in the upper class), the lower one empty.
    rows = [f"{t},{5 if h % 10 == 0 else 0},{h}" for h, t in enumerate(hours(24))]
    source = table(tmp_path, "when,spikes,load\n" + "\n".join(rows) + "\n")
    prof = scaffold.profile(source, tmp_path)
    with pytest.raises(
        ConfigError,
        match=r"^--classify spikes:q2: the training values of 'spikes' do not split "
        r"into 2 classes that each hold some \(quantiles on a repeated value\); "
        r"give edges, e.g. spikes:5$",
    ):
        # One edge, the median 0: not repeated, yet the class below is empty.
        scaffold.tasks_from_flags(prof, [], ["spikes:q2"], 1)
    with pytest.raises(
        ConfigError, match=r"repeated value\); give edges, e.g. spikes:5"
    ):
        scaffold.tasks_from_flags(prof, [], ["spikes:q3"], 1)
    spec = scaffold.tasks_from_flags(prof, [], ["spikes:5"], 1)["spikes_class"]
    classes = np.searchsorted(spec["bins"], prof.table["spikes"], side="right")
    assert set(classes) == {0, 1}  # both classes hold values


def test_qn_on_a_column_constant_in_training_says_it_has_one_class(tmp_path):
    # 7 over the training range (quantiles come from it), 9 after it only.
    rows = [f"{t},{7 if h < 20 else 9},{h}" for h, t in enumerate(hours(24))]
    source = table(tmp_path, "when,flat,load\n" + "\n".join(rows) + "\n")
    prof = scaffold.profile(source, tmp_path)
    with pytest.raises(
        ConfigError, match=r"they are all 7, so a task on 'flat' has one class"
    ):
        scaffold.tasks_from_flags(prof, [], ["flat:q2"], 1)
