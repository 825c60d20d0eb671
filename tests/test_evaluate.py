"""Stage evaluate's check of the test split before it scores anything
(stages/evaluate.py, loaded as a script: it imports TensorFlow)."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest

from mtlstm.errors import DataError

EVALUATE = Path(__file__).resolve().parents[1] / "stages" / "evaluate.py"


@pytest.fixture(scope="module")
def stage():
    return runpy.run_path(str(EVALUATE))


@pytest.fixture(scope="module")
def check_bootstrap_length(stage):
    return stage["check_bootstrap_length"]


def test_a_test_split_of_one_season_or_less_is_refused(check_bootstrap_length):
    # Exactly one season: one bootstrap block would hold every test window and
    # every interval would have zero width (uncertainty.percentile_interval).
    check_bootstrap_length(25, None, 24)
    with pytest.raises(
        DataError, match=r"24 test windows, only one season \(baselines.season = 24\)"
    ):
        check_bootstrap_length(24, None, 24)
    with pytest.raises(DataError, match=r"23 test windows, fewer than one season"):
        check_bootstrap_length(23, None, 24)
    # A panel: times, not windows (three series at the same 24 times).
    with pytest.raises(DataError, match=r"24 test times \(of all series\), only one"):
        check_bootstrap_length(72, np.tile(np.arange(24), 3), 24)
    check_bootstrap_length(75, np.tile(np.arange(25), 3), 24)


def test_a_task_further_ahead_than_a_season_gets_blocks_that_long(stage):
    """Windows h steps ahead share targets with their h - 1 neighbours: a
    classification task 48 steps ahead (longer than the season, which only
    regression horizons must fit in) gets blocks of 48, not 24; with 24 a
    simulated null of equal forecasters was rejected about 25% of the time."""
    block = stage["bootstrap_block"]
    assert block(24, {"name": "c", "type": "classification", "horizon": 48}) == 48
    assert block(24, {"name": "c", "type": "classification", "horizon": [1, 30]}) == 30
    assert block(24, {"name": "r", "type": "regression", "horizon": 1}) == 24
    stage["check_bootstrap_length"](49, None, 24, 48)
    with pytest.raises(
        DataError,
        match=r"48 test windows, only one bootstrap block \(48 steps, a task's last "
        r"step ahead; baselines.season = 24\)",
    ):
        stage["check_bootstrap_length"](48, None, 24, 48)
