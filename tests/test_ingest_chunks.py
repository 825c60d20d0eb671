"""Ingest of many series a chunk of whole series at a time (mtlstm.ingest_chunks).

The oracle is the whole-table path (``ingest.ingest_frame`` on the table read
whole) on hand-built three-series panels with holes: chunks so small that a
series spans two source row groups and two record batches must give its
content and summary.
"""

from __future__ import annotations

import copy
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import make_project, run_stage_cli
from test_series import PANEL_CSV, panel_frame, panel_params

from mtlstm import ingest, ingest_chunks
from mtlstm.config import Ingest
from mtlstm.errors import DataError
from mtlstm.io import write_parquet

SOURCE = "data/raw/panel.parquet"


def holey_panel() -> pd.DataFrame:
    """Three daily series sorted by (series, time): "a" with a one-day hole and
    a Temperature missing inside a row, "b" with a four-day gap (a new
    segment), "c" short; a categorical and a boolean column."""
    parts = []
    for name, days, holes in (("a", 12, [4]), ("b", 14, [5, 6, 7, 8]), ("c", 3, [])):
        time = pd.date_range("2024-03-01", periods=days, freq="D", tz="UTC")
        part = pd.DataFrame(
            {
                "Time": time,
                "region": name,
                "Demand": np.arange(days) * 10.0 + ord(name),
                "Temperature": np.arange(days) + 0.5,
                "Holiday": time.day_of_week >= 5,
                "state": f"s_{name}",
            }
        )
        parts.append(part.drop(index=holes))
    frame = pd.concat(parts, ignore_index=True)
    frame.loc[2, "Temperature"] = np.nan  # series a, inside a row
    return frame


def panel_cfg(**changes) -> Ingest:
    base = {
        "source": SOURCE,
        "time_column": "Time",
        "columns": {
            "Demand": "numeric",
            "Temperature": "numeric",
            "Holiday": "boolean",
            "state": "categorical",
        },
        "freq": "1D",
        "missing": {"Temperature": "ffill"},
        "long_gaps": "break",
        "series": ["region"],
    }
    return Ingest(**(base | changes))


def write_source(tmp_path, frame: pd.DataFrame, row_group: int = 7):
    path = tmp_path / "panel.parquet"
    pq.write_table(pa.Table.from_pandas(frame), path, row_group_size=row_group)
    return path


def whole(path, cfg: Ingest, tmp_path):
    """The whole-table path's outputs, written and read back."""
    table, counts, filled = ingest.ingest_frame(
        ingest.read_table(path, cfg, label=cfg.source), cfg, "UTC"
    )
    write_parquet(tmp_path / "whole.parquet", table)
    write_parquet(tmp_path / "whole_filled.parquet", pd.DataFrame(filled))
    return counts


def streamed(path, cfg: Ingest, tmp_path, chunk_rows: int):
    return ingest_chunks.stream_series(
        path,
        cfg,
        "UTC",
        tmp_path / "out.parquet",
        tmp_path / "out_filled.parquet",
        chunk_rows=chunk_rows,
    )


@pytest.mark.parametrize("chunk_rows", [1, 5, 9, 14])
def test_chunks_give_the_whole_table_content_and_summary(tmp_path, chunk_rows):
    cfg = panel_cfg()
    path = write_source(tmp_path, holey_panel())
    counts = whole(path, cfg, tmp_path)
    got = streamed(path, cfg, tmp_path, chunk_rows)
    assert got is not None
    for out, ref in (("out", "whole"), ("out_filled", "whole_filled")):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / f"{out}.parquet"),
            pd.read_parquet(tmp_path / f"{ref}.parquet"),
        )
    # The oracle's own figures: a's hole filled, b's gap dropped, 4 segments.
    assert counts["gaps"]["filled_steps"] == 1
    assert counts["gaps"]["dropped_gap_steps"] == 4
    assert counts["gaps"]["segments"] == 4
    assert counts["gaps"]["missing_values"]["Temperature"]["filled_in_rows"] == 1
    assert ingest.summary(cfg, "UTC", got) == ingest.summary(cfg, "UTC", counts)
    # Several chunks, each its own row group of the output.
    assert pq.ParquetFile(tmp_path / "out.parquet").metadata.num_row_groups > 1


