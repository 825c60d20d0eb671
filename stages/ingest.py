"""Stage ingest: source table -> data/ingested.parquet on a regular grid.

Also writes data/ingest_summary.json (rows read, filled, dropped, and
``source_timezone``: whether the timestamps carried a zone; those without one
are read as UTC, which the summary line then says), data/ingest_schema.json
(how the table was read, for ``mtlstm predict``) and data/ingest_filled.parquet
(per column, which rows hold a filled value: window counts the filled targets
that would be scored). Warns when forward-filling made more than
ingest.FILL_WARN_SHARE of the grid (a freq finer than the data).

Many series (ingest.series) in a Parquet file whose rows run series by series
in label order (as a file sorted by series is) are ingested a chunk of whole
series at a time (mtlstm.ingest_chunks), at a peak memory of a chunk's, with
the same output; any other source is read whole.
"""

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from mtlstm import ingest, ingest_chunks
from mtlstm.config import load_params
from mtlstm.errors import run_stage
from mtlstm.io import write_json, write_parquet

OUT_TABLE = Path("data/ingested.parquet")
OUT_SUMMARY = Path("data/ingest_summary.json")
OUT_SCHEMA = Path("data/ingest_schema.json")
OUT_FILLED = Path("data/ingest_filled.parquet")


def main() -> None:
    params = load_params()
    cfg, timezone = params.ingest, params.features.timezone
    path = ingest.resolve_source(cfg.source, Path.cwd())
    counts = None
    if ingest_chunks.streamable(path, cfg):
        # Many series in Parquet: a chunk of whole series at a time.
        counts = ingest_chunks.stream_series(path, cfg, timezone, OUT_TABLE, OUT_FILLED)
        # A file without rows is no order problem: the whole read says what is.
        if counts is None and pq.read_metadata(path).num_rows:
            print(
                "ingest: the source's series are not each in one run of rows in "
                "label order; reading it whole (sort the file by the ingest.series "
                "columns for a run in chunks of series, at a fraction of the memory)"
            )
    if counts is None:
        # No reference to the source stays here: ingest_frame frees it early.
        table, counts, filled = ingest.ingest_frame(
            ingest.read_table(path, cfg, label=cfg.source), cfg, timezone
        )
        write_parquet(OUT_TABLE, table)
        del table
        write_parquet(OUT_FILLED, pd.DataFrame(filled))
    summary = ingest.summary(cfg, timezone, counts)
    gaps, rows_out = counts["gaps"], summary["rows_out"]
    write_json(OUT_SUMMARY, summary)
    write_json(OUT_SCHEMA, ingest.schema(cfg))
    utc_note = "; timestamps without a time zone read as UTC"
    print(
        f"ingest: {summary['rows_read']} rows from {cfg.source} -> {rows_out} rows "
        f"at {cfg.freq} ({gaps['filled_steps']} filled, "
        f"{gaps['dropped_gap_steps']} in long gaps)"
        f"{utc_note if 'read as UTC' in summary['source_timezone'] else ''}"
    )
    inside = {c: n["filled_in_rows"] for c, n in gaps["missing_values"].items()}
    if any(inside.values()):
        print(
            "ingest: filled values missing inside rows (ingest.missing): "
            + ", ".join(f"{c} {n}" for c, n in inside.items() if n)
        )
    warning = ingest.fill_warning(gaps, rows_out, cfg.freq)
    if warning:
        print(f"ingest: warning: {warning}")


if __name__ == "__main__":
    run_stage("ingest", main)
