"""scripts/decision_offsets.py: cross-fitted class offsets on hand-built cases."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import load_script

# Class 1 is always 0.5 less likely than the truth says: argmax never names it.
ACTUAL = np.array([0, 1] * 10)
LOG_PROBA = np.log(np.array([[0.8, 0.2], [0.6, 0.4]])[ACTUAL])


def test_argmax_alone_scores_the_biased_probabilities():
    script = load_script("decision_offsets")
    # Always class 0: F1 2/3 on class 0 (P 1/2, R 1) and 0 on class 1.
    got = script.cross_fitted(ACTUAL, LOG_PROBA, [np.zeros(2)])
    assert got == pytest.approx(1 / 3)


def test_offsets_chosen_on_one_half_fix_the_other():
    script = load_script("decision_offsets")
    candidates = script.rules(2, np.log([0.5, 0.5]))["offsets"]
    # log(0.4/0.6) = -0.405 < offset < log(0.8/0.2) = 1.386 names every window right.
    assert script.cross_fitted(ACTUAL, LOG_PROBA, candidates) == 1.0


def test_best_takes_the_first_of_tied_candidates():
    script = load_script("decision_offsets")
    first, second = np.array([0.0, 1.0]), np.array([0.0, 1.2])
    assert script.best([first, second], ACTUAL, LOG_PROBA) is first


def test_the_prior_rule_is_one_t_times_minus_the_log_prior():
    script = load_script("decision_offsets")
    log_prior = np.log([0.75, 0.25])
    found = script.rules(2, log_prior)
    assert len(found["argmax"]) == 1
    assert len(found["offsets"]) == script.GRID.size  # first class fixed at 0
    assert [c.tolist() for c in found["prior_t"]] == [
        (-t * log_prior).tolist() for t in script.TEMPERATURES
    ]


def test_help_prints_usage_without_reading_a_project(tmp_path, monkeypatch, capsys):
    # --help in a folder without data/windows: usage, exit 0, no traceback.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        load_script("decision_offsets").main(["--help"])
    assert exit_info.value.code == 0
    assert "usage: decision_offsets.py" in capsys.readouterr().out
