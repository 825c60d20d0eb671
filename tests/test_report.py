"""scripts/report.py on a real two-commit git + DVC repository, and
scripts/results_table.py on small hand-made metrics files.

The repository is built once per module: a params.yaml, a dvc.yaml whose one
stage writes metrics.json from the params with a Python one-liner, committed as
the base; then one param changes, `dvc repro` runs and the result is committed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

REPORT = ROOT / "scripts" / "report.py"
RESULTS_TABLE = ROOT / "scripts" / "results_table.py"
BIN = Path(sys.executable).parent
DVC = str(BIN / "dvc")

STAGE_CMD = (
    "python -c \"import json, yaml; p = yaml.safe_load(open('params.yaml'))['model'];"
    " json.dump({'size': p['width'] * 10, 'error': 1 - p['rate'],"
    " 'task': {'mae': 1 / p['width'], 'accuracy': 1 / p['width'],"
    " 'skill': {'naive': 1 / p['width']}}},"
    " open('metrics.json', 'w'))\""
)


def env() -> dict[str, str]:
    """The venv first on PATH (the stage's `python`), a fixed git identity, no
    user or system git config, no DVC analytics."""
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "DVC_NO_ANALYTICS": "1",
    }


def sh(cwd: Path, *cmd: str) -> str:
    proc = subprocess.run(
        cmd, cwd=cwd, env=env(), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def write_params(repo: Path, width: int) -> None:
    params = {"model": {"width": width, "rate": 0.25}}
    (repo / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(repository, base commit): width 2 -> 3 between the two commits."""
    repo = tmp_path_factory.mktemp("repo")
    sh(repo, "git", "init", "-q")
    sh(repo, DVC, "init", "-q")
    write_params(repo, width=2)
    stage = {
        "cmd": STAGE_CMD,
        "params": ["model"],
        "metrics": [{"metrics.json": {"cache": False}}],
    }
    dvc_yaml = yaml.safe_dump({"stages": {"score": stage}}, sort_keys=False)
    (repo / "dvc.yaml").write_text(dvc_yaml, encoding="utf-8")
    sh(repo, DVC, "repro", "-q")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-q", "-m", "base")
    base = sh(repo, "git", "rev-parse", "HEAD").strip()
    write_params(repo, width=3)
    sh(repo, DVC, "repro", "-q")
    assert json.loads((repo / "metrics.json").read_text()) == {
        "size": 30,
        "error": 0.75,
        "task": {"mae": 1 / 3, "accuracy": 1 / 3, "skill": {"naive": 1 / 3}},
    }
    sh(repo, "git", "commit", "-q", "-am", "width 3")
    return repo, base


def report(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPORT), *args],
        cwd=repo,
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def squeeze(markdown: str) -> str:
    """DVC pads table cells to align them: compare with single spaces."""
    return re.sub(r" +", " ", markdown)


def test_report_shows_changed_param_and_metric(repo: tuple[Path, str]) -> None:
    path, base = repo
    proc = report(path, "--base", base)
    assert proc.returncode == 0, proc.stderr
    out = squeeze(proc.stdout)
    assert out.startswith("# DVC report\n")
    assert f"- base: `{base}` (`{base[:7]}" in out
    head = sh(path, "git", "rev-parse", "--short", "HEAD").strip()
    assert f"- head: `{head}`" in out
    assert f"| Path | Param | {base} | workspace |" in out
    assert "| params.yaml | model.width | 2 | 3 |" in out
    assert "model.rate" not in out  # unchanged params are left out
    assert "| metrics.json | size | 20 | 30 | 10 | |" in out  # neither
    # Lower errors, higher accuracy and skill are better.
    assert "| metrics.json | task.mae | 0.5 | 0.33333 | -0.16667 | better |" in out
    assert "| metrics.json | task.accuracy | 0.5 | 0.33333 | -0.16667 | worse |" in out
    assert "| task.skill.naive | 0.5 | 0.33333 | -0.16667 | worse |" in out
    assert "| Path | Metric | " in out and " | Change | Better or worse |\n" in out
    assert "| metrics.json | error |" not in out
    assert "Nothing changed" not in out
    assert "No params changed" not in out


