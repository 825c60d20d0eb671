"""Rolling-origin backtest: the trained configuration on k successive test periods.

Fold ``i`` of ``k`` (expanding window) ends ``k - 1 - i`` test-lengths before the
last row: it trains on everything before its validation period, validates on
the ``split.val`` share just before its test period, and tests on a period as
long as the main test split; the last fold is the main split itself. Every fold
fits its own scalers and encoders on its own training rows only, and windows
never cross a fold's boundaries. Pure NumPy/pandas: training is passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from mtlstm import window
from mtlstm.config import Backtest, Params
from mtlstm.errors import ConfigError
from mtlstm.split import row_bounds, windows_within

TrainAndScore = Callable[[dict[str, Any], dict[str, Any], int], dict[str, dict]]


def fold_ranges(
    n_rows: int, train: float, val: float, folds: int
) -> list[dict[str, tuple[int, int]]]:
    """Row ranges ``{train, val, test}`` of each fold, oldest first."""
    train_end, val_end = row_bounds(n_rows, train, val)
    test_size, val_size = n_rows - val_end, val_end - train_end
    ranges = []
    for i in range(folds):
        end = n_rows - (folds - 1 - i) * test_size
        start_test, start_val = end - test_size, end - test_size - val_size
        ranges.append(
            {
                "train": (0, start_val),
                "val": (start_val, start_test),
                "test": (start_test, end),
            }
        )
    if ranges[0]["train"][1] < val_size:
        raise ConfigError(
            f"backtest.folds: {folds} folds of {test_size} test rows leave the first "
            f"fold only {ranges[0]['train'][1]} training rows; use fewer folds"
        )
    return ranges


def prepare_fold(
    table: pd.DataFrame, params: Params, ranges: dict[str, tuple[int, int]]
) -> dict[str, Any]:
    """A fold's bundle, scaled matrix, targets and window splits, fitted on its
    training rows only; rows after its test period are never read."""
    end = ranges["test"][1]
    rows = table.iloc[:end]
    bundle = window.fit(
        rows.iloc[: ranges["train"][1]],
        params.features,
        params.tasks,
        params.window.lookback,
    )
    ends = window.window_ends(
        rows["segment"].to_numpy(), bundle["lookback"], bundle["max_horizon"]
    )
    splits = windows_within(ends, ranges, bundle["lookback"], bundle["max_horizon"])
    return {
        "bundle": bundle,
        "scaled": window.transform(rows, bundle),
        "targets": window.targets(rows, bundle),
        **splits,
    }


def run(
    table: pd.DataFrame,
    params: Params,
    cfg: Backtest,
    train_and_score: TrainAndScore,
) -> dict[str, Any]:
    """Scores of every fold and, per task and metric, their mean and std."""
    folds = []
    ranges_per_fold = fold_ranges(
        len(table), params.split.train, params.split.val, cfg.folds
    )
    # A bar over the folds on a terminal only (tqdm: disable=None off a TTY).
    progress = tqdm(
        ranges_per_fold, desc="folds", unit="fold", leave=False, disable=None
    )
    for i, ranges in enumerate(progress):
        fold = prepare_fold(table, params, ranges)
        scores = train_and_score(fold, ranges, i)
        folds.append({"test_rows": list(ranges["test"]), "scores": scores})
    return {"summary": summarize([f["scores"] for f in folds]), "folds": folds}


def summarize(per_fold: list[dict[str, dict[str, float]]]) -> dict[str, Any]:
    """``{task: {metric: {mean, std}}}`` over folds (population std)."""
    out: dict[str, Any] = {}
    for task, metrics in per_fold[0].items():
        out[task] = {}
        for metric in metrics:
            values = np.array([fold[task][metric] for fold in per_fold])
            out[task][metric] = {
                "mean": float(values.mean()),
                "std": float(values.std()),
            }
    return out
