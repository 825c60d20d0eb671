"""Reference forecasters, scored on the model's own test windows and units.

A model's scores mean little on their own: an MAE of 150 MW is good or bad only
next to what a trivial forecaster achieves on the same windows. Every baseline
here forecasts exactly the windows that ``stages/evaluate.py`` scores (a window
ending at row ``e`` predicts row ``e + horizon``) and is scored with
``metrics.score_task`` in original units (regression) or as class
probabilities (classification), so its numbers sit beside the model's.

Pure NumPy/scikit-learn: this module must never import TensorFlow, so the
baselines stay cheap to run and to test.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from threadpoolctl import threadpool_limits  # a scikit-learn dependency

from mtlstm import metrics

REGRESSION_BASELINES = ("persistence", "seasonal_naive", "hgb_lag")
CLASSIFICATION_BASELINES = ("majority", "persistence", "hgb_lag")

# Fixed boosting settings: no early stopping, so no random validation split
# (which would also shuffle time) and no failure when a rare class has a single
# training window; 200 rounds fit ~18k windows in seconds on one core.
HGB_PARAMS: dict[str, Any] = {
    "max_iter": 200,
    "learning_rate": 0.1,
    "max_leaf_nodes": 31,
    "early_stopping": False,
}


def persistence(raw: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The value (or class) observed at the forecast origin ``e``."""
    return metrics.persistence(raw, ends)


def season_rows(
    ends: np.ndarray,
    horizon: int,
    season: int,
    positions: np.ndarray | None = None,
) -> np.ndarray:
    """Row of the value exactly one season (in time) before each target row
    ``e + horizon``, or -1 where no row has that time (a long gap ingest
    dropped, or before the first row).

    ``positions`` (``mtlstm.grid.positions``) counts each row's grid steps since
    the first row; ``None`` means rows are consecutive steps. Counting rows
    instead of time would read the wrong hour after a dropped gap.
    """
    # With season < horizon the "seasonal" value lies after the origin, so the
    # forecast would peek at the future instead of being a real forecast.
    if season < horizon:
        raise ValueError(
            f"season ({season} steps) must be >= horizon ({horizon} steps): the "
            "value one season before the target must already be observed at the "
            "forecast origin"
        )
    targets = np.asarray(ends, np.int64) + horizon
    if positions is None:
        rows = targets - season
        return np.where(rows >= 0, rows, -1)
    positions = np.asarray(positions, np.int64)
    wanted = positions[targets] - season
    rows = np.searchsorted(positions, wanted)
    found = (rows < len(positions)) & (
        positions[np.minimum(rows, len(positions) - 1)] == wanted
    )
    return np.where(found, rows, -1)


def seasonal_naive(
    raw: np.ndarray,
    ends: np.ndarray,
    horizon: int,
    season: int,
    positions: np.ndarray | None = None,
) -> np.ndarray:
    """The value one season before the target time (``season_rows``). Where
    that time has no row, the forecast falls back to persistence (the value at
    the origin), so every test window is scored; ``score_baselines`` counts
    those windows as ``persistence_fallbacks``."""
    rows = season_rows(ends, horizon, season, positions)
    return np.where(rows >= 0, raw[np.maximum(rows, 0)], raw[np.asarray(ends)])


def majority_proba(
    train_labels: np.ndarray, n_windows: int, n_classes: int
) -> np.ndarray:
    """One-hot of the most frequent training class, for every forecast window."""
    counts = np.bincount(np.asarray(train_labels, np.int64), minlength=n_classes)
    # argmax breaks ties towards the lowest class index: deterministic.
    majority = np.full(n_windows, np.argmax(counts), dtype=np.int64)
    return metrics.one_hot(majority, n_classes)


def lag_features(
    series: np.ndarray, scaled: np.ndarray, ends: np.ndarray, lookback: int
) -> np.ndarray:
    """``n x (lookback + F)`` tabular inputs for the windows ending at ``ends``.

    Columns: the task's own per-row series at rows ``e - lookback + 1 .. e``
    (scaled value or class index), then the full scaled feature row at ``e``.
    Deliberately NOT an ``n x lookback x F`` window tensor: the project never
    materializes those (memory), and one lag series plus the origin row is
    what a tabular model can use anyway.
    """
    ends = np.asarray(ends, np.int64)
    if ends.size and ends.min() < lookback - 1:
        raise ValueError(
            f"window ending at row {int(ends.min())} has fewer than lookback "
            f"{lookback} rows before it"
        )
    rows = ends[:, None] + np.arange(1 - lookback, 1)
    lags = np.asarray(series, np.float32)[rows]
    return np.hstack([lags, np.asarray(scaled, np.float32)[ends]])