def test_report_says_when_nothing_changed(repo: tuple[Path, str]) -> None:
    path, _ = repo
    proc = report(path, "--base", "HEAD")
    assert proc.returncode == 0, proc.stderr
    assert "**Nothing changed**" in proc.stdout
    assert "## Params\n\nNo params changed.\n" in proc.stdout
    assert "## Metrics\n\nNo metrics changed.\n" in proc.stdout
    assert "|" not in proc.stdout


def test_report_output_file_and_unknown_base(
    repo: tuple[Path, str], tmp_path: Path
) -> None:
    path, base = repo
    target = tmp_path / "report.md"
    proc = report(path, "--base", base, "--output", str(target))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "| params.yaml | model.width | 2 | 3 |" in squeeze(target.read_text())

    proc = report(path, "--base", "no-such-branch")
    assert proc.returncode == 1
    assert "unknown git revision 'no-such-branch'" in proc.stderr


# --- scripts/results_table.py ------------------------------------------------

EVALUATE = {
    "demand": {"mae": 50.0, "rmse": 2000.0},
    "temp_class": {"accuracy": 0.9, "log_loss": 0.25},
}
BASELINES = {
    "demand": {"persistence": {"mae": 100.0, "rmse": 2500.0}, "mean": {"mae": 150}},
    "temp_class": {"persistence": {"accuracy": 0.8, "log_loss": 1.0}},
}
ABLATION = {"demand": {"mae": 60.0, "rmse": 2100.0}}
NOTE = (
    "\n\nSkill vs persistence = 1 - model / persistence, for error metrics "
    "(0: no better than persistence; higher is better)."
)
TABLE = (
    "| task | metric | model | persistence | mean | skill vs persistence |\n"
    "|---|---|---|---|---|---|\n"
    "| `demand` | MAE | 50.00 | 100.00 | 150.00 | +50.0% |\n"
    "| `demand` | RMSE | 2,000.00 | 2,500.00 | - | +20.0% |\n"
    "| `temp_class` | accuracy | 0.900 | 0.800 | - | n/a |\n"
    "| `temp_class` | log-loss | 0.250 | 1.00 | - | +75.0% |" + NOTE
)
TABLE_WITH_ABLATION = (
    "| task | metric | model | persistence | mean | single-task"
    " | skill vs persistence |\n"
    "|---|---|---|---|---|---|---|\n"
    "| `demand` | MAE | 50.00 | 100.00 | 150.00 | 60.00 | +50.0% |\n"
    "| `demand` | RMSE | 2,000.00 | 2,500.00 | - | 2,100.00 | +20.0% |\n"
    "| `temp_class` | accuracy | 0.900 | 0.800 | - | - | n/a |\n"
    "| `temp_class` | log-loss | 0.250 | 1.00 | - | - | +75.0% |" + NOTE
)


