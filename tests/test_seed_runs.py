"""scripts/seed_runs.py: training noise for a project without git (an
example's work folder), with real DVC on a copy of test_pipeline.py's first
run: one more seed in a copy sharing the project's cache, only the stages that
read ``base.seed`` rerun, and the spread table over both runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from test_pipeline import TIMEOUT, Project, first_run_copy

sys.path.insert(0, str(ROOT / "scripts"))
import seed_runs

from mtlstm.compare import SCORES
from mtlstm.errors import MtlstmError

SCRIPT = ROOT / "scripts" / "seed_runs.py"


def stages_reading_the_seed() -> set[str]:
    """The stages of dvc.yaml that declare ``base`` as a param (a foreach
    stage by its base name): the ones a seed change must rerun."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    return {
        name
        for name, stage in stages.items()
        if "base" in stage.get("do", stage).get("params", [])
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    """A copy of the first run, without git: as an example's work folder is."""
    root = tmp_path_factory.mktemp("seeds") / "work"
    scratch = tmp_path_factory.mktemp("dvc-scratch")
    project, _, _ = first_run_copy(tmp_path_factory, root, scratch)
    shutil.rmtree(root / ".git")
    project.dvc("config", "--local", "core.no_scm", "true")
    # The single-task models are not what this file is about: skipped, their
    # stages run in seconds without TensorFlow (in the project and each copy).
    project.set_params(lambda p: p["ablation"].update(enabled=False))
    project.dvc("repro")
    assert project.status() == {}
    return project


def run_script(project: Project, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(project.root), *args],
        cwd=project.root.parent,
        env=project.env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_one_more_seed_reruns_only_what_reads_it(project):
    before = {
        path: (project.root / path).read_bytes()
        for path in ("dvc.lock", "params.yaml", str(SCORES))
    }
    proc = run_script(project, "--seeds", "7")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    copy = project.root.with_name("work-seeds") / "seed-7"
    # Only the stages that read base.seed ran; ingest, window and split were
    # up to date in the copy (its dvc.lock is the project's).
    line = re.search(r"^seed 7: (\S+) \(\d+ s; ran: (.*)\)$", proc.stdout, re.M)
    assert line, proc.stdout
    assert Path(line[1]) == copy.resolve()
    ran = {stage.split("@")[0] for stage in line[2].split(", ")}
    assert ran == stages_reading_the_seed() - {"backtest"}, line[2]
    assert {"train", "ablation", "evaluate"} <= ran
    # The copy: the project's params but the seed, no git, no cache of its own
    # (it uses the project's), and up to date.
    params = yaml.safe_load((copy / "params.yaml").read_text(encoding="utf-8"))
    own = yaml.safe_load(before["params.yaml"])
    assert params["base"]["seed"] == 7 and own["base"]["seed"] == 42
    assert {**params, "base": own["base"]} == own
    assert not (copy / ".git").exists() and not (copy / ".dvc" / "cache").exists()
    assert Project(copy, project.env).status() == {}
    # The project itself is left as it was.
    for path, data in before.items():
        assert (project.root / path).read_bytes() == data, path
    # The spread over the project's run and the copy's: the model's MAE as the
    # mean [lowest, highest] of the two runs' scores.
    maes = sorted(
        Project(root, project.env).read_json(str(SCORES))["demand"]["mae"]
        for root in (project.root, copy)
    )
    assert maes[0] != maes[1], "another seed should train another model"
    assert "## demand (2 runs: seed 42, seed 7)" in proc.stdout
    cell = re.search(r"\| model +\| +([\d.]+) \[([\d.]+), ([\d.]+)\] \|", proc.stdout)
    assert cell, proc.stdout
    assert [float(x) for x in cell.groups()] == pytest.approx(
        [sum(maes) / 2, *maes], rel=1e-3
    )
    # `mtlstm compare --spread` over the two folders gives the same rows.
    again = project.run(
        sys.executable, "-m", "mtlstm.cli", "compare", "--spread", ".", str(copy)
    ).stdout
    assert cell[0] in again, again


def test_a_project_that_is_not_up_to_date_is_refused(project, tmp_path):
    stale = tmp_path / "work"
    shutil.copytree(project.root, stale, symlinks=True)
    moved = Project(stale, project.env)
    moved.set_params(lambda p: p["train"].update(learning_rate=0.002))
    proc = run_script(moved, "--seeds", "7")
    assert proc.returncode == 1
    assert re.search(
        r"work is not up to date \(.*train.*\): run `dvc repro`", proc.stderr
    )
    assert not (tmp_path / "work-seeds").exists()


