"""scripts/refit_nested.py: the nested split inside the training windows."""

from __future__ import annotations

import numpy as np
from conftest import load_script
from hypothesis import given
from hypothesis import strategies as st


def test_inner_split_of_85_windows_is_70_then_15_with_the_horizon_left_out():
    split = load_script("refit_nested").inner_split
    inner_train, inner_val = split(np.arange(100, 185), horizon=2)
    assert inner_train.tolist() == list(range(100, 168))  # 70 - 2 windows
    assert inner_val.tolist() == list(range(170, 185))  # the last 15


@given(
    n=st.integers(min_value=0, max_value=500),
    horizon=st.integers(min_value=1, max_value=48),
)
def test_no_inner_training_target_reaches_the_inner_validation_windows(n, horizon):
    train = np.arange(1000, 1000 + n)  # consecutive window ends, as one series
    inner_train, inner_val = load_script("refit_nested").inner_split(train, horizon)
    assert len(inner_train) + len(inner_val) <= n
    if len(inner_train) and len(inner_val):
        # The last inner-training target row is before the first inner-val end.
        assert inner_train[-1] + horizon < inner_val[0]
        assert inner_val[-1] == train[-1]  # val' is the most recent