def metrics_dir(tmp_path: Path, ablation: bool = False) -> Path:
    """metrics/evaluate.json as the evaluate stage writes it."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    report = {
        task: {"model": scores, "baselines": BASELINES[task]}
        | ({"single_task": ABLATION[task]} if ablation and task in ABLATION else {})
        for task, scores in EVALUATE.items()
    }
    (folder / "evaluate.json").write_text(json.dumps(report), encoding="utf-8")
    return folder


def results_table(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(RESULTS_TABLE), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_results_table_prints_markdown(tmp_path: Path) -> None:
    proc = results_table("--metrics-dir", str(metrics_dir(tmp_path)))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == TABLE + "\n"


def test_results_table_adds_single_task_column(tmp_path: Path) -> None:
    proc = results_table("--metrics-dir", str(metrics_dir(tmp_path, ablation=True)))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == TABLE_WITH_ABLATION + "\n"


def test_results_table_adds_f1_per_class(tmp_path: Path) -> None:
    folder = metrics_dir(tmp_path, ablation=True)
    (folder / "per_class.csv").write_text(
        "task,class,windows,forecaster,precision,recall,f1\n"
        "temp_class,cold,1200,model,0.9,0.95,0.925\n"
        "temp_class,cold,1200,persistence,0.8,0.8,0.8\n"
        "temp_class,cold,1200,single_task,0.9,0.9,0.9\n"
        "temp_class,hot,12,model,0.5,0.25,0.3333\n"
        "temp_class,hot,12,persistence,0.0,0.0,0.0\n"
        "temp_class,hot,12,single_task,1.0,0.5,0.6667\n",
        encoding="utf-8",
    )
    proc = results_table("--metrics-dir", str(folder))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(TABLE_WITH_ABLATION + "\n\n")
    assert proc.stdout.endswith(
        "| task | class | test windows | F1 model | F1 persistence "
        "| F1 single-task |\n"
        "|---|---|---|---|---|---|\n"
        "| `temp_class` | `cold` | 1,200 | 0.925 | 0.800 | 0.900 |\n"
        "| `temp_class` | `hot` | 12 | 0.333 | 0.000 | 0.667 |\n\n"
        "F1 per class on the test windows (metrics/per_class.csv; it also holds "
        "precision and recall): macro-F1 is the mean over the classes, so this "
        "shows which class a macro-F1 difference comes from.\n"
    )


def test_results_table_class_labels_with_pipes_and_backticks(tmp_path: Path) -> None:
    """A class label is any text: a pipe in it split the row (GitHub ends a
    cell at a pipe even inside a code span), moving every number one column
    right of its header; a backtick ended the code span."""
    folder = metrics_dir(tmp_path)
    (folder / "per_class.csv").write_text(
        "task,class,windows,forecaster,precision,recall,f1\n"
        'temp_class,"<15|cold",7,model,0.5,0.5,0.5\n'
        "temp_class,hot `x`,3,model,1.0,1.0,1.0\n",
        encoding="utf-8",
    )
    proc = results_table("--metrics-dir", str(folder))
    assert proc.returncode == 0, proc.stderr
    assert "| `temp_class` | `<15\\|cold` | 7 | 0.500 |\n" in proc.stdout
    assert "| `temp_class` | `` hot `x` `` | 3 | 1.00 |\n" in proc.stdout


def test_results_table_replaces_readme_block(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "# title\n\n<!-- results:start -->\nold table\n<!-- results:end -->\n\nend\n",
        encoding="utf-8",
    )
    args = ("--metrics-dir", str(metrics_dir(tmp_path)), "--readme", str(readme))
    for _ in range(2):  # running it again changes nothing
        proc = results_table(*args)
        assert proc.returncode == 0, proc.stderr
        assert readme.read_text(encoding="utf-8") == (
            "# title\n\n<!-- results:start -->\n"
            + TABLE
            + "\n<!-- results:end -->\n\nend\n"
        )


def test_results_table_without_markers_leaves_readme_alone(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    text = "# title\n\n<!-- results:end -->\n<!-- results:start -->\n"
    readme.write_text(text, encoding="utf-8")
    proc = results_table(
        "--metrics-dir", str(metrics_dir(tmp_path)), "--readme", str(readme)
    )
    assert proc.returncode == 1
    assert "markers not found" in proc.stderr
    assert str(readme) in proc.stderr
    assert readme.read_text(encoding="utf-8") == text


def test_results_table_without_metrics_says_so(tmp_path: Path) -> None:
    proc = results_table("--metrics-dir", str(tmp_path))
    assert proc.returncode == 1
    assert "evaluate.json not found: run `make repro` first" in proc.stderr


SKILL = {
    "demand": {
        "vs_persistence": {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6, "dm_p": 1e-5},
        "vs_hgb_lag": {"value": -0.02, "ci_low": -0.05, "ci_high": 0.01, "dm_p": 0.2},
        "vs_single_task": {
            "value": -0.1,
            "ci_low": -0.15,
            "ci_high": -0.05,
            "dm_p": 0.004,
        },
    },
    "temp_class": {
        "vs_hgb_lag": {"value": 0.1, "ci_low": 0.02, "ci_high": 0.2, "dm_p": None},
        # an interval that touches 0 does not exclude it
        "vs_single_task": {"value": 0.03, "ci_low": 0.0, "ci_high": 0.05, "dm_p": 0.3},
        "vs_majority": {"value": -0.5, "ci_low": -0.7, "ci_high": -0.3, "dm_p": 0.01},
    },
}
INTERVALS = (
    "\n\n| task | reference | skill | 95% interval | DM p | verdict |\n"
    "|---|---|---|---|---|---|\n"
    "| `demand` | persistence | +50.0% | [+40.0%, +60.0%] | <0.001"
    " | beats persistence |\n"
    "| `demand` | hgb_lag | -2.0% | [-5.0%, +1.0%] | 0.200 | no clear difference |\n"
    "| `demand` | single-task | -10.0% | [-15.0%, -5.0%] | 0.004 | sharing hurt |\n"
    "| `temp_class` | hgb_lag | +10.0% | [+2.0%, +20.0%] | -"
    " | beats gradient boosting |\n"
    "| `temp_class` | single-task | +3.0% | [+0.0%, +5.0%] | 0.300"
    " | no clear difference |\n"
    "| `temp_class` | majority | -50.0% | [-70.0%, -30.0%] | 0.010"
    " | loses to majority |\n\n"
    "Skill = 1 - model / reference on the primary error (MAE for regression, "
    "log-loss for classification) with its 95% moving-block bootstrap interval "
    "over the test windows, and the Diebold-Mariano p-value of equal loss. A "
    "verdict is given only where the interval excludes 0."
)


def test_results_table_prints_intervals_and_verdicts(tmp_path: Path) -> None:
    folder = metrics_dir(tmp_path)
    report = json.loads((folder / "evaluate.json").read_text(encoding="utf-8"))
    for task, skill in SKILL.items():
        report[task]["skill"] = skill
    (folder / "evaluate.json").write_text(json.dumps(report), encoding="utf-8")
    proc = results_table("--metrics-dir", str(folder))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == TABLE + INTERVALS + "\n"
    # Sharing helped only where the single-task interval lies above 0.
    report["temp_class"]["skill"]["vs_single_task"]["ci_low"] = 0.001
    (folder / "evaluate.json").write_text(json.dumps(report), encoding="utf-8")
    proc = results_table("--metrics-dir", str(folder))
    assert "| [+0.1%, +5.0%] | 0.300 | sharing helped |" in proc.stdout


@pytest.mark.parametrize(
    ("kind", "low", "high", "shown", "verdict"),
    [
        ("skill", 0.0004, 0.06, "[+0.04%, +6.0%]", "sharing helped"),
        ("skill", -0.05, -0.00004, "[-5.0%, -0.004%]", "sharing hurt"),
        ("macro_f1_diff", 0.0002, 0.01, "[+0.0002, +0.010]", "sharing helped"),
        ("skill", 0.0, 0.06, "[+0.0%, +6.0%]", "no clear difference"),
    ],
)
def test_an_interval_bound_near_0_is_never_shown_as_0_beside_a_verdict(
    kind: str, low: float, high: float, shown: str, verdict: str
) -> None:
    """A bound of +0.04% was printed +0.0%: "[+0.0%, +6.0%] | sharing helped"
    quoted an interval that touches 0 beside a verdict given only where it
    excludes 0. A bound that rounds to 0 gets the digits that show its sign."""
    from conftest import load_script

    s = {"value": 0.03, "ci_low": low, "ci_high": high, "dm_p": 0.01}
    rows = load_script("results_table").intervals({"y": {kind: {"vs_single_task": s}}})
    assert rows[0][3:] == [shown, "0.010", verdict]
