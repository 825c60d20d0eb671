"""Peak RSS of every stage on a large synthetic series vs a materialized window array.

Target (issue): each stage's peak RSS <= 0.15 x the bytes of the float32
``rows x lookback x features`` array a naive pipeline would build
(5M x 48 x 16 x 4 B = 15.4 GB -> 2.3 GB). The real stage scripts run in a temp
copy of the project; train runs capped (benchmarks/train_steps.py).

The target is set at FULL_ROWS: below it, fixed start-up memory (TensorFlow
alone is several hundred MB) outweighs the windows, so a smaller run (--quick)
reports its peaks but no verdict ("not measured at this size").
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

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
    write_synthetic_parquet,
)

TARGET_FRACTION = 0.15
FULL_ROWS = 5_000_000  # the size the target is set at


def run_stages(project: Path, steps: int) -> dict[str, dict[str, Any]]:
    """Each stage in its own fresh process; wall time and peak RSS."""
    stages: dict[str, dict[str, Any]] = {}
    commands = {name: stage_cmd(name) for name in ("ingest", "window", "split")}
    commands["train"] = train_steps_cmd(steps, val_steps=10)
    for name, cmd in commands.items():
        log(f"memory: stage {name}")
        run = run_measured(cmd, project).check(name)
        stages[name] = {
            "wall_s": round(run.wall_s, 2),
            "peak_rss_gb": round(run.peak_rss_bytes / GB, 3),
            "sampled_tree_peak_gb": round(run.tree_peak_bytes / GB, 3),
        }
        if name == "train":
            stages[name]["detail"] = tail_json(run.stdout)
    return stages


def data_sizes(project: Path, rows: int, features: int) -> dict[str, float]:
    """Reference sizes that explain the peaks (GB)."""
    bundle = json.loads((project / "data/windows/preprocess.json").read_text())
    n_inputs = len(bundle["feature_names"])
    return {
        "source_table_f64_gb": rows * features * 8 / GB,
        "scaled_matrix_f32_gb": rows * n_inputs * 4 / GB,
        "model_input_features": n_inputs,
        "ingested_parquet_gb": (project / "data/ingested.parquet").stat().st_size / GB,
    }


def measure(rows: int, features: int, lookback: int, steps: int) -> dict[str, Any]:
    with temp_dir("memory") as project:
        make_project(project, synthetic_params(features, lookback, [32]))
        raw = project / "data/raw/big.parquet"
        log(f"memory: writing {rows} x {features} synthetic rows")
        write_s = timed(lambda: write_synthetic_parquet(raw, rows, features))
        stages = run_stages(project, steps)
        sizes = data_sizes(project, rows, features)
    materialized = rows * lookback * features * 4
    target = TARGET_FRACTION * materialized
    worst = max(stages, key=lambda s: stages[s]["peak_rss_gb"])
    judged = rows >= FULL_ROWS
    for stage in stages.values():
        stage["meets_target"] = stage["peak_rss_gb"] * GB <= target if judged else None
    return {
        "benchmark": "memory",
        "rows": rows,
        "features": features,
        "lookback": lookback,
        "train_steps": steps,
        "synthetic_write_s": round(write_s, 2),
        "materialized_windows_gb": round(materialized / GB, 3),
        "target_peak_rss_gb": round(target / GB, 3),
        "stages": stages,
        "worst_stage": worst,
        "worst_peak_over_target": round(stages[worst]["peak_rss_gb"] * GB / target, 3),
        "target_met": all(s["meets_target"] for s in stages.values())
        if judged
        else None,
        "verdict": verdict(judged, [s["meets_target"] for s in stages.values()]),
        **{k: round(v, 3) for k, v in sizes.items()},
        "notes": "peak_rss = kernel ru_maxrss of the stage process (GB = 1e9 B)",
    }


def verdict(judged: bool, met: list[bool | None]) -> str:
    """ "met" / "not met" at the full size; below it, no verdict."""
    if not judged:
        return f"{NOT_MEASURED} (the target is set at {FULL_ROWS:,} rows)"
    return "met" if all(met) else "not met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="500k rows")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--features", type=int, default=16)
    parser.add_argument("--lookback", type=int, default=48)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    rows = args.rows or (500_000 if args.quick else 5_000_000)
    emit("memory", measure(rows, args.features, args.lookback, args.steps))


if __name__ == "__main__":
    main()
