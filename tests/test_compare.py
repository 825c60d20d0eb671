"""`mtlstm compare` on hand-built metrics: the tables are written out in full."""

from __future__ import annotations

import copy
import json

import pytest

from mtlstm import cli
from mtlstm.compare import (
    direction,
    is_better,
    pick_experiments,
    read_runs,
    render,
    render_spread,
)
from mtlstm.errors import MtlstmError
from mtlstm.metrics import task_summary

SCORES = {
    "demand": {
        "mae": 40.0,
        "rmse": 50.0,
        "smape": 0.875,
        "skill": {"single_task": 0.2, "persistence": 0.8},
        "single_task": {"mae": 50.0, "rmse": 49.0, "smape": 1.0},
        "baselines": {"persistence": {"mae": 200.0, "rmse": 250.0, "smape": 4.5}},
    },
    "temp_class": {
        "log_loss": 0.25,
        "accuracy": 0.9,
        "macro_f1": 0.85,
        "skill": {"majority": 0.96875},
        "baselines": {
            "majority": {"log_loss": 8.0, "accuracy": 0.5, "macro_f1": 0.2},
        },
    },
}
LEGEND = (
    "↓ lower is better, ↑ higher is better, **bold**: the best in its column.\n"
    "skill: 1 - model error / that forecaster's error, on the task's primary\n"
    "error (the first column); above 0 the model is better.\n"
)
ONE = (
    "## demand\n"
    "\n"
    "| forecaster  |     mae ↓ |    rmse ↓ |    smape ↓ | skill ↑ |\n"
    "|:------------|----------:|----------:|-----------:|--------:|\n"
    "| model       | **40.00** |     50.00 | **0.8750** |         |\n"
    "| single_task |     50.00 | **49.00** |      1.000 |  +0.200 |\n"
    "| persistence |     200.0 |     250.0 |      4.500 |  +0.800 |\n"
    "\n"
    "## temp_class\n"
    "\n"
    "| forecaster | log_loss ↓ | accuracy ↑ | macro_f1 ↑ | skill ↑ |\n"
    "|:-----------|-----------:|-----------:|-----------:|--------:|\n"
    "| model      | **0.2500** | **0.9000** | **0.8500** |         |\n"
    "| majority   |      8.000 |     0.5000 |     0.2000 |  +0.969 |\n"
    "\n" + LEGEND
)


def test_one_run_one_table_per_task() -> None:
    assert render({"workspace": SCORES}) == ONE


def test_two_experiments_one_model_row_each_and_shared_references() -> None:
    other = copy.deepcopy(SCORES)
    other["demand"].update(mae=30.0)
    other["demand"]["skill"] = {"single_task": 0.25, "persistence": 0.85}
    other["demand"]["single_task"]["mae"] = 40.0  # a new training budget
    del other["temp_class"]
    assert render({"exp-a": SCORES, "exp-b": other}) == (
        "## demand\n"
        "\n"
        "| forecaster          |     mae ↓ |    rmse ↓ |    smape ↓ "
        "| skill exp-a ↑ | skill exp-b ↑ |\n"
        "|:--------------------|----------:|----------:|-----------:"
        "|--------------:|--------------:|\n"
        "| model (exp-a)       |     40.00 |     50.00 | **0.8750** "
        "|               |               |\n"
        "| model (exp-b)       | **30.00** |     50.00 | **0.8750** "
        "|               |               |\n"
        "| single_task (exp-a) |     50.00 | **49.00** |      1.000 "
        "|        +0.200 |               |\n"
        "| single_task (exp-b) |     40.00 | **49.00** |      1.000 "
        "|               |        +0.250 |\n"
        "| persistence         |     200.0 |     250.0 |      4.500 "
        "|        +0.800 |        +0.850 |\n"
        "\n"
        "## temp_class\n"
        "\n"
        "| forecaster | log_loss ↓ | accuracy ↑ | macro_f1 ↑ | skill ↑ |\n"
        "|:-----------|-----------:|-----------:|-----------:|--------:|\n"
        "| model      | **0.2500** | **0.9000** | **0.8500** |         |\n"
        "| majority   |      8.000 |     0.5000 |     0.2000 |  +0.969 |\n"
        "\n" + LEGEND
    )


