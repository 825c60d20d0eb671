"""Training noise of a project that is not a git repository (the examples'
work folders): the pipeline once more per seed, each in a copy of the project,
then ``mtlstm compare --spread`` over the project and the copies.

``make seeds`` does this for the default project with ``dvc exp run``; an
example's work folder is a DVC project without git (``dvc init --no-scm``),
where experiments do not exist. So each seed gets a copy of the project
(``<project>-seeds/seed-N``: code, params, data and outputs, not the DVC cache)
whose ``base.seed`` is N. The copies share the project's DVC cache, run cache
included, so ``dvc repro`` in a copy reruns only the stages that read
``base.seed`` and restores or skips the rest. Run after the project's own
``dvc repro`` (``make example-seeds EXAMPLE=warsaw_air`` runs both):

    python scripts/seed_runs.py examples/warsaw_air/work --seeds 1,2,3

Prints one line per seed and then the spread tables. For reporting once the
settings are chosen (on the validation split), never for choosing them: the
tables are test-split scores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from mtlstm import compare
from mtlstm.config import MAX_SEED, load_params
from mtlstm.errors import MtlstmError, quote

DEFAULT_SEEDS = "1,2,3"
# Never copied: git, and DVC's cache and temp folders (each copy gets its own
# temp folder and points at the project's cache).
DVC_STATE = {"cache", "tmp"}


def parse_seeds(text: str) -> list[int]:
    """``"1,2,3"`` -> [1, 2, 3]; each an integer seed, none twice."""
    seeds = []
    for part in text.split(","):
        try:
            seed = int(part.strip())
        except ValueError:
            raise MtlstmError(
                f"--seeds: {quote(part.strip())} is not an integer; give a comma list "
                "such as 1,2,3"
            ) from None
        if not 0 <= seed <= MAX_SEED:
            raise MtlstmError(f"--seeds: {seed} is outside [0, {MAX_SEED}]")
        if seed in seeds:
            raise MtlstmError(f"--seeds: {seed} is named twice")
        seeds.append(seed)
    return seeds


def dvc(project: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """``dvc ARGS`` in ``project``; its output, or an error naming the project."""
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise MtlstmError(
            f"`dvc {' '.join(args)}` failed in {project}:\n"
            f"{(proc.stdout + proc.stderr).strip()}"
        )
    return proc.stdout


def stage_env(project: Path) -> dict[str, str]:
    """The environment a project's stages run in: its own copy of the code
    first on the import path (as examples/run_project.sh sets it)."""
    env = dict(os.environ)
    if (project / "src").is_dir():
        env["PYTHONPATH"] = str(project / "src")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def check_project(project: Path) -> int:
    """The project's own seed, once it is a pipeline that has run and is up to
    date (a spread over runs of different settings would mean nothing)."""
    for name in ("dvc.yaml", "params.yaml", str(compare.SCORES)):
        if not (project / name).is_file():
            raise MtlstmError(
                f"{project / name} not found: {project} must be a project whose "
                "pipeline has run (an example's work folder: run examples/<name>/"
                "run.sh first)"
            )
    due = json.loads(dvc(project, "status", "--json", env=stage_env(project)) or "{}")
    if due:
        raise MtlstmError(
            f"{project} is not up to date ({', '.join(sorted(due))} changed): run "
            "`dvc repro` there first"
        )
    return load_params(project / "params.yaml").base.seed


def cache_dir(project: Path) -> Path:
    """The project's DVC cache folder, absolute (its copies point at it)."""
    return Path(project, dvc(project, "cache", "dir").strip()).resolve()


def copy_project(project: Path, dest: Path, seed: int, cache: Path) -> None:
    """``project`` copied to ``dest`` (replacing it) with ``base.seed: seed``,
    using the DVC cache ``cache`` and no git."""

    def skipped(folder: str, names: list[str]) -> set[str]:
        inside_dvc = Path(folder).name == ".dvc"
        return {n for n in names if n == ".git" or (inside_dvc and n in DVC_STATE)}

    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(project, dest, symlinks=True, ignore=skipped)
    path = dest / "params.yaml"
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    params["base"] = {**(params.get("base") or {}), "seed": seed}
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    dvc(dest, "config", "--local", "core.no_scm", "true")
    dvc(dest, "cache", "dir", "--local", str(cache))


def run_seed(project: Path, dest: Path, seed: int, cache: Path) -> list[str]:
    """One seed's copy brought up to date; the stages whose command ran. A
    copy that fails or is interrupted is removed: it still holds the
    project's own scores, which must never be read as this seed's."""
    done = False
    try:
        copy_project(project, dest, seed, cache)
        out = dvc(dest, "repro", env=stage_env(dest))
        done = True
    finally:
        if not done:
            shutil.rmtree(dest, ignore_errors=True)
    return [
        line.split("'")[1]
        for line in out.splitlines()
        if line.startswith("Running stage")
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("project", type=Path, help="the project folder")
    parser.add_argument(
        "--seeds", default=DEFAULT_SEEDS, help=f"comma list (default {DEFAULT_SEEDS})"
    )
    parser.add_argument(
        "--out", type=Path, help="where the copies go (default <project>-seeds)"
    )
    args = parser.parse_args(argv)
    try:
        seeds = parse_seeds(args.seeds)
        project = args.project.resolve()
        own = check_project(project)
        if own in seeds:
            raise MtlstmError(f"--seeds: {own} is the project's own base.seed")
        out = (args.out or project.with_name(project.name + "-seeds")).resolve()
        if out.is_relative_to(project):
            raise MtlstmError(f"--out: {out} is inside the project; put it beside it")
        cache = cache_dir(project)
        runs = {f"seed {own}": compare.read_scores(project / compare.SCORES)}
        for seed in seeds:
            dest = out / f"seed-{seed}"
            start = time.monotonic()
            ran = run_seed(project, dest, seed, cache)
            print(
                f"seed {seed}: {dest} ({time.monotonic() - start:.0f} s; ran: "
                f"{', '.join(ran) or 'nothing, all from the run cache'})",
                flush=True,
            )
            runs[f"seed {seed}"] = compare.read_scores(dest / compare.SCORES)
    except MtlstmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print()
    sys.stdout.write(compare.render_spread(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