def test_a_source_of_one_chunk_is_written_byte_for_byte_as_whole(tmp_path):
    cfg = panel_cfg()
    path = write_source(tmp_path, holey_panel())
    whole(path, cfg, tmp_path)
    assert streamed(path, cfg, tmp_path, chunk_rows=1000) is not None
    for out, ref in (("out", "whole"), ("out_filled", "whole_filled")):
        assert (tmp_path / f"{out}.parquet").read_bytes() == (
            tmp_path / f"{ref}.parquet"
        ).read_bytes()


def test_chunks_are_cut_between_series_only():
    frame = pd.DataFrame({"id": list("aaabbbbbc"), "x": range(9)})
    assert ingest_chunks._last_run_start(frame, ["id"]) == 8
    assert ingest_chunks._last_run_start(frame.iloc[:8], ["id"]) == 3
    assert ingest_chunks._last_run_start(frame.iloc[3:8], ["id"]) == 0  # one series
    two = pd.DataFrame({"id": list("aabb"), "sub": list("xyyy")})
    assert ingest_chunks._last_run_start(two, ["id", "sub"]) == 2


@pytest.mark.parametrize("order", [["c", "a", "b"], ["a", "b", "a"]])
def test_series_not_in_label_order_write_nothing_and_fall_back(tmp_path, order):
    frame = holey_panel()
    runs = {name: frame[frame["region"] == name] for name in "abc"}
    if order == ["a", "b", "a"]:  # a's last two rows after b's: interleaved
        parts = [runs["a"].iloc[:-2], runs["b"], runs["a"].iloc[-2:]]
    else:
        parts = [runs[name] for name in order]
    frame = pd.concat(parts)
    cfg = panel_cfg()
    path = write_source(tmp_path, frame.reset_index(drop=True))
    assert streamed(path, cfg, tmp_path, chunk_rows=5) is None
    assert not (tmp_path / "out.parquet").exists()
    assert not (tmp_path / "out_filled.parquet").exists()
    assert not list(tmp_path.glob(".out*"))  # no temp file left either
    # One chunk holds every series: the chunk is sorted as the whole table.
    assert streamed(path, cfg, tmp_path, chunk_rows=1000) is not None


def test_a_bad_value_in_a_later_chunk_names_its_file_row(tmp_path):
    frame = holey_panel()
    row = int(np.flatnonzero(frame["region"] == "b")[3])
    frame.loc[row, "Demand"] = np.nan
    cfg = panel_cfg()
    path = write_source(tmp_path, frame)
    with pytest.raises(DataError) as whole_error:
        whole(path, cfg, tmp_path)
    with pytest.raises(DataError, match=f"{SOURCE} row {row}: column 'Demand'") as got:
        streamed(path, cfg, tmp_path, chunk_rows=5)
    assert str(got.value) == str(whole_error.value)
    assert not (tmp_path / "out.parquet").exists()


def test_a_long_gap_error_in_a_later_chunk_names_the_series(tmp_path):
    cfg = panel_cfg(long_gaps="error")
    path = write_source(tmp_path, holey_panel())
    with pytest.raises(DataError) as whole_error:
        whole(path, cfg, tmp_path)
    with pytest.raises(DataError, match="series 'b': gap of 4 missing step") as got:
        streamed(path, cfg, tmp_path, chunk_rows=5)
    assert str(got.value) == str(whole_error.value)


def test_a_source_without_rows_is_left_to_the_whole_table_path(tmp_path):
    path = write_source(tmp_path, holey_panel().iloc[:0])
    assert streamed(path, panel_cfg(), tmp_path, chunk_rows=5) is None
    assert not ingest_chunks.streamable(path.with_suffix(".csv"), panel_cfg())
    assert not ingest_chunks.streamable(path, panel_cfg(series=[]))


def test_stage_on_a_parquet_panel_writes_what_it_writes_for_the_csv(
    tmp_path_factory, raw_params
):
    frame = panel_frame(rows=30, shuffle=False)
    outputs = {}
    for kind in ("csv", "parquet"):
        project = make_project(
            tmp_path_factory.mktemp(kind), panel_params(copy.deepcopy(raw_params))
        )
        source = PANEL_CSV if kind == "csv" else SOURCE
        if kind == "csv":
            frame.to_csv(project / source, index=False)
        else:
            frame.to_parquet(project / source, index=False, row_group_size=25)
            params = (project / "params.yaml").read_text()
            (project / "params.yaml").write_text(params.replace(PANEL_CSV, SOURCE))
        proc = run_stage_cli("ingest", project)
        assert proc.returncode == 0, proc.stderr
        outputs[kind] = [
            (project / "data" / name).read_bytes()
            for name in ("ingested.parquet", "ingest_filled.parquet")
        ]
    assert outputs["parquet"] == outputs["csv"]


