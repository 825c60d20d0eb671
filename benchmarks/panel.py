"""Many series at M5 scale: time and peak RSS per stage on a synthetic panel.

The M5 competition's shape: 30,490 series x 1,941 daily steps = 59.2 million
rows, 8 numeric columns plus 2 categorical ones (static per series, like M5's
state and category, 3 values each, one-hot inputs), lookback 28, a regression
task and a classification task, every series on its own grid and scaled per
series. Every stage before
``train`` runs for real (``python stages/<name>.py`` in a temp project), then
one capped epoch of ``train`` (benchmarks/train_steps.py: the stage's loading,
model and lazy datasets, stopped after ``--steps`` batches).

Target (issue 10): every stage's peak RSS at most 6 GB on the 2-core, 24 GB
machine, where the materialized float32 windows would need about 53 GB. Set
at the full size; ``--quick`` (300 series) reports its figures but no verdict.
Time per row (microseconds) is reported per stage.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from common import (
    GB,
    NOT_MEASURED,
    emit,
    log,
    make_project,
    run_measured,
    stage_cmd,
    synthetic_params,
    tail_json,
    temp_dir,
    timed,
    train_steps_cmd,
)

FULL_SERIES, DAYS = 30_490, 1_941
NUMERIC, LOOKBACK = 8, 28
STATES, CATEGORIES = 3, 3
TARGET_PEAK_GB = 6.0
# Time target: per row (ingest, window, split) or per step (train: a fixed
# number of steps), at most this many times the ~1M-row reference run's.
TARGET_TIME_RATIO = 2.0
REFERENCE_SERIES = 515  # x 1,941 days = 1.0M rows
CHUNK_SERIES = 500  # series per written row group (about 1M rows)
STAGES = ("ingest", "window", "split", "train")


def panel_params(layers: list[int]) -> dict[str, Any]:
    """The synthetic params, made a panel: one id column, two static categorical
    columns, a daily grid, per-series scaling."""
    params = synthetic_params(NUMERIC, LOOKBACK, layers, freq="1D")
    ingest = params["ingest"]
    ingest["columns"] |= {"state": "categorical", "category": "categorical"}
    ingest["series"] = ["item_id"]
    params["features"]["columns"] += ["state", "category"]
    params["window"]["scaling"] = "per_series"
    return params


def write_panel(path: Path, n_series: int, days: int) -> int:
    """Write the panel sorted by series then day, ``CHUNK_SERIES`` at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    start = np.datetime64("2011-01-29", "D").astype("datetime64[ns]")
    stamps = start + np.arange(days).astype("timedelta64[D]")
    writer = None
    for first in range(0, n_series, CHUNK_SERIES):
        ids = np.arange(first, min(first + CHUNK_SERIES, n_series))
        table = pa.table(panel_block(ids, stamps))
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()
    return path.stat().st_size


def panel_block(ids: np.ndarray, stamps: np.ndarray) -> dict[str, pa.Array]:
    """Columns for the series ``ids``: weekly and yearly cycles around a
    per-series level, plus noise (seeded by the first id: reruns are identical)."""
    rng = np.random.default_rng(int(ids[0]))
    n, days = ids.size, stamps.size
    t = np.arange(days, dtype=np.float64)[None, :]
    level = rng.gamma(2.0, 2.0, size=(n, 1))
    cols = {}
    for i in range(NUMERIC):
        period = 7.0 if i % 2 == 0 else 365.25
        wave = np.sin(2 * np.pi * (t + 3 * i) / period)
        noise = 0.3 * rng.standard_normal((n, days))
        cols[f"x{i:02d}"] = (level * (1.0 + 0.3 * wave) + noise).ravel()
    return {
        "item_id": pa.array(np.repeat([f"item_{i:05d}" for i in ids], days)),
        "timestamp": pa.array(np.tile(stamps, n), pa.timestamp("ns", tz="UTC")),
        "state": pa.array(np.repeat([f"state_{i % STATES}" for i in ids], days)),
        "category": pa.array(
            np.repeat([f"cat_{i // STATES % CATEGORIES}" for i in ids], days)
        ),
        **{name: pa.array(values) for name, values in cols.items()},
    }