def test_directions() -> None:
    assert direction("demand.mae") == "lower"
    assert direction("temp_class.log_loss") == "lower"
    assert direction("temp_class.baselines.hgb_lag.accuracy") == "higher"
    assert direction("demand.skill.hgb_lag") == "higher"
    assert direction("demand.skill.hgb_lag.ci_low") == "higher"
    assert direction("demand.skill_low.hgb_lag") == "higher"
    assert direction("demand.skill_high.single_task") == "higher"
    assert direction("temp_class.macro_f1_diff.hgb_lag") == "higher"
    assert direction("temp_class.macro_f1_diff_low.hgb_lag") == "higher"
    assert direction("step") is None
    assert is_better("demand.mae", 2.0, 1.0) is True
    assert is_better("demand.mae", 1.0, 2.0) is False
    assert is_better("x.accuracy", 0.5, 0.6) is True
    assert is_better("x.accuracy", 0.5, 0.5) is None
    assert is_better("size", 1, 2) is None


def test_task_summary_puts_the_primary_error_first() -> None:
    report = {
        "model": {"accuracy": 0.9, "macro_f1": 0.85, "log_loss": 0.25},
        "baselines": {
            "majority": {"accuracy": 0.5, "macro_f1": 0.2, "log_loss": 8.0},
        },
        "single_task": {"accuracy": 0.8, "macro_f1": 0.7, "log_loss": 0.5},
        "skill": {
            "vs_majority": {"value": 0.97, "ci_low": 0.9, "ci_high": 0.99},
            "vs_single_task": {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6},
        },
        "macro_f1_diff": {
            "vs_majority": {"value": 0.65, "ci_low": 0.6, "ci_high": 0.7},
            "vs_single_task": {"value": 0.15, "ci_low": -0.01, "ci_high": 0.3},
        },
    }
    summary = task_summary({"type": "classification"}, report)
    assert json.dumps(summary) == json.dumps(
        {
            "log_loss": 0.25,
            "accuracy": 0.9,
            "macro_f1": 0.85,
            "skill": {"majority": 0.97, "single_task": 0.5},
            "skill_low": {"majority": 0.9, "single_task": 0.4},
            "skill_high": {"majority": 0.99, "single_task": 0.6},
            "macro_f1_diff": {"majority": 0.65, "single_task": 0.15},
            "macro_f1_diff_low": {"majority": 0.6, "single_task": -0.01},
            "macro_f1_diff_high": {"majority": 0.7, "single_task": 0.3},
            "single_task": {"log_loss": 0.5, "accuracy": 0.8, "macro_f1": 0.7},
            "baselines": {
                "majority": {"log_loss": 8.0, "accuracy": 0.5, "macro_f1": 0.2}
            },
        }
    )
    # A regression baseline's counters are not scores: left out.
    regression = {
        "model": {"mae": 1.0, "rmse": 2.0, "smape": 3.0},
        "baselines": {
            "seasonal_naive": {
                "mae": 2.0,
                "rmse": 3.0,
                "smape": 4.0,
                "persistence_fallbacks": 0,
            }
        },
        "skill": {"vs_seasonal_naive": {"value": 0.5}},
    }
    summary = task_summary({"type": "regression"}, regression)
    assert summary["baselines"] == {
        "seasonal_naive": {"mae": 2.0, "rmse": 3.0, "smape": 4.0}
    }
    assert "single_task" not in summary  # the ablation was switched off
    # A skill given as a point only (no bootstrap) has no bounds to show.
    assert summary["skill"] == {"seasonal_naive": 0.5}
    assert "skill_low" not in summary and "skill_high" not in summary


def exp_show(scores_by_name: dict[str, dict | None]) -> list[dict]:
    """The shape of `dvc exp show --json`: workspace, a baseline, experiments."""

    def data(scores):
        metrics = {} if scores is None else {"metrics/scores.json": {"data": scores}}
        return {"metrics": metrics}

    return [
        {"rev": "workspace", "name": None, "data": data(SCORES)},
        {
            "rev": "a" * 40,
            "name": "main",
            "data": data(SCORES),
            "experiments": [
                {"revs": [{"rev": f"{i}" * 40, "name": n, "data": data(s)}]}
                for i, (n, s) in enumerate(scores_by_name.items(), start=1)
            ],
        },
    ]