# `mtlstm check` (ingest_chunks.check) on a Parquet panel: streamed as the
# stage streams it, so its peak memory is a chunk's.


def check_project(tmp_path, frame: pd.DataFrame):
    """``frame`` as the project's data/raw/panel.parquet (and panel.csv)."""
    raw = tmp_path / "data" / "raw"
    raw.mkdir(parents=True)
    pq.write_table(pa.Table.from_pandas(frame), raw / "panel.parquet", row_group_size=7)
    frame.to_csv(raw / "panel.csv", index=False)
    return tmp_path


def test_check_reports_a_bad_value_in_a_later_chunk_as_the_stage_does(
    tmp_path, monkeypatch
):
    # Chunks of 2 rows: a, b and c are three chunks; Demand missing in b and c.
    monkeypatch.setattr(ingest_chunks, "CHUNK_ROWS", 2)
    frame = holey_panel()
    rows = [int(np.flatnonzero(frame["region"] == name)[1]) for name in "bc"]
    frame.loc[rows, "Demand"] = np.nan
    root = check_project(tmp_path, frame)
    cfg = panel_cfg()
    with pytest.raises(DataError) as stage_error:
        streamed(root / SOURCE, cfg, tmp_path, chunk_rows=2)
    problems, warnings = ingest_chunks.check(cfg, "UTC", root)
    assert problems == [str(stage_error.value)]
    assert warnings == []
    # b's chunk is the first with a bad value, and counts its own only (the
    # whole table would say "2 in all"): the check ran chunk by chunk.
    assert problems[0].startswith(
        f"{SOURCE} row {rows[0]}: column 'Demand' has a missing, NaN or infinite "
        "value (1 in all); fill or remove those rows"
    )


