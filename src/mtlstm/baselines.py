"""Reference forecasters, scored on the model's own test windows and units.

A model's scores mean little on their own: an MAE of 150 MW is good or bad only
next to what a trivial forecaster achieves on the same windows. Every baseline
here forecasts exactly the windows that ``stages/evaluate.py`` scores (a window
ending at row ``e`` predicts rows ``e + step`` for every step of the task's
horizon, ``mtlstm.tasks``) and is scored with ``metrics.score_task`` in
original units (regression) or as class probabilities (classification), so its
numbers sit beside the model's.

Per step of a horizon range: persistence repeats the value at the origin;
seasonal naive takes the value one season before each target step; the lag
model is one booster per step (direct, like the model's head), each with its
own iterations, loss and target (the level, or the change from the window's
last value) chosen on validation; the majority class is the most frequent
training target at that step. A task with quantiles also gets ``naive_interval``:
persistence plus, per step, the empirical quantiles of persistence's residuals
on the training windows (in a panel, its own series'); its pinball loss is
what the model's pinball skill is measured against.

Known-future inputs (``features.known_future``: e.g. a load forecast
published a day ahead) reach the lag model as the model gets them: their
scaled columns at the booster's own target row ``e + step``, after the origin
row. Without them the trees would forecast from less than the model and the
comparison would flatter the model.

A panel (``ingest.series``: ``data/windows/series.npy`` holds each row's series
code) changes three things. Seasonal naive reads the value one season before the
target only in the SAME series (the row with that series code and that grid
step; none: persistence, as after a dropped gap). The naive interval's offsets
are the residual quantiles of the window's own series' training windows (a
series without any: those pooled over every series). The lag model stays one
global model per task (and step), with the series code as one more feature:
categorical while the training windows hold at most ``MAX_CATEGORIES`` series
(scikit-learn's limit), an ordinal number above that. Persistence needs
nothing: a window never crosses two series, so its origin is in the target's
series.

Pure NumPy/scikit-learn: this module must never import TensorFlow, so the
baselines stay cheap to run and to test.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from threadpoolctl import threadpool_limits  # a scikit-learn dependency

from mtlstm import grid, metrics, tasks
from mtlstm.errors import DataError

REGRESSION_BASELINES = ("persistence", "seasonal_naive", "hgb_lag")
NAIVE_INTERVAL = "naive_interval"  # quantile tasks only
CLASSIFICATION_BASELINES = ("majority", "persistence", "hgb_lag")

# Gradient boosting as a careful practitioner fits it: a fixed learning rate and
# tree size, and the number of boosting iterations chosen on the project's own
# (chronological) validation windows: sklearn's early stopping on X_val/y_val,
# never its random internal split (which would shuffle time). Boosting runs
# until PATIENCE iterations bring no validation improvement (or MAX_ITER), and
# the forecasts use the trees up to the best validation loss only.
HGB_PARAMS: dict[str, Any] = {"learning_rate": 0.1, "max_leaf_nodes": 31}
MAX_ITER = 2000
PATIENCE = 50
# Classifiers: class weighting is kept only if it raises validation macro-F1.
CLASS_WEIGHTS = (None, "balanced")
# Regressors: every regression task is judged on MAE, so a careful practitioner
# also tries boosting on the absolute error (the conditional median), kept only
# if it lowers the validation MAE (it does on skewed targets such as Warsaw's
# no2; on vic_elec's demand squared error is better).
REGRESSION_LOSSES = ("squared_error", "absolute_error")
# ... and on the change from the window's last value as well as on the level:
# trees cannot forecast beyond the levels they were fitted on, and differencing
# a trending or persistent series is the first thing a practitioner tries (the
# model's regression heads predict the change too: tasks.*.predict_change).
# Kept only if it lowers the validation MAE (vic_elec's demand: 47.56 -> 43.50).
REGRESSION_TARGETS = ("level", "change")
# HistGradientBoosting's categorical features hold at most max_bins (255)
# categories; a panel with more series gets the code as an ordinal feature.
MAX_CATEGORIES = 255


@dataclass(frozen=True)
class HGBFit:
    """A fitted booster and the choices the validation split made for it."""

    model: HistGradientBoostingRegressor | HistGradientBoostingClassifier
    n_iter: int  # boosting iterations the forecasts use: best validation loss
    class_weight: str | None = None
    # Classification: validation macro-F1 per class_weight option tried.
    val_macro_f1: dict[str, float] = field(default_factory=dict)
    # Regression: the boosting loss and target (level, or the change from the
    # window's last value), and the validation MAE per "<target> <loss>" tried.
    loss: str | None = None
    target: str = "level"
    val_mae: dict[str, float] = field(default_factory=dict)
    # A panel: how the series code entered ("categorical" or "ordinal", the
    # last feature column); None: no series declared, no such column.
    series_feature: str | None = None
    # Columns of the scaled matrix read at the target row (known-future
    # inputs); predictions read the same ones.
    known_columns: tuple[int, ...] = ()

    def summary(self) -> dict[str, Any]:
        """What was chosen, for metrics/baselines_val.json."""
        out: dict[str, Any] = {
            "n_iter": self.n_iter,
            "n_iter_fitted": int(self.model.n_iter_),
            "max_iter": MAX_ITER,
        }
        if self.val_macro_f1:
            out["class_weight"] = self.class_weight or "none"
            out["val_macro_f1"] = dict(self.val_macro_f1)
        if self.val_mae:
            out["loss"] = self.loss
            out["target"] = self.target
            out["val_mae"] = dict(self.val_mae)
        if self.series_feature is not None:
            out["series_feature"] = self.series_feature
        if self.known_columns:
            out["known_future_columns"] = len(self.known_columns)
        return out


@dataclass(frozen=True)
class BaselineRun:
    """Everything the baselines stage writes."""

    test: dict[str, dict[str, dict[str, float]]]  # {task: {baseline: scores}}
    val: dict[str, dict[str, dict[str, float]]]  # the same on validation
    hgb: dict[str, HGBFit | StepFits]  # per task
    forecasts: dict[str, dict[str, np.ndarray]]  # {task: {baseline: test output}}
    # Quantile tasks: {task: {baseline: n x S x Q test quantiles}}.
    quantiles: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    # Class tasks with decide_by: {task: how validation chose gradient boosting's
    # class (decide_hgb)}, and {task: n x S test classes} where it chose binning.
    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    decided: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class StepFits:
    """The lag model of a horizon range: one booster per step."""

    steps: list[int]
    fits: list[HGBFit]

    def summary(self) -> dict[str, Any]:
        """Per step, what validation chose (lists in step order)."""
        each = [fit.summary() for fit in self.fits]
        out: dict[str, Any] = {"steps": self.steps}
        for key in each[0]:
            values = [e[key] for e in each]
            scalar = key in ("max_iter", "series_feature", "known_future_columns")
            out[key] = values[0] if scalar else values
        return out


def persistence(raw: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The value (or class) observed at the forecast origin ``e``."""
    return metrics.persistence(raw, ends)


