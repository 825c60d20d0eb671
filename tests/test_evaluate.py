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
def check_bootstrap_length():
    return runpy.run_path(str(EVALUATE))["check_bootstrap_length"]


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
