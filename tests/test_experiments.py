"""Experiments as a person sees them, with real DVC on a tiny temp repo (the
pattern of test_pipeline.py): `dvc exp run` reruns train and evaluate and
records each experiment's scores, the README's `dvc exp show` line, `mtlstm
compare` on two experiments, params set back to the commit's restoring every
model from DVC's run cache, and no stale state after switching tasks.

One repo is shared by the module (a copy of test_pipeline.py's first run); it
is committed with its results first, so experiments have a baseline. The
tasks-switching test changes the tasks for good and therefore runs last.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from test_pipeline import (
    CACHED,
    DVC,
    RUNNING,
    TIMEOUT,
    Project,
    copy_project,
    find_metrics,
    first_run_copy,
)

from mtlstm.compare import pick_experiments

EXPERIMENTS = {  # names as long as DVC's own (adjective-noun, 10 characters)
    "amber-kiwi": "train.loss_weights.demand=0.5",
    "brisk-oats": "train.learning_rate=0.002",
}


def readme_exp_show_lines() -> list[list[str]]:
    """The README's `dvc exp show` lines (with ``--drop``), each as argv."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Experiments and sweeps") :]
    lines = [
        line.split(" #")[0].strip()
        for line in section.splitlines()
        if line.startswith("dvc exp show ") and "--drop" in line
    ]
    assert lines, "no `dvc exp show ... --drop ...` line in README's Experiments"
    return [shlex.split(line) for line in lines]


def readme_exp_show_line() -> list[str]:
    """The README's `dvc exp show` line for per-task test scores, as argv."""
    return readme_exp_show_lines()[0]


