"""How errors reach the user: one line, the right exit code, no bare traceback."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mtlstm.errors import DataError, run_stage

ROOT = Path(__file__).resolve().parents[1]


def failing(exc: BaseException):
    def main() -> None:
        raise exc

    return main


def test_a_user_error_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_stage("ingest", failing(DataError("data/raw/a.csv line 3: bad")))
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: ingest: data/raw/a.csv line 3: bad\n"


def test_an_unexpected_error_is_a_bug_line_with_its_traceback_file(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        run_stage("window", failing(ZeroDivisionError("division by zero")))
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: window: an internal error, a bug in mtlstm")
    assert "ZeroDivisionError: division by zero" in err
    assert "logs/window-traceback.txt" in err
    log = (tmp_path / "logs" / "window-traceback.txt").read_text()
    assert "Traceback (most recent call last)" in log
    assert "ZeroDivisionError: division by zero" in log


@pytest.mark.parametrize(
    ("code", "reason", "fix"),
    [
        (errno.EACCES, "Permission denied", "check the permissions of the folder"),
        (errno.ENOSPC, "No space left on device", "free some disk space"),
        (errno.EROFS, "Read-only file system", "run in a writable copy"),
    ],
)
def test_a_machine_problem_names_the_file_and_the_fix_not_a_bug(
    tmp_path, monkeypatch, capsys, code, reason, fix
):
    """An unwritable folder, a full disk: the machine's doing, not a bug in
    mtlstm nor in the input; it was reported as a bug, with a traceback file."""
    monkeypatch.chdir(tmp_path)
    exc = OSError(code, reason, "models/.resume/state.json")
    with pytest.raises(SystemExit) as exit_info:
        run_stage("train", failing(exc))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: train: models/.resume/state.json: {reason}; {fix}")
    assert err.count("\n") == 1
    assert not (tmp_path / "logs").exists()


def test_the_cli_says_a_machine_problem_in_one_line(tmp_path, monkeypatch, capsys):
    from mtlstm import cli

    def unwritable(args) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", "out.csv")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "_compare", unwritable)
    assert cli.main(["compare"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: compare: out.csv: Permission denied; check the")
    assert not (tmp_path / "logs").exists()


def test_another_os_error_is_still_a_bug(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        run_stage("train", failing(OSError(errno.EIO, "Input/output error")))
    assert exit_info.value.code == 1
    assert "a bug in mtlstm" in capsys.readouterr().err


def test_a_long_multi_line_message_is_cut_to_one_short_line(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        run_stage("train", failing(ValueError("x" * 5000 + "\nsecond line")))
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err) < 600
    assert "second line" not in err


def test_the_cli_reports_a_bug_without_a_bare_traceback(tmp_path):
    bundle = tmp_path / "bundle.json"
    # Every key of a bundle, but `ingest` is no mapping: a TypeError inside.
    keys = ("lookback", "timezone", "inputs", "tasks", "feature_names")
    bundle.write_text(json.dumps({**dict.fromkeys(keys, 0), "ingest": 5}))
    (tmp_path / "x.csv").write_text("Time,x\n2024-01-01T00:00Z,1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "mtlstm.cli", "predict", "--bundle", str(bundle),
         "--input", "x.csv", "--output", "y.csv"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "an internal error, a bug in mtlstm" in proc.stderr
    assert (tmp_path / "logs" / "predict-traceback.txt").is_file()


@pytest.mark.parametrize(
    ("exc", "stage", "producer"),
    [
        (
            FileNotFoundError(2, "No such file", "data/windows/preprocess.json"),
            "split",
            "window",
        ),
        # pyarrow names no `filename`: the path is read from its message.
        (
            FileNotFoundError(
                "[Errno 2] Failed to open local file 'data/ingested.parquet'."
            ),
            "window",
            "ingest",
        ),
        # An out of a foreach stage (`${key}`) matches any key.
        (
            FileNotFoundError(2, "No such file", "predictions/single_task/demand.npz"),
            "evaluate",
            "ablation",
        ),
    ],
)
def test_a_stage_run_by_hand_before_its_inputs_says_what_to_run(
    tmp_path, monkeypatch, capsys, exc, stage, producer
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    with pytest.raises(SystemExit) as exit_info:
        run_stage(stage, failing(exc))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"stage {producer} writes it" in err
    assert f"Run `dvc repro {stage}`" in err
    assert "internal error" not in err and not (tmp_path / "logs").exists()


@pytest.mark.parametrize(
    "missing", ["src/mtlstm/gone.py", "data/other.parquet", "/abs/data/split"]
)
def test_a_missing_file_no_stage_writes_is_still_a_bug(
    tmp_path, monkeypatch, capsys, missing
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    with pytest.raises(SystemExit) as exit_info:
        run_stage("split", failing(FileNotFoundError(2, "No such file", missing)))
    assert exit_info.value.code == 1
    assert "an internal error" in capsys.readouterr().err


def test_window_run_by_hand_without_ingest_says_run_dvc_repro(tmp_path):
    for name in ("dvc.yaml", "params.yaml"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    done = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "window.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == (
        "error: window: data/ingested.parquet does not exist: stage ingest "
        "writes it, and it has not run here. Run `dvc repro window`, which runs "
        "the stages before it first, or `dvc repro` for the whole pipeline"
    )
    assert not (tmp_path / "data").exists()