def test_the_project_s_own_seed_is_refused(project):
    proc = run_script(project, "--seeds", "1,42")
    assert proc.returncode == 1
    assert "--seeds: 42 is the project's own base.seed" in proc.stderr


def test_copies_inside_the_project_are_refused(project):
    proc = run_script(project, "--seeds", "7", "--out", str(project.root / "seeds"))
    assert proc.returncode == 1
    assert re.search(
        r"--out: \S+/work/seeds is inside the project; put it beside it", proc.stderr
    )
    assert not (project.root / "seeds").exists()


def test_a_seed_whose_repro_fails_leaves_no_copy(project, tmp_path, monkeypatch):
    """The copy holds the project's own scores until its repro rewrites them:
    one that fails must not stay behind to be read as that seed's run. (The
    failure is made here; DVC's copy and config commands run for real.)"""
    for key, value in project.env.items():
        monkeypatch.setenv(key, value)
    real = seed_runs.dvc

    def failing_repro(folder, *args, env=None):
        if args[0] == "repro":
            assert (folder / SCORES).is_file()  # the project's, copied
            raise MtlstmError(f"`dvc repro` failed in {folder}")
        return real(folder, *args, env=env)

    monkeypatch.setattr(seed_runs, "dvc", failing_repro)
    dest = tmp_path / "seed-7"
    with pytest.raises(MtlstmError, match="`dvc repro` failed"):
        seed_runs.run_seed(project.root, dest, 7, seed_runs.cache_dir(project.root))
    assert not dest.exists()


def test_a_folder_that_is_not_a_run_project_is_refused(tmp_path):
    proc = run_script(Project(tmp_path, {}), "--seeds", "7")
    assert proc.returncode == 1
    assert "dvc.yaml not found" in proc.stderr and "run.sh first" in proc.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,x", r"--seeds: 'x' is not an integer; give a comma list such as 1,2,3"),
        ("1,-2", r"--seeds: -2 is outside \[0, 4294967295\]"),
        ("3,1,3", r"--seeds: 3 is named twice"),
    ],
)
def test_bad_seeds_are_refused(text, message):
    with pytest.raises(MtlstmError, match=message):
        seed_runs.parse_seeds(text)


def test_seeds_parse_in_order():
    assert seed_runs.parse_seeds("3, 1,2") == [3, 1, 2]


def make_seeds(folder: Path, seeds: str) -> subprocess.CompletedProcess:
    """``make seeds SEEDS=<seeds>`` on the project's Makefile in ``folder``,
    installed (a stamp newer than what it is built from), with ``dvc`` and
    ``mtlstm`` replaced by probes that log any call to ``calls``: a refusal
    must come before either runs. (What a valid SEEDS runs is the real
    pipeline's; these probes never stand in for it.)"""
    shutil.copy(ROOT / "Makefile", folder)
    for name in ("pyproject.toml", "requirements.lock", "requirements-lint.txt"):
        (folder / name).touch()
    (folder / "params.yaml").write_text("base:\n  seed: 42\n", encoding="utf-8")
    bin_dir = folder / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(sys.executable)
    for tool in ("dvc", "mtlstm"):
        (bin_dir / tool).write_text(
            f'#!/bin/sh\necho "{tool} $*" >> "{folder}/calls"\n', encoding="utf-8"
        )
        (bin_dir / tool).chmod(0o755)
    # Made in this folder (the Makefile rebuilds a venv stamped for another).
    stamp = folder / ".venv" / ".installed"
    stamp.write_text(f"{os.path.realpath(folder)}\n", encoding="utf-8")
    cmd = ["make", "-s", "--no-print-directory", "seeds", f"SEEDS={seeds}"]
    return subprocess.run(
        [*cmd, f"PYTHON={sys.executable}"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")
@pytest.mark.parametrize(
    ("seeds", "message"),
    [
        ("42,1,2", r"SEEDS=42,1,2: 42 is params.yaml's base.seed, the workspace's"),
        ("1,2,1", r"SEEDS=1,2,1: 1 is named twice"),
    ],
)
def test_make_seeds_refuses_the_workspace_s_seed_or_one_twice(tmp_path, seeds, message):
    """`make seeds SEEDS=42,1,2` (the form `make search` takes) ran seed-42,
    the workspace's own run again, and the spread counted it twice: 4 runs
    for 3 seeds, its scores double-weighted in every mean and k/N. Refused
    before anything runs, as scripts/seed_runs.py refuses it."""
    proc = make_seeds(tmp_path, seeds)
    assert proc.returncode != 0
    assert re.search(message, proc.stderr), proc.stderr
    assert not (tmp_path / "calls").exists()