def season_rows(
    ends: np.ndarray,
    horizon: int,
    season: int,
    positions: np.ndarray | None = None,
    codes: np.ndarray | None = None,
) -> np.ndarray:
    """Row of the value exactly one season (in time) before each target row
    ``e + horizon``, or -1 where no row has that time (a long gap ingest
    dropped, or before the first row).

    ``positions`` (``mtlstm.grid.positions``) counts each row's grid steps since
    the first row; ``None`` means rows are consecutive steps. Counting rows
    instead of time would read the wrong hour after a dropped gap. ``codes``
    (a panel's per-row series codes) restricts the lookup to the target's own
    series: a row of another series at that time (or that row number) is
    never read, and where the series has no row one season back the answer
    is -1. ``positions`` then count steps within each series
    (``series_positions``); only differences within one series matter.
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
    if codes is not None:
        return _season_rows_in_series(targets, season, positions, codes)
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


def _season_rows_in_series(
    targets: np.ndarray,
    season: int,
    positions: np.ndarray | None,
    codes: np.ndarray,
) -> np.ndarray:
    """``season_rows`` in a panel: the row whose (series code, position) is the
    target's code and position minus ``season``, found by a binary search on
    one sorted int64 key ``code * stride + position`` (no loop over series)."""
    codes = np.asarray(codes, np.int64)
    n = len(codes)
    if positions is None:
        positions = np.arange(n, dtype=np.int64)
    positions = np.asarray(positions, np.int64)
    if positions.shape != codes.shape:
        raise ValueError(
            f"positions has {positions.size} rows but codes {codes.size}; one "
            "series code per row is needed"
        )
    if n == 0 or targets.size == 0:
        return np.full(targets.shape, -1, dtype=np.int64)
    low = int(positions.min())
    # Keys of one series span [season, span + season): never reaching the next
    # series' keys, nor (one season back) the previous series'.
    stride = int(positions.max()) - low + season + 1
    keys = codes * stride + (positions - low + season)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    wanted = keys[targets] - season
    at = np.minimum(np.searchsorted(sorted_keys, wanted), n - 1)
    found = sorted_keys[at] == wanted
    return np.where(found, order[at], -1)


def series_positions(
    times: pd.DatetimeIndex,
    codes: np.ndarray | None,
    freq: str,
    timezone: str,
) -> np.ndarray:
    """``grid.positions`` of every row; in a panel counted within each series
    (from that series' first row), since series share clock times and each
    has its own grid. Rows of one series must be in time order."""
    times = pd.DatetimeIndex(times)
    if codes is None:
        return grid.positions(times, freq, timezone)
    codes = np.asarray(codes, np.int64)
    if codes.shape != (len(times),):
        raise DataError(
            f"data/windows/series.npy: {codes.size} series codes for "
            f"{len(times)} rows of data/windows/times.npy; rerun `dvc repro` to "
            "rebuild data/windows"
        )
    out = np.zeros(len(times), dtype=np.int64)
    order = np.argsort(codes, kind="stable")  # each series' rows, in row order
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    for rows in np.split(order, bounds):
        if rows.size:
            out[rows] = grid.positions(times[rows], freq, timezone)
    return out


def seasonal_naive(
    raw: np.ndarray,
    ends: np.ndarray,
    horizon: int,
    season: int,
    positions: np.ndarray | None = None,
    codes: np.ndarray | None = None,
) -> np.ndarray:
    """The value one season before the target time (``season_rows``; in a
    panel, in the target's own series). Where that time has no row, the
    forecast falls back to persistence (the value at the origin), so every
    test window is scored; ``score_baselines`` counts those windows as
    ``persistence_fallbacks``."""
    rows = season_rows(ends, horizon, season, positions, codes)
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
    series: np.ndarray,
    scaled: np.ndarray,
    ends: np.ndarray,
    lookback: int,
    codes: np.ndarray | None = None,
    known: tuple[tuple[int, ...], int] = ((), 0),
) -> np.ndarray:
    """``n x (lookback + F + K)`` tabular inputs for the windows ending at
    ``ends`` (one more column with ``codes``).

    Columns: the task's own per-row series at rows ``e - lookback + 1 .. e``
    (scaled value or class index), then the full scaled feature row at ``e``,
    then ``known = (columns, step)``: those ``K`` scaled columns at the target
    row ``e + step`` (the known-future inputs, ``features.known_future``, which
    the model reads at the target times too), then, in a panel, the window's
    series code (``codes[e]``).
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
    columns = [lags, np.asarray(scaled, np.float32)[ends]]
    known_columns, step = known
    if known_columns:
        future = np.asarray(scaled, np.float32)[ends + step]
        columns.append(future[:, np.asarray(known_columns, np.int64)])
    if codes is not None:
        # float32 holds every integer code below 2**24 exactly.
        columns.append(np.asarray(codes, np.float32)[ends][:, None])
    return np.hstack(columns)


def known_future_columns(bundle: dict[str, Any]) -> tuple[int, ...]:
    """The scaled-matrix columns of the bundle's known-future inputs (none
    declared: empty). The lag model reads them at its target row, so it gets
    what the model gets (a fair baseline)."""
    spec = bundle.get("known_future")
    return tuple(int(c) for c in spec["features"]) if spec else ()


def series_feature(codes: np.ndarray | None, train_ends: np.ndarray) -> str | None:
    """How the lag model takes the series code: ``"categorical"`` while the
    training windows hold at most ``MAX_CATEGORIES`` series, else
    ``"ordinal"``; None without a panel."""
    if codes is None:
        return None
    seen = np.unique(np.asarray(codes)[np.asarray(train_ends, np.int64)])
    return "categorical" if seen.size <= MAX_CATEGORIES else "ordinal"


def _task_features(
    spec: dict[str, Any],
    series: np.ndarray,
    scaled: np.ndarray,
    ends: np.ndarray,
    lookback: int,
    codes: np.ndarray | None,
    known_columns: tuple[int, ...],
) -> np.ndarray:
    """The task's lag features (``lag_features``), known-future inputs read at
    its target row ``e + horizon``: what the booster is fitted and forecasts on."""
    known = (known_columns, spec["horizon"])
    return lag_features(series, scaled, ends, lookback, codes, known)


def _hgb_data(
    spec: dict[str, Any],
    series: np.ndarray,
    scaled: np.ndarray,
    ends: np.ndarray,
    lookback: int,
    codes: np.ndarray | None = None,
    known_columns: tuple[int, ...] = (),
    target: str = "level",
) -> tuple[np.ndarray, np.ndarray]:
    """Lag features and targets (the per-row series at ``e + horizon``: scaled
    value or class index; ``target`` "change": minus the value at ``e``) of
    the windows ending at ``ends``."""
    ends = np.asarray(ends, np.int64)
    x = _task_features(spec, series, scaled, ends, lookback, codes, known_columns)
    y = np.asarray(series)[ends + spec["horizon"]]
    if spec["type"] != "regression":
        return x, y.astype(np.int64)
    y = y.astype(np.float64)
    if target == "change":
        y = y - np.asarray(series, np.float64)[ends]
    return x, y


def fit_hgb(
    spec: dict[str, Any],
    series: np.ndarray,
    scaled: np.ndarray,
    train_ends: np.ndarray,
    val_ends: np.ndarray,
    lookback: int,
    seed: int,
    class_weight: str | None = None,
    codes: np.ndarray | None = None,
    known_columns: tuple[int, ...] = (),
    loss: str | None = None,
    target: str = "level",
) -> HGBFit:
    """Boosted trees on lag features: fitted on the training windows, with the
    number of iterations chosen by the loss on the validation windows. ``loss``
    (regression only; None: squared error) is scikit-learn's; ``target``
    (regression only): the ``level`` at the target row, or its ``change``
    from the window's last value (``predict_hgb`` adds that back). In a
    panel (``codes``) one global model, the series code its last feature
    (``series_feature``). ``known_columns``: scaled columns also read at the
    target row (known-future inputs, as the model gets them).

    Reads the target rows the training and validation windows predict, never a
    test row. Validation windows of a class that no training window predicts
    are left out of the stopping loss (the classifier cannot forecast that
    class, and its log-loss there would be infinite whatever the iteration).
    """
    known_columns = tuple(int(c) for c in known_columns)
    if target not in REGRESSION_TARGETS or (
        target != "level" and spec["type"] != "regression"
    ):
        raise ValueError(f"target {target!r}: level, or change (regression only)")
    inputs = (lookback, codes, known_columns, target)
    x, y = _hgb_data(spec, series, scaled, train_ends, *inputs)
    x_val, y_val = _hgb_data(spec, series, scaled, val_ends, *inputs)
    kind = series_feature(codes, train_ends)
    settings = {
        **HGB_PARAMS,
        "max_iter": MAX_ITER,
        "early_stopping": True,
        "scoring": "loss",
        "n_iter_no_change": PATIENCE,
        "random_state": seed,
    }
    if kind == "categorical":
        # A code no training window has (a series seen only later) is an
        # unknown category: scikit-learn treats it as missing.
        settings["categorical_features"] = [x.shape[1] - 1]
    if spec["type"] == "regression":
        if class_weight is not None:
            raise ValueError("class_weight applies to classification tasks only")
        model = HistGradientBoostingRegressor(
            **settings, loss=loss or REGRESSION_LOSSES[0]
        )
    else:
        if loss is not None:
            raise ValueError("loss applies to regression tasks only")
        model = HistGradientBoostingClassifier(**settings, class_weight=class_weight)
        if np.unique(y).size == 1:
            # One training class: nothing to boost, nothing to stop early.
            with threadpool_limits(limits=1, user_api="openmp"):  # see below
                model.set_params(max_iter=1, early_stopping=False).fit(x, y)
            return HGBFit(
                model, 1, class_weight, series_feature=kind, known_columns=known_columns
            )
        seen = np.isin(y_val, y)
        x_val, y_val = x_val[seen], y_val[seen]
    if len(y_val) == 0:
        raise DataError(
            f"data/split/val.npy: task {spec['name']!r} has no validation window "
            "to choose the number of boosting iterations on (an empty validation "
            "split, or only classes that no training window predicts); give "
            "split.val more rows"
        )
    # One OpenMP thread: on a busy 2-core machine the threads' spin-waits made
    # fits ~20x slower (measured), and the result cannot depend on core count.
    with threadpool_limits(limits=1, user_api="openmp"):
        model.fit(x, y, X_val=x_val, y_val=y_val)
    # validation_score_[i] is minus the validation loss after i iterations (0:
    # the constant start); the first best wins ties, with at least one tree.
    n_iter = max(1, int(np.argmax(model.validation_score_)))
    return HGBFit(
        model,
        n_iter,
        class_weight,
        series_feature=kind,
        known_columns=known_columns,
        loss=None if spec["type"] == "classification" else loss or REGRESSION_LOSSES[0],
        target=target,
    )


def predict_hgb(
    fit: HGBFit,
    spec: dict[str, Any],
    series: np.ndarray,
    scaled: np.ndarray,
    ends: np.ndarray,
    lookback: int,
    codes: np.ndarray | None = None,
) -> np.ndarray:
    """Forecasts in original units, or ``n x len(classes)`` probabilities, from
    the first ``fit.n_iter`` trees (the booster truncated at its best validation
    loss, through scikit-learn's staged predictions). ``codes``: the panel's
    series codes, required exactly when the booster was fitted with them."""
    model = fit.model
    if (codes is None) != (fit.series_feature is None):
        raise ValueError(
            "series codes must be given exactly when the booster was fitted "
            "with them (a panel)"
        )
    x = _task_features(spec, series, scaled, ends, lookback, codes, fit.known_columns)
    with threadpool_limits(limits=1, user_api="openmp"):  # see fit_hgb
        if spec["type"] == "regression":
            scaled_forecast = _stage(model.staged_predict(x), fit.n_iter)
            if fit.target == "change":  # back to the level: the last value + it
                scaled_forecast = scaled_forecast + np.asarray(series)[ends]
            # The model learned the scaled target; report it in original units.
            return metrics.original_units(
                scaled_forecast,
                spec,
                metrics.window_series(codes, ends),
            )
        # scikit-learn fits a one-class target but still returns two
        # probability columns; only that class can be forecast, with certainty.
        one = model.classes_.size == 1
        if one:
            fitted = np.ones((len(x), 1))
        else:
            fitted = _stage(model.staged_predict_proba(x), fit.n_iter)
    proba = np.zeros((len(ends), len(spec["classes"])))
    # The classifier only has columns for classes it saw in training; a class
    # absent there keeps probability 0 so columns still match spec["classes"].
    proba[:, model.classes_.astype(np.int64)] = fitted
    return proba


def _stage(staged, n_iter: int) -> np.ndarray:
    """The ``n_iter``-th output (1-based) of a staged prediction."""
    return next(islice(staged, n_iter - 1, None))


def choose_hgb(
    spec: dict[str, Any],
    series: np.ndarray,
    scaled: np.ndarray,
    splits: dict[str, np.ndarray],
    lookback: int,
    seed: int,
    codes: np.ndarray | None = None,
    known_columns: tuple[int, ...] = (),
) -> HGBFit:
    """The booster with its iterations chosen on validation; for classification
    also its class weighting: ``"balanced"`` only if it gives a strictly higher
    validation macro-F1 than no weighting; for regression its target and loss
    (``REGRESSION_TARGETS`` x ``REGRESSION_LOSSES``): another than the level
    on squared error only if it gives a strictly lower validation MAE
    (original units)."""
    args = (spec, series, scaled, splits["train"], splits["val"], lookback, seed)
    inputs = {"codes": codes, "known_columns": known_columns}
    # What validation chooses: named fit_hgb keywords (the first option is
    # kept unless another scores strictly better), the score and its sense.
    if spec["type"] == "regression":
        options = {
            f"{target} {loss}" if target != "level" else loss: {
                "target": target,
                "loss": loss,
            }
            for target in REGRESSION_TARGETS
            for loss in REGRESSION_LOSSES
        }
        score, sense, record = "mae", -1, "val_mae"
    else:
        options = {w or "none": {"class_weight": w} for w in CLASS_WEIGHTS}
        score, sense, record = "macro_f1", 1, "val_macro_f1"
    val_ends = np.asarray(splits["val"], np.int64)
    actual = metrics.original_units(series, spec, codes)[val_ends + spec["horizon"]]
    fits, scores = {}, {}
    for name, keywords in options.items():
        fit = fit_hgb(*args, **keywords, **inputs)
        forecast = predict_hgb(fit, spec, series, scaled, val_ends, lookback, codes)
        scores[name] = metrics.score_task(spec, actual, forecast)[score]
        fits[name] = fit
    # max keeps the first of equal scores.
    best = max(fits, key=lambda name: sense * scores[name])
    return dataclasses.replace(fits[best], **{record: scores})


def choose_lag_model(
    spec: dict[str, Any],
    series: np.ndarray,
    scaled: np.ndarray,
    splits: dict[str, np.ndarray],
    lookback: int,
    seed: int,
    codes: np.ndarray | None = None,
    known_columns: tuple[int, ...] = (),
) -> HGBFit | StepFits:
    """``choose_hgb`` for a one-step task; for a horizon range one booster per
    step (``StepFits``), each chosen on validation like a one-step task (and
    reading the known-future inputs at its own step's target row)."""
    args = (series, scaled, splits, lookback, seed, codes, known_columns)
    if not tasks.is_range(spec):
        return choose_hgb(spec, *args)
    steps = tasks.steps(spec).tolist()
    fits = [choose_hgb(tasks.at_step(spec, step), *args) for step in steps]
    return StepFits(steps, fits)


def lag_model_forecast(
    spec: dict[str, Any],
    series: np.ndarray,
    scaled: np.ndarray,
    hgb: HGBFit | StepFits,
    ends: np.ndarray,
    lookback: int,
    codes: np.ndarray | None = None,
) -> np.ndarray:
    """The lag model's forecast for the windows ending at ``ends``, with the
    step axis (``n x S``, or ``n x S x C`` probabilities): each step's booster
    (``predict_hgb``). Alone, without the other baselines, for callers that
    score gradient boosting only (scripts/search.py): ``task_forecasts`` also
    needs a season that reaches the task's last step."""
    fits = hgb.fits if isinstance(hgb, StepFits) else [hgb]
    return np.stack(
        [
            predict_hgb(
                fit, tasks.at_step(spec, step), series, scaled, ends, lookback, codes
            )
            for fit, step in zip(fits, tasks.steps(spec), strict=True)
        ],
        axis=1,
    )


def task_forecasts(
    spec: dict[str, Any],
    series: np.ndarray,
    scaled: np.ndarray,
    hgb: HGBFit | StepFits,
    train_ends: np.ndarray,
    ends: np.ndarray,
    lookback: int,
    season: int = 24,
    positions: np.ndarray | None = None,
    codes: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Every baseline's forecast for the windows ending at ``ends``, in the
    stored form (``mtlstm.tasks.squeezed``: ``n`` or ``n x C`` for a one-step
    task, ``n x S`` or ``n x S x C`` for a range).

    Regression forecasts are in original units; classification forecasts are
    class probabilities (hard forecasts one-hot), so ``metrics.score_task``
    (log-loss included) scores them like the model.
    """
    raw = metrics.original_units(series, spec, codes)
    ends = np.asarray(ends, np.int64)
    steps = tasks.steps(spec)
    forecast_hgb = lag_model_forecast(spec, series, scaled, hgb, ends, lookback, codes)
    origin = persistence(raw, ends)
    if spec["type"] == "regression":
        out = {
            "persistence": np.repeat(origin[:, None], len(steps), axis=1),
            "seasonal_naive": np.stack(
                [seasonal_naive(raw, ends, s, season, positions, codes) for s in steps],
                axis=1,
            ),
            "hgb_lag": forecast_hgb,
        }
        if tasks.quantiles(spec) is not None:
            levels = naive_interval(spec, raw, train_ends, ends, codes)
            out[NAIVE_INTERVAL] = levels[..., tasks.median_index(spec)]
    else:
        n_classes = len(spec["classes"])
        train_ends = np.asarray(train_ends, np.int64)
        # The majority class is read from what training windows predict at each
        # step (e + step), the same target rows the classifiers are fitted on.
        out = {
            "majority": np.stack(
                [
                    majority_proba(raw[train_ends + s], len(ends), n_classes)
                    for s in steps
                ],
                axis=1,
            ),
            "persistence": np.repeat(
                metrics.one_hot(origin, n_classes)[:, None], len(steps), axis=1
            ),
            "hgb_lag": forecast_hgb,
        }
    return {name: tasks.squeezed(spec, value) for name, value in out.items()}


def naive_interval(
    spec: dict[str, Any],
    raw: np.ndarray,
    train_ends: np.ndarray,
    ends: np.ndarray,
    codes: np.ndarray | None = None,
) -> np.ndarray:
    """``n x S x Q`` quantile forecasts of persistence plus, per step, the
    empirical quantiles (``np.quantile``, linear) of persistence's residuals
    ``y[e + step] - y[e]`` over the training windows. Never crosses: the
    empirical quantiles are non-decreasing in the level.

    ``codes`` (a panel's per-row series codes): each window's offsets are its
    own series' (the training windows whose end row has its code), since one
    series' spread says nothing of another's. A series without training
    windows gets the offsets pooled over every series."""
    train_ends = np.asarray(train_ends, np.int64)
    ends = np.asarray(ends, np.int64)
    levels = tasks.quantiles(spec)
    residuals = tasks.gather(raw, train_ends, spec) - raw[train_ends][:, None]
    pooled = np.quantile(residuals, levels, axis=0).T  # S x Q
    origin = raw[ends]
    if codes is None:
        return origin[:, None, None] + pooled[None, :, :]
    codes = np.asarray(codes, np.int64)
    train_codes = codes[train_ends]
    # Each series' training windows, found by one sort (not a scan per series).
    order = np.argsort(train_codes, kind="stable")
    series, first = np.unique(train_codes[order], return_index=True)
    own = np.stack(
        [
            np.quantile(residuals[rows], levels, axis=0).T
            for rows in np.split(order, first[1:])
        ]
    )  # K x S x Q, K = series with training windows
    end_codes = codes[ends]
    at = np.minimum(np.searchsorted(series, end_codes), len(series) - 1)
    found = series[at] == end_codes
    # A series can have no training window: the split cuts every series at one
    # time (mtlstm.split), so a series that starts after the train/val cut has
    # only validation or test windows. No residual of its own exists then;
    # the pooled offsets are the only estimate that training gives.
    offsets = np.where(found[:, None, None], own[at], pooled[None, :, :])
    return origin[:, None, None] + offsets


def run_baselines(
    bundle: dict[str, Any],
    scaled: np.ndarray,
    targets: dict[str, np.ndarray],
    splits: dict[str, np.ndarray],
    season: int = 24,
    seed: int = 0,
    positions: np.ndarray | None = None,
    codes: np.ndarray | None = None,
) -> BaselineRun:
    """Fit every task's baselines (train and validation windows only) and
    forecast and score the validation and the test windows.

    ``targets`` is the per-row ``data/windows/targets.npz`` content; ``splits``
    needs ``"train"`` (fitting), ``"val"`` (boosting iterations, class
    weighting) and ``"test"`` (scoring) window end rows; ``positions`` the rows'
    grid steps since the first (see ``season_rows``); ``codes`` a panel's
    per-row series codes (``data/windows/series.npy``; None: one series). The
    seasonal naive scores also count the (window, step) pairs that fell back to
    persistence (``persistence_fallbacks``). Scores pool every window and step
    (of every series).
    """
    missing = {"train", "val", "test"} - set(splits)
    if missing:
        raise ValueError(
            f"splits lacks {sorted(missing)}; it needs 'train', 'val' and 'test'"
        )
    if codes is not None and len(codes) != len(scaled):
        raise DataError(
            f"data/windows/series.npy: {len(codes)} series codes for "
            f"{len(scaled)} rows of data/windows/scaled.npy; rerun `dvc repro` "
            "to rebuild data/windows"
        )
    scores: dict[str, dict] = {"val": {}, "test": {}}
    fits, forecasts, quantiles = {}, {}, {}
    outputs: dict[str, dict] = {"val": {}, "test": {}}  # {split: {task: by baseline}}
    observed: dict[str, dict] = {"val": {}, "test": {}}  # {split: {task: actual}}
    known = known_future_columns(bundle)
    for spec in bundle["tasks"]:
        name, series = spec["name"], targets[spec["name"]]
        raw = metrics.original_units(series, spec, codes)
        fits[name] = choose_lag_model(
            spec, series, scaled, splits, bundle["lookback"], seed, codes, known
        )
        by_split = {}
        for split in ("val", "test"):
            ends = np.asarray(splits[split], np.int64)
            by_split[split] = task_forecasts(
                spec,
                series,
                scaled,
                fits[name],
                splits["train"],
                ends,
                bundle["lookback"],
                season,
                positions,
                codes,
            )
            actual = tasks.gather(raw, ends, spec)
            outputs[split][name], observed[split][name] = by_split[split], actual
            scores[split][name] = {
                baseline: metrics.score_task(spec, actual, output)
                for baseline, output in by_split[split].items()
            }
            if spec["type"] == "regression":
                fallbacks = sum(
                    int((season_rows(ends, step, season, positions, codes) < 0).sum())
                    for step in tasks.steps(spec)
                )
                scores[split][name]["seasonal_naive"]["persistence_fallbacks"] = (
                    fallbacks
                )
            if tasks.quantiles(spec) is not None:
                levels = naive_interval(spec, raw, splits["train"], ends, codes)
                scores[split][name][NAIVE_INTERVAL] |= metrics.quantile_scores(
                    spec, actual, levels
                )
                if split == "test":
                    quantiles[name] = {NAIVE_INTERVAL: levels}
        forecasts[name] = by_split["test"]
    decisions, decided = {}, {}
    for spec in bundle["tasks"]:
        if tasks.decided_by(spec) is not None:
            decisions[spec["name"]], labels = decide_hgb(spec, outputs, observed)
            if labels is not None:
                decided[spec["name"]] = labels["test"]
                for split in ("val", "test"):
                    scores[split][spec["name"]]["hgb_lag"] = metrics.score_task(
                        spec,
                        observed[split][spec["name"]],
                        outputs[split][spec["name"]]["hgb_lag"],
                        labels[split],
                    )
    return BaselineRun(
        scores["test"], scores["val"], fits, forecasts, quantiles, decisions, decided
    )


def decide_hgb(
    spec: dict[str, Any], outputs: dict[str, dict], observed: dict[str, dict]
) -> tuple[dict[str, Any], dict[str, np.ndarray] | None]:
    """How gradient boosting names the class of a ``decide_by`` task: its
    classifier's most probable class, or the bin of its regression forecast of
    the same target, whichever has the higher validation macro-F1 (the
    classifier on a tie). The model is decided by binning; the baseline gets
    the same option but keeps its stronger way, so it is never weakened.
    ``outputs``: {split: {task: {baseline: forecast}}} and ``observed``:
    {split: {task: actual}}, "val" among the splits. Returns the choice (for
    metrics/baselines_val.json) and, where binning won, the classes per split."""
    name, source = spec["name"], tasks.decided_by(spec)
    labels = {
        split: tasks.bin_index(spec, by_task[source]["hgb_lag"])
        for split, by_task in outputs.items()
    }
    proba = outputs["val"][name]["hgb_lag"]
    actual = observed["val"][name]
    f1 = {
        "classifier": metrics.score_task(spec, actual, proba)["macro_f1"],
        f"binned {source}": metrics.score_task(spec, actual, proba, labels["val"])[
            "macro_f1"
        ],
    }
    binned = f1[f"binned {source}"] > f1["classifier"]
    choice = {
        "decision": f"binned {source}" if binned else "classifier",
        "decision_val_macro_f1": f1,
    }
    return choice, labels if binned else None


def score_baselines(
    bundle: dict[str, Any],
    scaled: np.ndarray,
    targets: dict[str, np.ndarray],
    splits: dict[str, np.ndarray],
    season: int = 24,
    seed: int = 0,
    positions: np.ndarray | None = None,
    codes: np.ndarray | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """``{task: {baseline: {metric: value}}}`` on the ``splits["test"]`` windows
    (``run_baselines(...).test``)."""
    run = run_baselines(bundle, scaled, targets, splits, season, seed, positions, codes)
    return run.test