def fit_hgb(
    spec: dict[str, Any],
    series: np.ndarray,
    scaled: np.ndarray,
    train_ends: np.ndarray,
    lookback: int,
    seed: int,
) -> HistGradientBoostingRegressor | HistGradientBoostingClassifier:
    """Boosted trees on lag features, fitted on the training windows only.

    Targets are the per-row series at ``e + horizon`` (scaled value or class
    index): only rows the training windows themselves predict, never a
    validation or test row.
    """
    x = lag_features(series, scaled, train_ends, lookback)
    y = np.asarray(series)[np.asarray(train_ends, np.int64) + spec["horizon"]]
    if spec["type"] == "regression":
        model = HistGradientBoostingRegressor(random_state=seed, **HGB_PARAMS)
        y = y.astype(np.float64)
    else:
        model = HistGradientBoostingClassifier(random_state=seed, **HGB_PARAMS)
        y = y.astype(np.int64)
    # One OpenMP thread: on a busy 2-core machine the threads' spin-waits made
    # fits ~20x slower (measured), and the result cannot depend on core count.
    with threadpool_limits(limits=1, user_api="openmp"):
        return model.fit(x, y)


def predict_hgb(
    model: HistGradientBoostingRegressor | HistGradientBoostingClassifier,
    spec: dict[str, Any],
    series: np.ndarray,
    scaled: np.ndarray,
    ends: np.ndarray,
    lookback: int,
) -> np.ndarray:
    """Forecasts in original units, or ``n x len(classes)`` probabilities."""
    x = lag_features(series, scaled, ends, lookback)
    with threadpool_limits(limits=1, user_api="openmp"):  # see fit_hgb
        if spec["type"] == "regression":
            # The model learned the scaled target; report it in original units.
            return metrics.original_units(model.predict(x), spec)
        # scikit-learn fits a one-class target but still returns two
        # probability columns; only that class can be forecast, with certainty.
        one = model.classes_.size == 1
        fitted = np.ones((len(x), 1)) if one else model.predict_proba(x)
    proba = np.zeros((len(ends), len(spec["classes"])))
    # The classifier only has columns for classes it saw in training; a class
    # absent there keeps probability 0 so columns still match spec["classes"].
    proba[:, model.classes_.astype(np.int64)] = fitted
    return proba


def task_forecasts(
    spec: dict[str, Any],
    series: np.ndarray,
    scaled: np.ndarray,
    splits: dict[str, np.ndarray],
    lookback: int,
    season: int = 24,
    seed: int = 0,
    positions: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Every baseline's forecast for the ``splits["test"]`` windows of one task.

    Regression forecasts are in original units; classification forecasts are
    ``n x len(classes)`` probabilities (hard forecasts one-hot), so
    ``metrics.score_task`` (log-loss included) scores them like the model.
    """
    raw = metrics.original_units(series, spec)
    ends = np.asarray(splits["test"], np.int64)
    model = fit_hgb(spec, series, scaled, splits["train"], lookback, seed)
    hgb = predict_hgb(model, spec, series, scaled, ends, lookback)
    if spec["type"] == "regression":
        return {
            "persistence": persistence(raw, ends),
            "seasonal_naive": seasonal_naive(
                raw, ends, spec["horizon"], season, positions
            ),
            "hgb_lag": hgb,
        }
    n_classes = len(spec["classes"])
    # The majority class is read from what training windows predict (e + h),
    # the same target rows the classifier is fitted on.
    train_targets = raw[np.asarray(splits["train"], np.int64) + spec["horizon"]]
    return {
        "majority": majority_proba(train_targets, len(ends), n_classes),
        "persistence": metrics.one_hot(persistence(raw, ends), n_classes),
        "hgb_lag": hgb,
    }


def score_baselines(
    bundle: dict[str, Any],
    scaled: np.ndarray,
    targets: dict[str, np.ndarray],
    splits: dict[str, np.ndarray],
    season: int = 24,
    seed: int = 0,
    positions: np.ndarray | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """``{task: {baseline: {metric: value}}}`` on the ``splits["test"]`` windows.

    ``targets`` is the per-row ``data/windows/targets.npz`` content; ``splits``
    needs ``"train"`` (fitting) and ``"test"`` (scoring) window end rows;
    ``positions`` the rows' grid steps since the first (see ``season_rows``).
    The seasonal naive scores also count the windows that fell back to
    persistence (``persistence_fallbacks``).
    """
    missing = {"train", "test"} - set(splits)
    if missing:
        raise ValueError(f"splits lacks {sorted(missing)}; it needs 'train' and 'test'")
    ends = np.asarray(splits["test"], np.int64)
    scores: dict[str, dict[str, dict[str, float]]] = {}
    for spec in bundle["tasks"]:
        series = targets[spec["name"]]
        actual = metrics.original_units(series, spec)[ends + spec["horizon"]]
        forecasts = task_forecasts(
            spec, series, scaled, splits, bundle["lookback"], season, seed, positions
        )
        scores[spec["name"]] = {
            name: metrics.score_task(spec, actual, output)
            for name, output in forecasts.items()
        }
        if "seasonal_naive" in forecasts:
            missing = season_rows(ends, spec["horizon"], season, positions) < 0
            scores[spec["name"]]["seasonal_naive"]["persistence_fallbacks"] = int(
                missing.sum()
            )
    return scores