def test_check_of_a_clean_streamed_panel_warns_as_the_whole_read_does(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(ingest_chunks, "CHUNK_ROWS", 2)
    root = check_project(tmp_path, holey_panel())
    # Daily rows on a 12 h grid: every other step filled forward.
    cfg = panel_cfg(freq="12h", max_fill=3)
    whole_read = ingest_chunks.check(
        panel_cfg(freq="12h", max_fill=3, source="data/raw/panel.csv"), "UTC", root
    )
    assert ingest_chunks.check(cfg, "UTC", root) == whole_read
    assert whole_read == (
        [],
        [
            "22 of 46 grid steps (48%) at 12h were filled forward, more than 10%; "
            "is ingest.freq finer than the data's own step? Use the data's step "
            "(or coarser), or lower ingest.max_fill to make such holes an error"
        ],
    )
    assert ingest_chunks.check(panel_cfg(), "UTC", root) == ([], [])


def two_bad_columns(frame: pd.DataFrame, rows: list[int]) -> pd.DataFrame:
    """Demand missing at ``rows[0]`` and ``rows[2]``, state empty at ``rows[1]``."""
    frame = frame.copy()
    frame.loc[[rows[0], rows[2]], "Demand"] = np.nan
    frame.loc[rows[1], "state"] = None
    return frame


def whole_read_problems(rows: list[int]) -> list[str]:
    """What the whole read lists for ``two_bad_columns``: every bad column."""
    return [
        f"{SOURCE} row {rows[0]}: column 'Demand' has a missing, NaN or infinite "
        "value (2 in all); fill or remove those rows in the source, or set "
        "ingest.missing.Demand: ffill or interpolate to fill runs of at most "
        "ingest.max_fill steps",
        f"{SOURCE} row {rows[1]}: column 'state' is empty; every row needs a "
        "category (or set ingest.missing.state: ffill)",
    ]


def test_check_streams_a_sorted_panel_and_reads_an_unsorted_one_whole(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(ingest_chunks, "CHUNK_ROWS", 2)
    frame = holey_panel()
    sorted_root = check_project(tmp_path / "sorted", frame)
    # Series c before a: not in label order. The bad values are in b, after a,
    # so the streamed run stops (out of order) before it meets them.
    unsorted = pd.concat([frame[frame["region"] == name] for name in "cab"])
    unsorted = two_bad_columns(unsorted.reset_index(drop=True), [15, 16, 20])
    assert (unsorted.loc[14:, "region"] == "b").all()
    unsorted_root = check_project(tmp_path / "unsorted", unsorted)
    cfg = panel_cfg()
    read_table = ingest.read_table

    def no_whole_read(*args, **kwargs):
        raise AssertionError("read whole")

    monkeypatch.setattr(ingest, "read_table", no_whole_read)
    assert ingest_chunks.check(cfg, "UTC", sorted_root) == ([], [])
    with pytest.raises(AssertionError, match="read whole"):
        ingest_chunks.check(cfg, "UTC", unsorted_root)
    # Read whole, the unsorted panel's every bad column is listed, as before.
    monkeypatch.setattr(ingest, "read_table", read_table)
    assert ingest_chunks.check(cfg, "UTC", unsorted_root) == (
        whole_read_problems([15, 16]),
        [],
    )


def test_check_reads_a_file_of_one_chunk_whole_listing_every_bad_column(
    tmp_path, monkeypatch
):
    frame = two_bad_columns(holey_panel(), [15, 16, 20])
    root = check_project(tmp_path, frame)
    cfg = panel_cfg()
    monkeypatch.setattr(ingest_chunks, "CHUNK_ROWS", len(frame))
    # The stage's one chunk names the first bad column only...
    with pytest.raises(DataError, match=r"\(and 1 more column\(s\) with problems\)$"):
        streamed(root / SOURCE, cfg, tmp_path, chunk_rows=len(frame))
    # ...the check, at the same memory, lists both.
    assert ingest_chunks.check(cfg, "UTC", root) == (whole_read_problems([15, 16]), [])


def test_a_repeated_column_name_is_refused_before_any_chunk(tmp_path):
    table = pa.Table.from_pandas(holey_panel(), preserve_index=False)
    table = table.append_column("Demand", pa.array(np.zeros(len(table))))
    path = tmp_path / "panel.parquet"
    pq.write_table(table, path)
    with pytest.raises(
        DataError,
        match=rf"^{SOURCE}: column name 'Demand' appears 2 times in the schema "
        r"\(columns 3 and 7\); rename one of them in the file",
    ):
        streamed(path, panel_cfg(), tmp_path, chunk_rows=5)
    assert not (tmp_path / "out.parquet").exists()


def test_chunks_of_zone_less_dates_lie_on_local_days_as_the_whole_table(tmp_path):
    frame = holey_panel()
    frame["Time"] = frame["Time"].dt.tz_localize(None)  # dates without a zone
    cfg, zone = panel_cfg(), "America/New_York"
    path = write_source(tmp_path, frame)
    table, counts, _ = ingest.ingest_frame(
        ingest.read_table(path, cfg, label=cfg.source), cfg, zone
    )
    got = ingest_chunks.stream_series(
        path, cfg, zone, tmp_path / "out.parquet", tmp_path / "f.parquet", 5
    )
    assert got is not None
    out = pd.read_parquet(tmp_path / "out.parquet")
    pd.testing.assert_frame_equal(out, table, check_dtype=False)
    local = out["time"].dt.tz_convert(zone)
    assert (local.dt.hour == 0).all()
    assert local.iloc[0] == pd.Timestamp("2024-03-01", tz=zone)
    note = "none given, read as the local days they name in America/New_York"
    assert ingest.summary(cfg, zone, got)["source_timezone"] == note
    assert ingest.summary(cfg, zone, got) == ingest.summary(cfg, zone, counts)


def test_chunks_read_zone_less_times_one_way_for_the_whole_file(tmp_path):
    """Dates in one series, clock times in the others, on a grid of New York
    days: the whole-table read refuses it (a midnight read as UTC falls on the
    day before there). Decided per chunk, series a's chunk was read as local
    days and the others' as UTC, and the file was accepted, read two ways."""
    frame = holey_panel()
    frame["Time"] = frame["Time"].dt.tz_localize(None)
    frame.loc[frame["region"] != "a", "Time"] += pd.Timedelta(hours=12)
    cfg, zone = panel_cfg(), "America/New_York"
    path = write_source(tmp_path, frame)
    message = "row 0: column 'Time': Timestamp('2024-03-01 00:00:00') has no time zone"
    with pytest.raises(DataError, match=re.escape(message)):
        ingest.ingest_frame(ingest.read_table(path, cfg, label=cfg.source), cfg, zone)
    with pytest.raises(DataError, match=re.escape(message)):
        ingest_chunks.stream_series(
            path, cfg, zone, tmp_path / "out.parquet", tmp_path / "f.parquet", 5
        )
    assert not (tmp_path / "out.parquet").exists()


@pytest.mark.parametrize("statistics", [True, False])
def test_an_integer_column_with_a_null_reads_as_the_whole_table_in_every_chunk(
    tmp_path, statistics
):
    # An int64 categorical with one null, in the last series, in a file without
    # pandas metadata (as Spark or polars write it): read whole, every value
    # is float64 ("1.0"); a chunk without the null must not read "1".
    frame = holey_panel()
    frame["state"] = (np.arange(len(frame)) % 3 + 1).astype("float64")
    frame.loc[len(frame) - 2, "state"] = np.nan
    source = pa.Table.from_pandas(frame, preserve_index=False)
    source = source.set_column(
        source.schema.get_field_index("state"),
        "state",
        pa.array(frame["state"], type=pa.int64(), from_pandas=True),
    ).replace_schema_metadata(None)
    path = tmp_path / "panel.parquet"
    pq.write_table(source, path, row_group_size=7, write_statistics=statistics)
    cfg = panel_cfg(missing={"Temperature": "ffill", "state": "ffill"})
    whole(path, cfg, tmp_path)
    assert streamed(path, cfg, tmp_path, chunk_rows=5) is not None
    got = pd.read_parquet(tmp_path / "out.parquet")
    pd.testing.assert_frame_equal(got, pd.read_parquet(tmp_path / "whole.parquet"))
    assert set(got["state"]) == {"1.0", "2.0", "3.0"}


@pytest.mark.parametrize("content", [b"Time,region\n", b"PAR1" + b"\0" * 40])
def test_a_file_that_is_not_parquet_is_a_data_error_naming_it(
    tmp_path, monkeypatch, content
):
    # A CSV file renamed .parquet, or a copy cut short (no footer): pyarrow's
    # ArrowInvalid reached the user as "an internal error, a bug in mtlstm".
    monkeypatch.setattr(ingest_chunks, "CHUNK_ROWS", 2)
    root = check_project(tmp_path, holey_panel())
    (root / SOURCE).write_bytes(content)
    message = (
        rf"^{SOURCE}: cannot be read as Parquet \(.+\); replace it with the whole "
        r"Parquet file, or save the table as a \.csv file and read that$"
    )
    with pytest.raises(DataError, match=message):
        streamed(root / SOURCE, panel_cfg(), tmp_path, chunk_rows=2)
    assert not (tmp_path / "out.parquet").exists()
    problems, warnings = ingest_chunks.check(panel_cfg(), "UTC", root)
    assert len(problems) == 1 and warnings == []
    assert re.match(message, problems[0])


def test_a_missing_first_value_of_a_later_chunk_names_the_series_first_step(
    tmp_path,
):
    # b starts the second chunk, at the chunk's row 0: its first step is the
    # series', not the table's, as the whole table says.
    frame = holey_panel()
    frame.loc[int(np.flatnonzero(frame["region"] == "b")[0]), "Temperature"] = np.nan
    cfg = panel_cfg()
    path = write_source(tmp_path, frame)
    with pytest.raises(DataError) as whole_error:
        whole(path, cfg, tmp_path)
    message = (
        r"^series 'b': column 'Temperature' is missing at 2024-03-01 "
        r"00:00:00\+00:00, the first step of the series, so there is no earlier"
    )
    with pytest.raises(DataError, match=message) as got:
        streamed(path, cfg, tmp_path, chunk_rows=5)
    assert str(got.value) == str(whole_error.value)


def test_stage_on_a_parquet_panel_without_rows_says_only_that(tmp_path, raw_params):
    # The fallback note ("series are not each in one run ... sort the file")
    # preceded the error: sorting an empty file changes nothing.
    project = make_project(tmp_path, panel_params(copy.deepcopy(raw_params)))
    panel_frame(rows=30, shuffle=False).iloc[:0].to_parquet(project / SOURCE)
    params = (project / "params.yaml").read_text()
    (project / "params.yaml").write_text(params.replace(PANEL_CSV, SOURCE))
    proc = run_stage_cli("ingest", project)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == f"error: ingest: {SOURCE}: has a header but no data rows\n"
