"""Ingest of many series a chunk of whole series at a time (mtlstm.ingest_chunks).

The oracle is the whole-table path (``ingest.ingest_frame`` on the table read
whole) on hand-built three-series panels with holes: chunks so small that a
series spans two source row groups and two record batches must give its
content and summary.
"""

from __future__ import annotations

import copy

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