def test_spread_over_repeated_runs_gives_mean_range_and_wins() -> None:
    """Three runs of one setting: per score the mean [lowest, highest], one
    value where every run agrees, and k/N: the model better in k of N runs (a
    tie is not better); a task or reference missing from a run counts only
    the runs that have it."""
    second = copy.deepcopy(SCORES)
    second["demand"]["mae"] = 30.0
    second["demand"]["single_task"]["mae"] = 40.0
    third = copy.deepcopy(SCORES)
    third["demand"]["mae"] = 60.0  # worse than its single-task model's 50
    third["demand"]["single_task"]["rmse"] = 50.0  # a tie with the model's 50
    del third["temp_class"]
    runs = {"seed-a": SCORES, "seed-b": second, "seed-c": third}
    assert render_spread(runs) == (
        "## demand (3 runs: seed-a, seed-b, seed-c)\n"
        "\n"
        "| forecaster  |                    mae ↓ |                   rmse ↓ "
        "|   smape ↓ |\n"
        "|:------------|-------------------------:|-------------------------:"
        "|----------:|\n"
        "| model       |     43.33 [30.00, 60.00] |                    50.00 "
        "|    0.8750 |\n"
        "| single_task | 46.67 [40.00, 50.00] 2/3 | 49.33 [49.00, 50.00] 0/3 "
        "| 1.000 3/3 |\n"
        "| persistence |                200.0 3/3 |                250.0 3/3 "
        "| 4.500 3/3 |\n"
        "\n"
        "## temp_class (2 runs: seed-a, seed-b)\n"
        "\n"
        "| forecaster | log_loss ↓ | accuracy ↑ | macro_f1 ↑ |\n"
        "|:-----------|-----------:|-----------:|-----------:|\n"
        "| model      |     0.2500 |     0.9000 |     0.8500 |\n"
        "| majority   |  8.000 2/2 | 0.5000 2/2 | 0.2000 2/2 |\n"
        "\n"
        "↓ lower is better, ↑ higher is better. Each cell: the mean over the runs\n"
        "[lowest, highest] (one value: the same in every run); k/N: the model's\n"
        "score is better than that forecaster's in k of the N runs.\n"
    )


def test_spread_needs_two_runs(tmp_path, monkeypatch, capsys) -> None:
    with pytest.raises(MtlstmError, match=r"--spread needs two or more runs.*got 1"):
        render_spread({"workspace": SCORES})
    monkeypatch.chdir(tmp_path)
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/scores.json").write_text(json.dumps(SCORES))
    assert cli.main(["compare", "--spread"]) == 2
    err = capsys.readouterr().err
    assert "--spread needs two or more runs to spread over, got 1" in err
    assert "make seeds" in err


def test_pick_experiments_by_name_commit_or_workspace() -> None:
    other = {"demand": SCORES["demand"]}
    shown = exp_show({"oleic-jinn": other, "broken": None})
    picked = pick_experiments(shown, ["oleic-jinn", "workspace", "aaaa"])
    assert picked == {"oleic-jinn": other, "workspace": SCORES, "main": SCORES}
    assert list(pick_experiments(shown, ["1111111"])) == ["oleic-jinn"]
    with pytest.raises(MtlstmError, match=r"no experiment 'nope' .*known: .*main"):
        pick_experiments(shown, ["nope"])
    with pytest.raises(MtlstmError, match=r"experiment 'broken' has no metrics/"):
        pick_experiments(shown, ["broken"])


def test_cli_reads_the_workspace_file(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["compare"]) == 2
    assert "metrics/scores.json not found; run `dvc repro`" in capsys.readouterr().err
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/scores.json").write_text(json.dumps(SCORES))
    assert cli.main(["compare"]) == 0
    assert capsys.readouterr().out == ONE


