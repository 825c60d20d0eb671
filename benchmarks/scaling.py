"""Scaling curve: time and peak RSS of window + split + one capped train epoch.

Per size, a synthetic ingested table (16 numeric columns, 1-minute steps) is
written straight to data/ingested.parquet of a temp project; then the real
window and split stages run, and the train stage's work for at most 200 steps
(benchmarks/train_steps.py). Fits ``cost = fixed + per_row x rows`` and the
log-log slope between sizes (1.0 = linear) for every stage's time and memory.
"""

from __future__ import annotations

import argparse
import itertools
import math
from typing import Any

import numpy as np
from common import (
    GB,
    emit,
    log,
    make_project,
    run_measured,
    stage_cmd,
    synthetic_params,
    tail_json,
    temp_dir,
    train_steps_cmd,
    write_synthetic_parquet,
)

SIZES = (10_000, 100_000, 1_000_000, 5_000_000)
QUICK_SIZES = (10_000, 100_000, 1_000_000)
FEATURES, LOOKBACK, LAYERS, STEPS = 16, 48, [32], 200
STAGES = ("window", "split", "train")


def run_size(rows: int) -> dict[str, Any]:
    """One size: each stage in a fresh process; wall seconds and peak RSS."""
    out: dict[str, Any] = {"rows": rows}
    with temp_dir("scaling") as project:
        make_project(project, synthetic_params(FEATURES, LOOKBACK, LAYERS))
        table = project / "data" / "ingested.parquet"
        write_synthetic_parquet(table, rows, FEATURES, segment=True)
        cmds = {name: stage_cmd(name) for name in ("window", "split")}
        cmds["train"] = train_steps_cmd(STEPS, val_steps=10)
        for name, cmd in cmds.items():
            log(f"scaling: {rows} rows, {name}")
            run = run_measured(cmd, project).check(name)
            out[f"{name}_s"] = round(run.wall_s, 3)
            out[f"{name}_peak_gb"] = round(run.peak_rss_bytes / GB, 4)
            if name == "train":
                detail = tail_json(run.stdout)
    out["train_steps"] = detail["steps"]
    out["train_samples_per_s"] = round(detail["steady_samples_per_s"] or 0)
    out["train_first_batch_s"] = round(detail["pipeline_first_batch_s"], 3)
    out["window_rows_per_s"] = round(rows / out["window_s"])
    for name in STAGES:
        out[f"{name}_us_per_row"] = round(1e6 * out[f"{name}_s"] / rows, 3)
        out[f"{name}_bytes_per_row"] = round(out[f"{name}_peak_gb"] * GB / rows, 1)
    return out


def fit(rows: list[int], values: list[float]) -> dict[str, Any]:
    """Least-squares ``fixed + per_row x rows`` and log-log slopes between sizes."""
    per_row, fixed = np.polyfit(np.asarray(rows, float), np.asarray(values, float), 1)
    pairs = list(itertools.pairwise(zip(rows, values, strict=True)))
    slopes = [
        round(math.log(v2 / v1) / math.log(n2 / n1), 3)
        for (n1, v1), (n2, v2) in pairs
        if v1 > 0 and v2 > 0
    ]
    marginal = [(v2 - v1) / (n2 - n1) for (n1, v1), (n2, v2) in pairs]
    return {
        "fixed": round(float(fixed), 4),
        "per_row": float(f"{per_row:.4g}"),
        "loglog_slopes": slopes,
        "marginal_per_row": [float(f"{m:.4g}") for m in marginal],
        "linear_at_top": bool(slopes) and 0.8 <= slopes[-1] <= 1.2,
    }


def table(rows: list[dict[str, Any]]) -> str:
    cols = [
        "rows",
        "window_s",
        "window_peak_gb",
        "split_s",
        "split_peak_gb",
        "train_s",
        "train_peak_gb",
        "train_steps",
        "train_samples_per_s",
        "train_first_batch_s",
    ]
    lines = [" | ".join(f"{c:>12}" for c in cols)]
    lines += [" | ".join(f"{r[c]:>12}" for c in cols) for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="up to 1M rows")
    args = parser.parse_args()
    results = [run_size(n) for n in (QUICK_SIZES if args.quick else SIZES)]
    log("scaling table:\n" + table(results))
    sizes = [r["rows"] for r in results]
    fits = {
        f"{name}_{kind}": fit(sizes, [r[f"{name}_{kind}"] for r in results])
        for name in STAGES
        for kind in ("s", "peak_gb")
    }
    emit(
        "scaling",
        {
            "benchmark": "scaling",
            "features": FEATURES,
            "lookback": LOOKBACK,
            "train_step_cap": STEPS,
            "sizes": results,
            "fits": fits,
        },
    )


if __name__ == "__main__":
    main()
