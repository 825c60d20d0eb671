"""The GitHub Actions workflow: actionlint (with shellcheck) finds nothing, and it
does what the README promises (tests on every push; on pull requests the pipeline
reproduced over a cached DVC cache and a params/metrics report) without handing
a write token or movable code to the jobs that run the project."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
_spec = importlib.util.spec_from_file_location("lock", ROOT / "scripts" / "lock.py")
_lock = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_lock)
PYTHONS = _lock.PYTHONS  # the Pythons requirements.lock installs on


def tool(name: str) -> str | None:
    """``name`` next to this interpreter (requirements-lint.txt), else on PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.is_file() else shutil.which(name)


def actionlint(*args: str) -> subprocess.CompletedProcess:
    binary = tool("actionlint")
    if binary is None:
        pytest.skip("actionlint is not installed (make install: requirements-lint.txt)")
    return subprocess.run(
        [binary, "-no-color", *args, str(WORKFLOW.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


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
    proc = actionlint("-shellcheck=")  # the workflow itself; shell: see below
    assert proc.returncode == 0 and not proc.stdout.strip(), (
        f"actionlint (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}"
    )


def test_actionlint_with_shellcheck_reports_nothing() -> None:
    shellcheck = tool("shellcheck")
    if shellcheck is None:
        pytest.skip(
            "shellcheck is not installed (make install: requirements-lint.txt), so "
            "the run: scripts were NOT shellchecked"
        )
    proc = actionlint(f"-shellcheck={shellcheck}")
    assert proc.returncode == 0 and not proc.stdout.strip(), (
        f"actionlint + shellcheck (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}"
    )


def test_actionlint_with_shellcheck_finds_a_planted_bug(tmp_path) -> None:
    """The check above can fail: an unquoted variable is reported."""
    shellcheck = tool("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed: nothing to prove")
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo $HOME/*.txt\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [tool("actionlint"), "-no-color", f"-shellcheck={shellcheck}", str(bad)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and "SC2086" in proc.stdout, proc.stdout


# --- supply chain ------------------------------------------------------------------

PINNED = re.compile(
    r"^\s*(?:- )?uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # v\d+(\.\d+)*$"
)


def test_every_action_is_pinned_to_a_commit_sha_with_its_tag() -> None:
    lines = [
        line
        for line in WORKFLOW.read_text(encoding="utf-8").splitlines()
        if re.match(r"^\s*(- )?uses:", line)
    ]
    assert lines, "no action used?"
    for line in lines:
        assert PINNED.match(line), f"not pinned to a full SHA with its tag: {line}"


def test_only_the_comment_job_can_write_and_it_runs_no_project_code(
    workflow: dict,
) -> None:
    assert workflow["permissions"] == {"contents": "read"}
    writers = {
        name: job
        for name, job in workflow["jobs"].items()
        if "write" in (job.get("permissions") or {}).values()
    }
    assert list(writers) == ["comment"], f"jobs with a write token: {list(writers)}"
    comment = writers["comment"]
    assert comment["permissions"] == {"pull-requests": "write"}
    assert comment["needs"] == "repro"
    assert "head.repo.full_name == github.repository" in comment["if"]
    actions = [s["uses"].split("@")[0] for s in steps(comment) if "uses" in s]
    assert actions == ["actions/download-artifact"]
    scripts = [s["run"] for s in steps(comment) if "run" in s]
    assert len(scripts) == 1 and scripts[0].startswith("gh pr comment")
    assert "--body-file report.md" in scripts[0]
    for name, job in workflow["jobs"].items():
        if name != "comment":
            assert job.get("permissions", {"contents": "read"}) == {
                "contents": "read"
            }, name


def test_checkouts_do_not_keep_the_token(workflow: dict) -> None:
    checkouts = [
        s
        for job in workflow["jobs"].values()
        for s in steps(job)
        if uses(s, "actions/checkout")
    ]
    assert checkouts
    for step in checkouts:
        assert step["with"]["persist-credentials"] is False


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
        # The oldest Python and the newest that the lock has wheels for.
        assert job["strategy"]["matrix"]["python"] == [PYTHONS[0], PYTHONS[-1]]
        assert python["with"]["python-version"] == "${{ matrix.python }}"
        assert python["with"]["cache"] == "pip"
        assert python["with"]["cache-dependency-path"] == "requirements.lock"


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