def write_ingested(
    project: Path, params: dict[str, Any], n_series: int, days: int
) -> int:
    """Write what the ingest stage would leave (data/ingested.parquet,
    ingest_filled.parquet with nothing filled, ingest_schema.json) directly,
    ``CHUNK_SERIES`` at a time: the later stages can then be measured at sizes
    whose ingest would not fit in memory. The panel is already on its daily
    grid without holes, so ingest would write these same values."""
    from mtlstm.config import Ingest, parse
    from mtlstm.ingest import schema
    from mtlstm.io import write_json

    data = project / "data"
    cfg = parse(Ingest, params["ingest"], "ingest")
    write_json(data / "ingest_schema.json", schema(cfg))
    start = np.datetime64("2011-01-29", "D").astype("datetime64[ns]")
    stamps = start + np.arange(days).astype("timedelta64[D]")
    columns = list(cfg.columns)

    def text(values: pa.Array) -> pa.Array:
        # Ingest writes pandas' str columns as large_string.
        is_text = pa.types.is_string(values.type)
        return values.cast(pa.large_string()) if is_text else values

    writers: list[pq.ParquetWriter] = []
    for first in range(0, n_series, CHUNK_SERIES):
        ids = np.arange(first, min(first + CHUNK_SERIES, n_series))
        block = panel_block(ids, stamps)
        table = pa.table(
            {
                "time": block["timestamp"],
                "series": block["item_id"].cast(pa.large_string()),
                **{c: text(block[c]) for c in columns},
                # One segment per series: no gap anywhere.
                "segment": pa.array(np.repeat(ids.astype(np.int32), days)),
            }
        )
        filled = pa.table({c: np.zeros(len(table), bool) for c in columns})
        if not writers:
            writers = [
                pq.ParquetWriter(data / "ingested.parquet", table.schema),
                pq.ParquetWriter(data / "ingest_filled.parquet", filled.schema),
            ]
        writers[0].write_table(table)
        writers[1].write_table(filled)
    for writer in writers:
        writer.close()
    return (data / "ingested.parquet").stat().st_size


def measure(
    n_series: int,
    days: int,
    steps: int,
    stages_run: tuple[str, ...] = STAGES,
    ingested: bool = False,
) -> dict[str, Any]:
    rows = n_series * days
    with temp_dir("panel") as project:
        params = panel_params([32])
        # The classification bins sit around the per-series level's spread.
        params["tasks"]["regime"]["bins"] = [2.0, 6.0]
        make_project(project, params)
        log(f"panel: writing {n_series} series x {days} days = {rows:,} rows")
        if ingested:
            write_s = timed(lambda: write_ingested(project, params, n_series, days))
        else:
            raw = project / "data/raw/big.parquet"
            write_s = timed(lambda: write_panel(raw, n_series, days))
        stages = run_stages(project, steps, rows, stages_run)
        windowed = (project / "data/windows/preprocess.json").exists()
        n_inputs = len(_bundle(project)["feature_names"]) if windowed else None
    materialized = rows * LOOKBACK * n_inputs * 4 if n_inputs else None
    is_judged = judged(n_series, days, stages_run, ingested)
    for stage in stages.values():
        met = stage["peak_rss_gb"] <= TARGET_PEAK_GB
        stage["meets_target"] = met if is_judged else None
    if is_judged:  # the same stages on ~1M rows, for the time-per-row target
        reference = measure(REFERENCE_SERIES, days, steps)["stages"]
        add_time_ratios(stages, reference)
    return {
        "benchmark": "panel",
        "series": n_series,
        "days": days,
        "rows": rows,
        "lookback": LOOKBACK,
        "model_input_features": n_inputs,
        "train_steps": steps,
        "synthetic_write_s": round(write_s, 2),
        "synthetic_written": "data/ingested.parquet" if ingested else "raw panel",
        "materialized_windows_gb": round(materialized / GB, 2)
        if materialized
        else None,
        "target_peak_rss_gb": TARGET_PEAK_GB,
        "target_time_ratio_vs_1m_rows": TARGET_TIME_RATIO,
        "stages": stages,
        "target_met": all(s["meets_target"] for s in stages.values())
        if is_judged
        else None,
        "verdict": verdict(is_judged, stages),
        "notes": "peak_rss = kernel ru_maxrss of the stage process (GB = 1e9 B)",
    }