def test_runs_can_be_project_folders_or_scores_files(tmp_path, monkeypatch, capsys):
    """A copy of the project (its metrics/scores.json) or a scores file is a
    run, labelled as named, in the order named; no `dvc exp show` is needed
    when every run is on disk."""
    second = copy.deepcopy(SCORES)
    second["demand"]["mae"] = 30.0
    for folder, scores in (("work", SCORES), ("work-seeds/seed-1", second)):
        (tmp_path / folder / "metrics").mkdir(parents=True)
        (tmp_path / folder / "metrics/scores.json").write_text(json.dumps(scores))
    (tmp_path / "third.json").write_text(json.dumps(SCORES))
    monkeypatch.chdir(tmp_path)
    named = ["work-seeds/seed-1", "work", "third.json"]
    assert read_runs(named) == {
        "work-seeds/seed-1": second,
        "work": SCORES,
        "third.json": SCORES,
    }
    assert cli.main(["compare", "--spread", *named]) == 0
    out = capsys.readouterr().out
    assert "## demand (3 runs: work-seeds/seed-1, work, third.json)" in out
    assert "| model       | 36.67 [30.00, 40.00] |" in out


def test_a_folder_without_scores_or_a_run_named_twice_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        MtlstmError,
        match=r"empty/metrics/scores.json not found: 'empty' is a folder but not "
        r"a project whose pipeline has run; run `dvc repro` there first",
    ):
        read_runs(["empty"])
    (tmp_path / "s.json").write_text(json.dumps(SCORES))
    with pytest.raises(MtlstmError, match=r"named more than once: 's.json'"):
        read_runs(["s.json", "x", "s.json"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"demand": {"mae": 1', r"bad.json is not valid JSON \(Expecting"),
        ("[1, 2]", r"bad.json is not a scores file: not an object of tasks"),
        # metrics/evaluate.json, the file beside it: per task nested reports.
        (
            json.dumps({"demand": {"model": {"mae": 1.0}, "skill": {}}}),
            r"bad.json is not a scores file: task 'demand' holds no score of the "
            r"model",
        ),
    ],
)
def test_a_file_that_is_not_a_scores_file_is_refused(
    tmp_path, monkeypatch, capsys, text, message
) -> None:
    """A truncated scores file was reported as an internal error of mtlstm (a
    bug, with a traceback file), and a JSON file of another shape (such as
    metrics/evaluate.json) made a table of dashes whose spread counted the
    model as beating every reference; each is now an error naming the file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.json").write_text(json.dumps(SCORES))
    (tmp_path / "bad.json").write_text(text)
    with pytest.raises(MtlstmError, match=message):
        read_runs(["good.json", "bad.json"])
    assert cli.main(["compare", "--spread", "good.json", "bad.json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "error: compare: bad.json is not" in captured.err
    assert "metrics/scores.json" in captured.err
    assert not (tmp_path / "logs").exists()  # no bug report


def test_spread_and_bold_know_the_pinball_loss_is_lower_is_better() -> None:
    """A quantile task's scores.json holds pinball (lower is better) and the
    coverage and width of each interval (no better direction): the model's
    lower pinball loss in both runs is 2/2, not 0/2, and a score without a
    direction gets no k/N at all (0/N would claim the model never wins)."""

    def run(mae: float, pinball: float) -> dict:
        return {
            "demand": {
                "mae": mae,
                "pinball": pinball,
                "coverage_80": 0.8,
                "skill": {"persistence": 0.1},
                "baselines": {
                    "persistence": {"mae": 12.0, "pinball": 4.0, "coverage_80": 0.7}
                },
            }
        }

    assert direction("demand.pinball") == "lower"
    assert is_better("demand.pinball", 4.0, 3.0) is True
    spread = render_spread({"a": run(10.0, 3.0), "b": run(11.0, 3.5)})
    row = next(line for line in spread.splitlines() if "| persistence" in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells == ["persistence", "12.00 2/2", "4.000 2/2", "0.7000"]
    table = render({"a": run(10.0, 3.0)})
    assert "pinball ↓" in table and "**3.000**" in table
