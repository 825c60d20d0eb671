"""The GitHub Actions workflow: actionlint finds nothing, and it does what the
README promises (tests on every push; on pull requests the pipeline reproduced
over a cached DVC cache and a params/metrics report)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def actionlint() -> str | None:
    """The actionlint next to this interpreter (a dev dependency), else on PATH."""
    local = Path(sys.executable).parent / "actionlint"
    return str(local) if local.is_file() else shutil.which("actionlint")


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def uses(step: dict, action: str) -> bool:
    return step.get("uses", "").split("@")[0] == action


def runs(job: dict, command: str) -> bool:
    """Whether a `run:` step of ``job`` holds ``command``."""
    return any(command in s.get("run", "") for s in steps(job))


def runs_on_push(job: dict) -> bool:
    """No `if:`, or one that names the push event."""
    return "if" not in job or "push" in job["if"]


def test_actionlint_reports_nothing() -> None:
    binary = actionlint()
    if binary is None:
        pytest.skip("actionlint is not installed (pip install the dev extra)")
    proc = subprocess.run(
        [binary, "-no-color", str(WORKFLOW.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and not proc.stdout.strip(), (
        f"actionlint (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}"
    )


def test_triggers_on_push_and_pull_request(workflow: dict) -> None:
    # PyYAML reads the bare key `on` as the boolean True.
    triggers = workflow.get("on", workflow.get(True))
    assert "push" in triggers
    assert "pull_request" in triggers


def test_make_test_runs_on_every_push(workflow: dict) -> None:
    jobs = [
        job
        for job in workflow["jobs"].values()
        if runs_on_push(job) and runs(job, "make test")
    ]
    assert jobs, "no job runs `make test` on push"
    for job in jobs:
        checkout = next(s for s in steps(job) if uses(s, "actions/checkout"))
        assert checkout["with"]["fetch-depth"] == 0
        python = next(s for s in steps(job) if uses(s, "actions/setup-python"))
        assert python["with"]["python-version"] == "3.11"
        assert python["with"]["cache"] == "pip"
        assert python["with"]["cache-dependency-path"] == "pyproject.toml"


def test_pull_request_reproduces_and_reports(workflow: dict) -> None:
    job = next(job for job in workflow["jobs"].values() if runs(job, "make repro"))
    assert "pull_request" in job["if"]
    names = [s.get("uses", s.get("run", "")) for s in steps(job)]
    cache = next(s for s in steps(job) if uses(s, "actions/cache"))
    assert cache["with"]["path"] == ".dvc/cache"
    for keyed_on in ("dvc.lock", "params.yaml", "src/**"):
        assert keyed_on in cache["with"]["key"]
    repro = next(i for i, n in enumerate(names) if "make repro" in n)
    assert names.index(cache["uses"]) < repro

    report = next(s for s in steps(job) if "scripts/report.py" in s.get("run", ""))
    assert report["if"] == "github.event_name == 'pull_request'"
    assert "--base" in report["run"] and "> report.md" in report["run"]
    assert report["env"]["BASE"] == "origin/${{ github.base_ref }}"
    assert names.index(report["run"]) > repro
    scripts = " ".join(s.get("run", "") for s in steps(job))
    assert 'cat report.md >> "$GITHUB_STEP_SUMMARY"' in scripts
    upload = next(s for s in steps(job) if uses(s, "actions/upload-artifact"))
    assert upload["with"]["path"] == "report.md"