def judged(
    n_series: int, days: int, stages_run: tuple[str, ...], ingested: bool
) -> bool:
    """Whether a run gets a verdict: every stage, from the raw panel on, at the
    full size in both series and days (the absolute 6 GB target is met more
    easily by a full count of series over fewer days)."""
    full = n_series >= FULL_SERIES and days >= DAYS
    return full and stages_run == STAGES and not ingested


def add_time_ratios(
    stages: dict[str, dict[str, Any]], reference: dict[str, dict[str, Any]]
) -> None:
    """Each stage's time per row (train: per step, its steps are fixed) over
    the reference run's; a stage over ``TARGET_TIME_RATIO`` misses the target."""
    for name, stage in stages.items():
        key = "wall_s" if name == "train" else "us_per_row"
        ratio = stage[key] / reference[name][key]
        stage["reference_1m_rows"] = {key: reference[name][key]}
        stage["time_ratio_vs_1m_rows"] = round(ratio, 2)
        stage["meets_target"] = stage["meets_target"] and ratio <= TARGET_TIME_RATIO


def verdict(judged: bool, stages: dict[str, dict[str, Any]]) -> str:
    """ "met" / "not met" at the full size; below it, no verdict."""
    if not judged:
        size = f"{FULL_SERIES:,} series x {DAYS:,} days"
        return f"{NOT_MEASURED} (the target is set at {size})"
    return "met" if all(s["meets_target"] for s in stages.values()) else "not met"


def run_stages(
    project: Path, steps: int, rows: int, names: tuple[str, ...] = STAGES
) -> dict[str, dict[str, Any]]:
    """Each stage in its own fresh process: wall time, peak RSS, time per row."""
    stages: dict[str, dict[str, Any]] = {}
    commands = {name: stage_cmd(name) for name in ("ingest", "window", "split")}
    commands["train"] = train_steps_cmd(steps, val_steps=10)
    for name, cmd in commands.items():
        if name not in names:
            continue
        log(f"panel: stage {name}")
        run = run_measured(cmd, project).check(name)
        stages[name] = {
            "wall_s": round(run.wall_s, 2),
            "us_per_row": round(run.wall_s / rows * 1e6, 3),
            "peak_rss_gb": round(run.peak_rss_bytes / GB, 3),
            "sampled_tree_peak_gb": round(run.tree_peak_bytes / GB, 3),
        }
        if name == "train":
            stages[name]["detail"] = tail_json(run.stdout)
    return stages


def _bundle(project: Path) -> dict[str, Any]:
    import json

    return json.loads((project / "data/windows/preprocess.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="300 series")
    parser.add_argument("--series", type=int, default=None)
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument("--steps", type=int, default=200, help="train batches")
    parser.add_argument(
        "--stages",
        default=",".join(STAGES),
        help="comma-separated stages to run (default: all); without ingest, "
        "give --ingested",
    )
    parser.add_argument(
        "--ingested",
        action="store_true",
        help="write data/ingested.parquet directly (as ingest would) instead "
        "of the raw panel; for sizes whose ingest does not fit in memory",
    )
    args = parser.parse_args()
    n_series = args.series or (300 if args.quick else FULL_SERIES)
    names = args.stages.split(",")
    unknown = sorted(set(names) - set(STAGES))
    if unknown:
        parser.error(f"--stages: no stage {', '.join(unknown)} ({', '.join(STAGES)})")
    if ("ingest" in names) == args.ingested:
        parser.error("give --ingested exactly when --stages leaves out ingest")
    stages = tuple(s for s in STAGES if s in names)
    emit("panel", measure(n_series, args.days, args.steps, stages, args.ingested))


if __name__ == "__main__":
    main()
