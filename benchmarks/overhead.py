"""Stage overhead on the built-in data (vic_elec) and the cost of a no-op repro.

Self-contained: its temp projects use the benchmarks' own settings
(common.BUILTIN_PARAMS), whatever the project's params.yaml points at.

* For ingest, window and split: wall time of ``python stages/<name>.py`` vs the
  same ``main()`` called in an already warm process (its real work); the gap is
  interpreter start + imports (target < 1.5 s). ``python -X importtime`` checks
  that none of them imports TensorFlow.
* ``dvc repro`` with nothing to do vs a bare ``dvc status`` in a fully reproduced
  temp copy (tiny training: 1 epoch, layers [8]); target no-op repro <= 1 s.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import statistics
from pathlib import Path
from typing import Any

from common import (
    PYTHON,
    builtin_params,
    emit,
    log,
    make_project,
    run_measured,
    stage_cmd,
    temp_dir,
    timed,
)

STAGES = ("ingest", "window", "split")
HEAVY = ("tensorflow", "keras", "dvclive")
OVERHEAD_TARGET_S, NOOP_TARGET_S = 1.5, 1.0


def spread(times: list[float]) -> dict[str, float]:
    return {
        "best_s": round(min(times), 3),
        "median_s": round(statistics.median(times), 3),
    }


def stage_walls(project: Path, repeats: int) -> dict[str, list[float]]:
    """Wall time of each stage script, stages run in order ``repeats`` times."""
    walls: dict[str, list[float]] = {name: [] for name in STAGES}
    for _ in range(repeats):
        for name in STAGES:
            walls[name].append(
                run_measured(stage_cmd(name), project).check(name).wall_s
            )
    walls["python -c pass"] = [
        run_measured([PYTHON, "-c", "pass"], project).wall_s for _ in range(repeats)
    ]
    return walls


def in_process(project: Path, repeats: int) -> dict[str, list[float]]:
    """Each stage's ``main()`` timed in this process after a first, cold call."""
    cwd = Path.cwd()
    os.chdir(project)
    try:
        times = {}
        for name in STAGES:
            spec = importlib.util.spec_from_file_location(
                f"stage_{name}", project / "stages" / f"{name}.py"
            )
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            with contextlib.redirect_stdout(io.StringIO()):
                module.main()  # cold call: lazy imports inside libraries
                times[name] = [timed(module.main) for _ in range(repeats)]
        return times
    finally:
        os.chdir(cwd)


def import_profile(project: Path, name: str) -> dict[str, Any]:
    """Top-level imports of a stage script (``-X importtime``), heaviest first."""
    run = run_measured([PYTHON, "-X", "importtime", f"stages/{name}.py"], project)
    rows = []
    for line in run.check(name).stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, module = line.split("|")
            if cumulative.strip().isdigit():
                rows.append((module, int(cumulative) / 1e6))
    modules = {m.strip() for m, _ in rows}
    top = sorted(
        ((m.strip(), s) for m, s in rows if not m[1:].startswith(" ")),
        key=lambda r: -r[1],
    )
    return {
        "heavy_imported": sorted(h for h in HEAVY if h in modules),
        "top_level_import_s": round(sum(s for _, s in top), 3),
        "heaviest": {m: round(s, 3) for m, s in top[:5]},
    }


def dvc(project: Path, *args: str) -> float:
    return run_measured(["dvc", *args], project).check(f"dvc {' '.join(args)}").wall_s


def dvc_noop(repeats: int) -> dict[str, Any]:
    """Full repro of a tiny-training copy, then no-op repro vs status, interleaved."""
    params = builtin_params()
    params["train"] |= {"epochs": 1, "layers": [8]}
    with temp_dir("dvc") as project:
        make_project(project, params)
        dvc(project, "init", "--no-scm", "-q")
        log("overhead: full dvc repro of the tiny project")
        full = dvc(project, "repro", "-q")
        noop = run_measured(["dvc", "repro"], project).check("dvc repro")
        ran = [ln for ln in noop.stdout.splitlines() if ln.startswith("Running stage")]
        repro, status = [], []
        for _ in range(repeats):
            repro.append(dvc(project, "repro"))
            status.append(dvc(project, "status"))
    return {
        "full_repro_s": round(full, 2),
        "noop_ran_stages": ran,
        "noop_repro": spread(repro),
        "status": spread(status),
        "ratio_noop_repro_vs_status": round(min(repro) / min(status), 3),
        "noop_repro_target_s": NOOP_TARGET_S,
        "noop_repro_meets_target": min(repro) <= NOOP_TARGET_S,
    }


def stage_overhead(repeats: int) -> dict[str, Any]:
    with temp_dir("stages") as project:
        make_project(project, builtin_params())
        log("overhead: stage scripts")
        walls = stage_walls(project, repeats)
        work = in_process(project, repeats)
        imports = {name: import_profile(project, name) for name in STAGES}
    out: dict[str, Any] = {"python_startup": spread(walls.pop("python -c pass"))}
    for name in STAGES:
        gap = min(walls[name]) - min(work[name])
        out[name] = {
            "script_wall": spread(walls[name]),
            "in_process_work": spread(work[name]),
            "overhead_s": round(gap, 3),
            "meets_target": gap < OVERHEAD_TARGET_S,
            "imports": imports[name],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 5")
    args = parser.parse_args()
    repeats = 3 if args.quick else 5
    stages = stage_overhead(repeats)
    noop = dvc_noop(repeats)
    emit(
        "overhead",
        {
            "benchmark": "overhead",
            "repeats": repeats,
            "overhead_target_s": OVERHEAD_TARGET_S,
            "stages": stages,
            "all_stage_overheads_meet_target": all(
                stages[n]["meets_target"] for n in STAGES
            ),
            "no_tensorflow_in_stages": not any(
                stages[n]["imports"]["heavy_imported"] for n in STAGES
            ),
            "dvc": noop,
            "notes": "best_s = min over repeats (other processes only slow runs down)",
        },
    )


if __name__ == "__main__":
    main()
