"""Scaling curve: time and peak RSS of window + split + one capped train epoch.

Per size, a synthetic source table (16 numeric columns, 1-minute steps) goes
through the real ingest (reported too), window and split stages of a temp
project, then the train stage's work for at most 200 steps
(benchmarks/train_steps.py). Fits ``cost = fixed + per_row x rows`` and the
log-log slope between sizes (1.0 = linear) for every stage's time and memory.
A growth verdict needs the full sizes (up to 5M rows): up to 1M (--quick) fixed
costs dominate the marginal costs, so quick runs say "not measured at this size".
"""

from __future__ import annotations

import argparse
import itertools
import math
from typing import Any

import numpy as np
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
    train_steps_cmd,
    write_synthetic_parquet,
)

SIZES = (10_000, 100_000, 1_000_000, 5_000_000)
QUICK_SIZES = (10_000, 100_000, 1_000_000)
FEATURES, LOOKBACK, LAYERS, STEPS = 16, 48, [32], 200
STAGES = ("ingest", "window", "split", "train")


def run_size(rows: int) -> dict[str, Any]:
    """One size: each stage in a fresh process; wall seconds and peak RSS."""
    out: dict[str, Any] = {"rows": rows}
    with temp_dir("scaling") as project:
        make_project(project, synthetic_params(FEATURES, LOOKBACK, LAYERS))
        write_synthetic_parquet(project / "data/raw/big.parquet", rows, FEATURES)
        cmds = {name: stage_cmd(name) for name in STAGES[:-1]}
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


def fit(rows: list[int], values: list[float], judged: bool = True) -> dict[str, Any]:
    """Least-squares ``fixed + per_row x rows``, log-log slopes and marginal
    per-row costs between consecutive sizes. Growth is called linear when the
    last two marginal costs agree within 2x (fixed start-up costs make log-log
    slopes < 1 at small sizes even for linear work)."""
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
        "growth": growth(values, marginal) if judged else NOT_MEASURED,
    }


def growth(values: list[float], marginal: list[float]) -> str:
    if values[-1] < 1.5 * values[0]:
        return "flat (fixed cost dominates)"
    if len(marginal) < 2 or marginal[-2] <= 0:
        return "unknown"
    change = marginal[-1] / marginal[-2]
    if change > 2:
        return f"superlinear (marginal cost x{change:.2f})"
    if change < 0.5:
        return f"sublinear (marginal cost x{change:.2f})"
    return f"linear (marginal cost x{change:.2f})"


COLUMNS = {
    "rows": "rows",
    "ingest s": "ingest_s",
    "ingest GB": "ingest_peak_gb",
    "window s": "window_s",
    "window GB": "window_peak_gb",
    "split s": "split_s",
    "split GB": "split_peak_gb",
    "train s": "train_s",
    "train GB": "train_peak_gb",
    "steps": "train_steps",  # capped at STEPS: train time is not per row
    "samples/s": "train_samples_per_s",
    "1st batch s": "train_first_batch_s",
}


def table(rows: list[dict[str, Any]]) -> str:
    lines = [" | ".join(f"{h:>11}" for h in COLUMNS)]
    lines += [" | ".join(f"{r[k]:>11}" for k in COLUMNS.values()) for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="up to 1M rows")
    args = parser.parse_args()
    results = [run_size(n) for n in (QUICK_SIZES if args.quick else SIZES)]
    log("scaling table:\n" + table(results))
    sizes = [r["rows"] for r in results]
    judged = max(sizes) >= SIZES[-1]  # the marginal costs of the largest sizes
    fits = {
        f"{name}_{kind}": fit(sizes, [r[f"{name}_{kind}"] for r in results], judged)
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
            "table": table(results).splitlines(),
            "sizes": results,
            "fits": fits,
        },
    )


if __name__ == "__main__":
    main()
