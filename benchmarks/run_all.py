"""Run every benchmark in its own process (what `make bench` calls).

Each script prints one JSON line and writes benchmarks/results/<name>.json; this
runner collects them into benchmarks/results/all.json, prints that as one JSON
line, and prints a short verdict per target to stderr. It exits non-zero only if
a script fails, not when a target is missed. With --quick (`make bench
QUICK=1`), targets defined at full size (memory, scaling) read "not measured at
this size" rather than a verdict the small sizes would make up. Every benchmark
builds its own temp project and data; the project's params.yaml is never read.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import NOT_MEASURED, PYTHON, child_env, emit, log, tail_json

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("overhead", "throughput", "scaling", "memory", "panel")


def run(name: str, quick: bool) -> dict[str, Any]:
    cmd = [PYTHON, str(HERE / f"{name}.py"), *(["--quick"] if quick else [])]
    log(f"run_all: {' '.join(cmd[1:])}")
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=child_env())
    if proc.returncode != 0:
        return {
            "error": f"exit code {proc.returncode}",
            "seconds": time.perf_counter() - start,
        }
    return tail_json(proc.stdout) | {"seconds": round(time.perf_counter() - start, 1)}


def verdicts(results: dict[str, dict[str, Any]]) -> list[str]:
    """One line per target, from whatever results are present."""
    lines = []
    if "ratio_ours_vs_materialized" in results.get("throughput", {}):
        r = results["throughput"]
        lines.append(
            f"throughput: ours/materialized = {r['ratio_ours_vs_materialized']}x "
            f"(goal >= 1.3, at least 1.0); {r['samples_per_s']} samples/s"
        )
    if "stages" in results.get("memory", {}):
        r = results["memory"]
        peaks = {k: v["peak_rss_gb"] for k, v in r["stages"].items()}
        lines.append(
            f"memory: peak RSS GB {peaks} vs target {r['target_peak_rss_gb']} "
            f"({r['rows']} rows) -> {r['verdict']}"
        )
    if "stages" in results.get("panel", {}):
        r = results["panel"]
        peaks = {k: v["peak_rss_gb"] for k, v in r["stages"].items()}
        lines.append(
            f"panel: {r['series']:,} series x {r['days']} days, peak RSS GB {peaks} "
            f"vs target {r['target_peak_rss_gb']} -> {r['verdict']}"
        )
    if "dvc" in results.get("overhead", {}):
        r = results["overhead"]
        gaps = {n: r["stages"][n]["overhead_s"] for n in ("ingest", "window", "split")}
        lines.append(
            f"overhead: stage overhead s {gaps} (< 1.5: "
            f"{r['all_stage_overheads_meet_target']}), no TF in stages: "
            f"{r['no_tensorflow_in_stages']}"
        )
        d = r["dvc"]
        lines.append(
            f"dvc: no-op repro {d['noop_repro']['best_s']} s vs status "
            f"{d['status']['best_s']} s (<= 1 s: {d['noop_repro_meets_target']})"
        )
    if "fits" in results.get("scaling", {}):
        fits = results["scaling"]["fits"]
        shapes = {k: v["growth"] for k, v in fits.items()}
        largest = max(s["rows"] for s in results["scaling"]["sizes"])
        if set(shapes.values()) == {NOT_MEASURED}:
            lines.append(
                f"scaling: growth {NOT_MEASURED} (largest {largest:,} rows; the "
                "verdict needs the full sizes, up to 5,000,000)"
            )
        else:
            lines.append(f"scaling: growth between the largest sizes: {shapes}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument(
        "--only",
        nargs="+",
        default=None,
        help=f"benchmarks to run, space or comma separated: {', '.join(BENCHMARKS)}",
    )
    args = parser.parse_args()
    if args.only is None:
        args.only = list(BENCHMARKS)
    only = [name for arg in args.only for name in arg.split(",") if name]
    unknown = sorted(set(only) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {BENCHMARKS}")
    results = {name: run(name, args.quick) for name in only}
    for line in verdicts(results):
        log(line)
    emit("all", {"quick": args.quick, **results})
    if any("error" in r for r in results.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
