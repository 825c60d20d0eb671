"""Stage ingest: source table -> data/ingested.parquet on a regular grid.

Also writes data/ingest_summary.json (rows read, filled, dropped, and
``source_timezone``: whether the timestamps carried a zone; those without one
are read as UTC, which the summary line then says), data/ingest_schema.json
(how the table was read, for ``mtlstm predict``) and data/ingest_filled.parquet
(per column, which rows hold a filled value: window counts the filled targets
that would be scored). Warns when forward-filling made more than
ingest.FILL_WARN_SHARE of the grid (a freq finer than the data).
"""

from pathlib import Path

import pandas as pd

from mtlstm import grid, ingest
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
    src = ingest.read_table(path, cfg, label=cfg.source)
    source_zone = ingest.source_timezone(src, cfg.time_column)
    typed, moved = ingest.order_rows(
        ingest.coerce(src, cfg), src, cfg.sort, cfg.duplicates
    )
    del src  # each intermediate table goes as soon as the next one exists
    rows_read, duplicates = len(typed), ingest.count_duplicates(typed)
    gridded = ingest.to_grid(typed, cfg, timezone)
    del typed
    table, gaps, filled = ingest.fill_gaps_marked(gridded, cfg)
    del gridded
    table = ingest.restore_kinds(table, cfg)
    write_parquet(OUT_TABLE, table)
    summary = {
        "source": cfg.source,
        "source_version": ingest.source_version(cfg.source),
        "rows_read": rows_read,
        "rows_reordered": moved,
        "duplicate_rows": duplicates,
        "source_timezone": source_zone,
        "freq": cfg.freq,
        # Steps of a day or longer are local calendar days in features.timezone.
        "grid_timezone": grid.zone(cfg.freq, timezone),
        "rows_out": len(table),
        "first": str(table["time"].iloc[0]),
        "last": str(table["time"].iloc[-1]),
        **gaps,
    }
    if cfg.series:  # rows run by series: the first and last time of any
        summary["first"] = str(table["time"].min())
        summary["last"] = str(table["time"].max())
        summary["series"] = int(table["series"].nunique())
    write_json(OUT_SUMMARY, summary)
    write_json(OUT_SCHEMA, ingest.schema(cfg))
    write_parquet(OUT_FILLED, pd.DataFrame(filled))
    utc_note = "; timestamps without a time zone read as UTC"
    print(
        f"ingest: {summary['rows_read']} rows from {cfg.source} -> {len(table)} rows "
        f"at {cfg.freq} ({gaps['filled_steps']} filled, "
        f"{gaps['dropped_gap_steps']} in long gaps)"
        f"{utc_note if 'read as UTC' in source_zone else ''}"
    )
    inside = {c: n["filled_in_rows"] for c, n in gaps["missing_values"].items()}
    if any(inside.values()):
        print(
            "ingest: filled values missing inside rows (ingest.missing): "
            + ", ".join(f"{c} {n}" for c, n in inside.items() if n)
        )
    warning = ingest.fill_warning(gaps, len(table), cfg.freq)
    if warning:
        print(f"ingest: warning: {warning}")


if __name__ == "__main__":
    run_stage("ingest", main)
