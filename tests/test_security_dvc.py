"""No params.yaml value ever reaches a shell: real ``dvc repro`` / ``dvc exp run``.

DVC runs each stage's ``cmd`` through the shell. A ``foreach`` stage used to pass
its item key on the command line (``python stages/backtest.py ${key}``), so a
backtest or task named ``x;touch pwned;true`` ran ``touch`` before the stage's
own name check. Now the stages read the key from DVC's ``DVC_STAGE`` variable:
each test below names a stage with a shell payload that would create a marker
file, runs real DVC on it, and checks that the marker was never created and the
stage stopped with the project's one-line name error instead.

Only TensorFlow-free stages run (ingest, window, split, and the name checks of
ablation and backtest, which fail before any import of TensorFlow).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT
from test_pipeline import Project, make_project, tiny_params

from mtlstm.errors import ConfigError, foreach_key

NAME_ERROR = "names? (must )?start with a letter and hold only letters"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    """A pipeline whose TensorFlow-free upstream stages are up to date."""
    params = tiny_params()
    params["train"]["epochs"] = 1
    scratch = tmp_path_factory.mktemp("dvc-scratch")
    project = make_project(tmp_path_factory.mktemp("sec") / "repo", scratch, params)
    project.dvc("repro", "split")  # ingest, window, split: no TensorFlow
    project.run("git", "add", "-A")
    project.run("git", "commit", "-q", "-m", "upstream stages")
    return project


@pytest.fixture
def clean(project: Project):
    """Restore params.yaml and drop markers after each test."""
    saved = (project.root / "params.yaml").read_text(encoding="utf-8")
    yield project
    (project.root / "params.yaml").write_text(saved, encoding="utf-8")
    for marker in project.root.glob("pwned*"):
        marker.unlink()


def no_marker(project: Project, proc: subprocess.CompletedProcess, marker: str):
    out = proc.stdout + proc.stderr
    assert not (project.root / marker).exists(), f"the shell ran the payload:\n{out}"
    assert proc.returncode != 0, out
    return out


def test_dvc_repro_never_runs_a_backtest_name(clean: Project):
    key = "x;touch pwned_repro;true"
    clean.set_params(lambda p: p["backtest"].update({key: {"folds": 1}}))
    proc = clean.dvc("repro", f"backtest@{key}", check=False)
    out = no_marker(clean, proc, "pwned_repro")
    assert f"Running stage 'backtest@{key}'" in out
    # The stage itself ran, without the key, and refused the name in one line.
    assert "error: backtest: params.yaml: backtest.x;touch" in out
    assert "(the name becomes the stage backtest@<name>)" in out


def test_dvc_repro_never_runs_a_task_name(clean: Project):
    key = "t$(touch pwned_task)"
    task = {"type": "regression", "target": "Demand", "horizon": 1}

    def change(p):
        p["tasks"][key] = task
        p["train"]["loss_weights"][key] = 1.0

    clean.set_params(change)
    # --single-item: only ablation@<key>, the one stage whose command held the key
    proc = clean.dvc("repro", "--single-item", f"ablation@{key}", check=False)
    out = no_marker(clean, proc, "pwned_task")
    assert f"Running stage 'ablation@{key}'" in out
    assert "error: ablation: params.yaml: tasks.t$(touch pwned_task): task names" in out


def test_dvc_exp_run_set_param_never_runs_a_backtest_name(clean: Project):
    # Hydra's override grammar allows `|` and spaces in a dict key; `++` adds it.
    key = "x|touch pwned_exp"
    proc = clean.dvc(
        "exp",
        "run",
        "-S",
        f"++backtest={{{key}: {{folds: 1}}}}",
        f"backtest@{key}",
        check=False,
    )
    out = no_marker(clean, proc, "pwned_exp")
    assert f"Running stage 'backtest@{key}'" in out
    assert "error: backtest: params.yaml: backtest.x|touch pwned_exp" in out
    assert yaml.safe_load((clean.root / "params.yaml").read_text())["backtest"] == {
        key: {"folds": 1}
    }


def test_stage_commands_pass_no_params_value():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    for name, stage in stages.items():
        cmd = stage.get("do", stage)["cmd"]
        assert "${" not in cmd, f"stage {name}: {cmd!r} interpolates a value"


# --- the key outside DVC ----------------------------------------------------


def test_key_comes_from_dvc_stage(monkeypatch):
    monkeypatch.setenv("DVC_STAGE", "ablation@demand")
    assert foreach_key("ablation", []) == "demand"
    monkeypatch.setenv("DVC_STAGE", "sub/dvc.yaml:ablation@a@b")
    assert foreach_key("ablation", []) == "a@b"


def test_key_by_hand_is_the_one_argument(monkeypatch):
    monkeypatch.delenv("DVC_STAGE", raising=False)
    assert foreach_key("backtest", ["rolling3"]) == "rolling3"


@pytest.mark.parametrize(
    ("argv", "env", "match"),
    [
        ([], None, "usage: python stages/ablation.py <key>.*DVC_STAGE is unset"),
        (["a", "b"], None, "usage: .*got 2 arguments"),
        ([], "train", "usage: .*DVC_STAGE is 'train'"),
    ],
)
def test_key_missing_is_a_usage_error(monkeypatch, argv, env, match):
    if env is None:
        monkeypatch.delenv("DVC_STAGE", raising=False)
    else:
        monkeypatch.setenv("DVC_STAGE", env)
    with pytest.raises(ConfigError, match=match):
        foreach_key("ablation", argv)


def test_stage_run_by_hand_without_a_key_says_how(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DVC_STAGE"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "backtest.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: backtest: usage: python stages/backtest.py")
    assert len(proc.stderr.strip().splitlines()) == 1
