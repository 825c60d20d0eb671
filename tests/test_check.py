"""`mtlstm check` and the schema report every problem in one run; `--help` text."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from conftest import make_project, write_params

from mtlstm.cli import main
from mtlstm.config import ConfigProblems, load_params
from mtlstm.errors import ConfigError


def broken(raw: dict) -> dict:
    """Four independent mistakes in four sections."""
    raw["train"]["bogus"] = 1  # unknown key (found while parsing)
    raw["tasks"]["demand"]["horizon"] = 0  # a task check
    raw["window"]["lookback"] = 0  # a section check
    raw["features"]["timezone"] = "Mars/Olympus"  # another section check
    return raw


def test_load_params_raises_every_problem_together(tmp_path, raw_params):
    path = write_params(tmp_path, broken(raw_params))
    with pytest.raises(ConfigProblems) as info:
        load_params(path)
    problems = info.value.problems
    assert len(problems) == 4, problems
    assert all(p.startswith(f"{path}: ") for p in problems)
    wanted = [
        r"train: unknown key\(s\) bogus",
        r"tasks\.demand\.horizon: must be >= 1, got 0",
        r"window\.lookback: must be >= 1, got 0",
        r"features\.timezone: 'Mars/Olympus' is not a known IANA time zone",
    ]
    for pattern in wanted:
        assert sum(bool(re.search(pattern, p)) for p in problems) == 1
    # A stage prints one line: the first problem and how many more there are.
    assert str(info.value).startswith(f"{path}: train: unknown key(s) bogus")
    assert str(info.value).endswith(
        "(and 3 more problem(s); `mtlstm check` lists them all)"
    )


def test_one_problem_reads_as_before(tmp_path, raw_params):
    raw_params["window"]["lookback"] = 0
    with pytest.raises(ConfigError, match=r"window\.lookback: must be >= 1, got 0$"):
        load_params(write_params(tmp_path, raw_params))


def test_problems_in_two_tasks_and_two_train_keys_are_all_reported(
    tmp_path, raw_params
):
    raw_params["tasks"]["demand"]["horizon"] = -1
    raw_params["tasks"]["temp_class"]["classes"] = ["only_one"]
    raw_params["train"]["dropout"] = 1.5
    raw_params["train"]["layers"] = [0]
    with pytest.raises(ConfigProblems) as info:
        load_params(write_params(tmp_path, raw_params))
    text = "\n".join(info.value.problems)
    assert len(info.value.problems) == 4, text
    for part in (
        "tasks.demand.horizon: must be >= 1, got -1",
        "tasks.temp_class.classes: list at least two class labels",
        "train.dropout: must be in [0, 1), got 1.5",
        "train.layers: list one or more positive unit counts",
    ):
        assert part in text


def test_a_check_needing_a_broken_section_is_skipped_not_repeated(tmp_path, raw_params):
    # tasks fails to parse: train.loss_weights (checked against the task names)
    # must not add a second, derived complaint.
    raw_params["tasks"]["demand"]["type"] = "forecast"
    raw_params["split"]["train"] = "most"
    with pytest.raises(ConfigProblems) as info:
        load_params(write_params(tmp_path, raw_params))
    problems = info.value.problems
    assert len(problems) == 2, problems
    assert "tasks.demand.type: 'forecast' is not one of" in problems[0]
    assert "split.train: expected a number, got 'most'" in problems[1]


def hourly_project(tmp_path, raw_params, freq: str):
    """A project on a 200-row hourly CSV without time zones."""
    raw_params["ingest"]["source"] = "data/raw/load.csv"
    raw_params["ingest"]["freq"] = freq
    project = make_project(tmp_path, raw_params)
    times = pd.date_range("2024-01-01", periods=200, freq="1h")
    pd.DataFrame(
        {
            "Time": times.strftime("%Y-%m-%d %H:%M"),
            "Demand": np.arange(200.0),
            "Temperature": 20.0,
            "Holiday": "no",
        }
    ).to_csv(project / "data/raw/load.csv", index=False)
    return project


def test_cli_check_prints_every_error_of_params_and_data(tmp_path, raw_params, capsys):
    project = hourly_project(tmp_path, raw_params, "1h")
    csv = project / "data/raw/load.csv"
    csv.write_text(csv.read_text().replace(",no\n", ",maybe\n", 1))  # bad boolean
    raw_params["train"]["bogus"] = 1
    raw_params["window"]["lookback"] = 0
    path = write_params(project, raw_params)
    assert main(["check", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3, lines
    assert all(line.startswith("error: check: ") for line in lines)
    assert "train: unknown key(s) bogus" in lines[0]
    assert "window.lookback: must be >= 1, got 0" in lines[1]
    # The source is read although params.yaml has problems elsewhere.
    assert (
        "data/raw/load.csv line 2: column 'Holiday' is declared boolean but holds "
        "'maybe'" in lines[2]
    )


def test_cli_check_reports_every_bad_column_of_the_source(tmp_path, raw_params, capsys):
    project = hourly_project(tmp_path, raw_params, "1h")
    csv = project / "data/raw/load.csv"
    lines = csv.read_text().splitlines()
    lines[3] = "2024-01-01 02:00,lots,warm,no"
    csv.write_text("\n".join(lines) + "\n")
    assert main(["check", str(project / "params.yaml")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2, err
    assert "line 4: column 'Demand' is declared numeric but holds 'lots'" in err[0]
    assert "line 4: column 'Temperature' is declared numeric but holds 'warm'" in err[1]


def test_cli_check_warns_when_freq_is_finer_than_the_data(tmp_path, raw_params, capsys):
    # Hourly rows on a 30 min grid: every other step is filled forward.
    project = hourly_project(tmp_path, raw_params, "30min")
    assert main(["check", str(project / "params.yaml")]) == 0
    out, err = capsys.readouterr()
    assert "ok (2 task(s)" in out
    assert err.startswith(
        "warning: check: 199 of 399 grid steps (50%) at 30min were filled forward, "
        "more than 10%; is ingest.freq finer than the data's own step?"
    )
    # The data's own step: no warning.
    hourly_project(tmp_path, raw_params, "1h")
    assert main(["check", str(project / "params.yaml")]) == 0
    assert capsys.readouterr().err == ""


def test_cli_check_params_only_skips_the_data(tmp_path, raw_params, capsys):
    raw_params["ingest"]["source"] = "data/raw/missing.csv"
    project = make_project(tmp_path, raw_params)
    assert main(["check", "--params-only", str(project / "params.yaml")]) == 0
    assert main(["check", str(project / "params.yaml")]) == 2
    assert "data/raw/missing.csv: file not found" in capsys.readouterr().err


def test_help_describes_the_command_and_each_subcommand(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "multi-task LSTM trained by a DVC pipeline" in out
    assert "validate params.yaml and the data it points at" in out
    assert "forecast from new data with a trained model" in out
    for command, phrase in (
        ("check", "Every problem is printed, one line each"),
        ("predict", "Keep the input outside data/raw/"),
    ):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert phrase in " ".join(capsys.readouterr().out.split())


def test_a_huge_list_of_bad_items_stops_after_max_problems(tmp_path, raw_params):
    from mtlstm.config import MAX_PROBLEMS

    raw_params["train"]["layers"] = ["x"] * 100_000
    with pytest.raises(ConfigProblems) as info:
        load_params(write_params(tmp_path, raw_params))
    problems = info.value.problems
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[0].endswith("train.layers[0]: expected an integer, got 'x'")
    assert problems[-1].endswith(f"train.layers: stopped after {MAX_PROBLEMS} problems")