def exp_show_table(project: Project, argv: list[str]) -> list[str]:
    """A README `dvc exp show` line's table at its natural width (not squeezed
    by a narrow terminal), its non-blank lines right-stripped."""
    assert argv[:3] == ["dvc", "exp", "show"]
    env = {**project.env, "COLUMNS": "1000"}
    proc = subprocess.run(
        [str(DVC), *argv[1:]],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    assert "…" not in proc.stdout, proc.stdout
    return [line.rstrip() for line in proc.stdout.splitlines() if line.strip()]


def commit(project: Project, message: str) -> None:
    project.run("git", "add", "-A")
    project.run("git", "commit", "-q", "-m", message)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dvc-scratch")


@pytest.fixture(scope="module")
def repo(tmp_path_factory, scratch) -> Project:
    root = tmp_path_factory.mktemp("experiments") / "repo"
    project, _, _ = first_run_copy(tmp_path_factory, root, scratch)
    commit(project, "results")
    return project


@pytest.fixture(scope="module")
def committed(repo) -> dict:
    """The committed run's params and outputs, read before any experiment."""
    paths = ("models/model.keras", "dvclive/metrics.json", "dvc.lock")
    outputs = {path: (repo.root / path).read_bytes() for path in paths}
    return {"params": repo.params(), "outputs": outputs}


@pytest.fixture(scope="module")
def two_experiments(repo, committed) -> tuple[Project, dict[str, list[str]]]:
    """The repo after one `dvc exp run` per EXPERIMENTS entry, and the stages
    each run ran."""
    ran = {}
    for name, setting in EXPERIMENTS.items():
        proc = repo.dvc("exp", "run", "-n", name, "-S", setting)
        ran[name] = RUNNING.findall(proc.stdout + proc.stderr)
    return repo, ran


def experiments(shown: list) -> list[dict]:
    """The experiment revisions of ``dvc exp show --json`` (not the workspace, not
    the commits they are based on)."""
    return [
        rev
        for entry in shown
        for group in entry.get("experiments") or []
        for rev in group.get("revs", [])
    ]


def param(rev: dict, *keys: str):
    for params in (rev.get("data", {}).get("params") or {}).values():
        value = params.get("data", {})
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            return value
    return None


def test_exp_run_reruns_train_and_evaluate_and_records_the_scores(two_experiments):
    project, ran = two_experiments
    # A loss weight is the shared model's alone; the learning rate is part of
    # the budget the single-task models train with too.
    assert ran == {
        "amber-kiwi": ["train", "evaluate"],
        "brisk-oats": ["train", "ablation@demand", "ablation@temp_class", "evaluate"],
    }
    shown = json.loads(project.dvc("exp", "show", "--json").stdout)
    runs = {rev["name"]: rev for rev in experiments(shown)}
    assert param(runs["amber-kiwi"], "train", "loss_weights", "demand") == 0.5
    assert param(runs["brisk-oats"], "train", "learning_rate") == 0.002
    for name in EXPERIMENTS:
        metrics = find_metrics(runs[name], "metrics/scores.json")
        assert metrics is not None, f"experiment {name} has no metrics: {shown}"
        assert list(metrics) == list(project.params()["tasks"])
    # `dvc exp run` leaves the (last) experiment's results in the workspace.
    last = find_metrics(runs["brisk-oats"], "metrics/scores.json")
    assert last == project.read_json("metrics/scores.json")
    csv = project.dvc("exp", "show", "--csv").stdout
    assert all(name in csv for name in EXPERIMENTS)
    # Per task the model's scores, primary first, then its skills.
    columns = csv.splitlines()[0].split(",")
    first = [c for c in columns if c.startswith("demand.")][:5]
    assert first == [
        "demand.mae",
        "demand.rmse",
        "demand.smape",
        "demand.skill.persistence",
        "demand.skill.seasonal_naive",
    ], columns
    assert not [c for c in columns if "dvclive" in c or c.startswith("step")]


def test_readme_exp_show_line_fits_120_columns(two_experiments):
    project, _ = two_experiments
    table = exp_show_table(project, readme_exp_show_line())
    shown = "\n".join(table)
    width = max(map(len, table))
    assert width <= 120, f"{width} columns:\n{shown}"
    header = table[1].split()
    # Each task's primary test score, then the params the experiments changed.
    assert header == [
        "Experiment",
        "demand.mae",
        "temp_class.log_loss",
        "train.learning_rate",
        "train.loss_weights.demand",
    ], shown
    names = [row.split("[")[1].split("]")[0] for row in table if "[" in row]
    assert sorted(names) == sorted(EXPERIMENTS)


def test_exp_show_gives_each_skill_its_95_percent_interval(two_experiments):
    """scores.json holds the bounds of every skill's interval, and of every
    class task's macro-F1 difference (evaluate.json's ci_low and ci_high), and
    the README's interval line shows a skill with its bounds for every
    experiment: a verdict is readable in `dvc exp show`."""
    project, _ = two_experiments
    scores = project.read_json("metrics/scores.json")
    report = project.read_json("metrics/evaluate.json")
    compared = [
        (task, key)
        for task in scores
        for key in ("skill", "macro_f1_diff")
        if key in report[task]
    ]
    assert [key for _, key in compared].count("macro_f1_diff") == 1, compared
    for task, key in compared:
        summary, refs = scores[task], report[task][key]
        assert (
            set(summary[f"{key}_low"])
            == set(summary[f"{key}_high"])
            == set(summary[key])
            == {ref.removeprefix("vs_") for ref in refs}
        )
        for ref, s in refs.items():
            name = ref.removeprefix("vs_")
            assert summary[key][name] == s["value"]
            assert summary[f"{key}_low"][name] == s["ci_low"] <= s["value"]
            assert summary[f"{key}_high"][name] == s["ci_high"] >= s["value"]
    lines = [argv for argv in readme_exp_show_lines() if "_low" in " ".join(argv)]
    assert len(lines) == 1, "no README `dvc exp show` line for a skill's interval"
    table = exp_show_table(project, lines[0])
    shown = "\n".join(table)
    assert max(map(len, table)) <= 120, shown
    assert table[1].split() == [
        "Experiment",
        "demand.skill.hgb_lag",
        "demand.skill_low.hgb_lag",
        "demand.skill_high.hgb_lag",
    ], shown
    rows = {row.split("]")[0].split("[")[1]: row for row in table if "[" in row}
    assert sorted(rows) == sorted(EXPERIMENTS)
    # The workspace holds the last experiment's results: its row shows them.
    cells = [float(x) for x in rows["brisk-oats"].split("]")[1].split()]
    summary = scores["demand"]
    want = [summary[k]["hgb_lag"] for k in ("skill", "skill_low", "skill_high")]
    assert cells == pytest.approx(want, rel=1e-4), shown


def test_mtlstm_compare_two_experiments(two_experiments):
    project, _ = two_experiments
    proc = project.run(sys.executable, "-m", "mtlstm.cli", "compare", *EXPERIMENTS)
    shown = json.loads(project.dvc("exp", "show", "--json").stdout)
    runs = pick_experiments(shown, list(EXPERIMENTS))
    out = proc.stdout
    assert out.index("## demand") < out.index("## temp_class")
    for name, scores in runs.items():
        mae = scores["demand"]["mae"]
        assert re.search(rf"\| model \({name}\) +\| +(\*\*)?{mae:.4g}", out), out
    for reference in ("single_task", "persistence", "hgb_lag", "majority"):
        assert f"| {reference}" in out, reference
    assert "| forecaster" in out and "mae ↓" in out and "accuracy ↑" in out
    # The same two runs read as repeats of one setting: a row per forecaster,
    # the model's MAE as the mean [lowest, highest] of the two.
    spread = project.run(
        sys.executable, "-m", "mtlstm.cli", "compare", "--spread", *EXPERIMENTS
    ).stdout
    maes = sorted(scores["demand"]["mae"] for scores in runs.values())
    cell = re.search(r"\| model +\| +([\d.]+) \[([\d.]+), ([\d.]+)\] \|", spread)
    assert cell, spread
    shown = [float(x) for x in cell.groups()]
    assert shown == pytest.approx([sum(maes) / 2, *maes], rel=1e-3), spread
    assert f"## demand (2 runs: {', '.join(EXPERIMENTS)})" in spread
    assert re.search(r"\| hgb_lag +\| +[\d.]+ [012]/2 \|", spread), spread


def test_compare_finds_experiments_of_an_earlier_commit(two_experiments, tmp_path):
    """After a commit, `dvc exp show` lists only the new commit's experiments;
    `mtlstm compare` still finds those named (in every commit's, `-A`), in a
    copy of the repo so the module's repo keeps its commit."""
    project, _ = two_experiments
    copy = copy_project(project.root, tmp_path / "repo", tmp_path / "scratch")
    (copy.root / "NOTES.md").write_text("after the experiments\n", encoding="utf-8")
    commit(copy, "a later commit")
    shown = json.loads(copy.dvc("exp", "show", "--json").stdout)
    assert experiments(shown) == [], "the new commit has experiments of its own"
    proc = copy.run(sys.executable, "-m", "mtlstm.cli", "compare", *EXPERIMENTS)
    for name in EXPERIMENTS:
        assert f"| model ({name})" in proc.stdout, proc.stdout


def test_reverting_a_train_param_restores_train_from_the_run_cache(
    repo, committed, two_experiments
):
    """The workspace holds the last experiment's results (its learning rate);
    setting params.yaml back to the commit's restores train, both single-task
    models and evaluate from DVC's run cache: nothing trains, and every output
    is the committed run's, byte for byte."""
    project = repo
    assert project.params() != committed["params"], "no experiment to revert"
    project.run("git", "checkout", "--", "params.yaml")
    proc = project.dvc("repro")
    out = proc.stdout + proc.stderr
    # Restored, not run: DVC says so, and train's own log line never appears.
    assert RUNNING.findall(out) == [], out
    restored = {"train", "ablation@demand", "ablation@temp_class", "evaluate"}
    assert set(CACHED.findall(out)) == restored, out
    assert "train:" not in out
    for path, content in committed["outputs"].items():
        assert (project.root / path).read_bytes() == content, path
    curves = project.root / "dvclive/plots/metrics/eval/loss.tsv"
    assert curves.is_file()
    assert project.status() == {}


def test_switching_tasks_leaves_no_stale_state(repo, tmp_path):
    """The old tasks' files go; `dvc status` is clean after experiments and
    checkouts, and so is a fresh clone of the committed state."""
    project = repo
    if project.status():
        project.dvc("repro")

    def switch(params):
        params["tasks"]["temp_band"] = params["tasks"].pop("temp_class")
        weights = params["train"]["loss_weights"]
        weights["temp_band"] = weights.pop("temp_class")

    project.set_params(switch)
    out = project.dvc("repro").stdout
    assert "ablation@temp_band" in RUNNING.findall(out)
    assert "evaluate: removed metrics/ablation/temp_class.json" in out
    for folder, suffix in (
        ("metrics/ablation", "json"),
        ("predictions/single_task", "npz"),
    ):
        files = sorted(p.name for p in (project.root / folder).iterdir())
        assert files == [f"demand.{suffix}", f"temp_band.{suffix}"], folder
    assert project.status() == {}
    commit(project, "tasks: demand and temp_band")

    # An experiment (evaluate alone reruns), then back to the commit.
    proc = project.dvc("exp", "run", "-S", "evaluate.plot_points=25")
    assert RUNNING.findall(proc.stdout + proc.stderr) == ["evaluate"]
    project.run("git", "checkout", "--", "params.yaml", "dvc.lock")
    project.dvc("checkout")
    assert project.status() == {}

    # A fresh checkout of the commit holds only what dvc.lock lists.
    clone = Project(tmp_path / "clone", project.env)
    project.run("git", "clone", "-q", str(project.root), str(clone.root))
    clone.dvc("cache", "dir", "--local", str(project.root / ".dvc" / "cache"))
    clone.dvc("checkout")
    assert clone.status() == {}
