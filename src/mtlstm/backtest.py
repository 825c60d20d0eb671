"""Rolling-origin backtest: the trained configuration on k successive test periods.

Fold ``i`` of ``k`` (expanding window) ends ``k - 1 - i`` test-lengths before the
last row: it trains on everything before its validation period, validates on
the ``split.val`` share just before its test period, and tests on a period as
long as the main test split; the last fold is the main split itself. Every fold
fits its own scalers and encoders on its own training rows only, and windows
never cross a fold's boundaries. Each fold is named by the dates of its
periods and scored next to the baselines fitted on that fold (mtlstm.baselines),
with the model's skill against each. Spreads over folds are *sample* standard
deviations (ddof=1; none with one fold). Pure NumPy/pandas/scikit-learn:
training is passed in.

Many series (``ingest.series``): the folds are cut in time, as the split stage
cuts the main split (``mtlstm.split``): the fractions and fold lengths count
the sorted distinct timestamps (``period_times``), every series is cut at the
same times, each row belongs to the period its time falls in, and a window to
a period when its first input row and its last target row both do. Each fold
refits its scalers on the rows of its own training time range, per series
under ``window.scaling: per_series`` (a series without training rows in the
fold falls back to the global moments, as in the window stage); the series
names (the codes an embedding reads) are the whole table's, the same in every
fold. A fold's scores and baselines pool every series' test windows, each
unscaled with its own series' moments. A panel fold's periods give ``steps``
(indices into the distinct times) instead of ``rows``, and ``test_steps``
instead of ``test_rows``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from mtlstm import grid, static, window
from mtlstm.baselines import run_baselines, series_positions
from mtlstm.config import Backtest, Params
from mtlstm.errors import ConfigError, DataError
from mtlstm.metrics import PRIMARY
from mtlstm.split import row_bounds, windows_by_code, windows_within

STD = "sample standard deviation over folds (ddof=1); null with one fold"

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
        scaler=params.window.scaler,
    )
    ends = window.window_ends(
        rows["segment"].to_numpy(), bundle["lookback"], bundle["max_horizon"]
    )
    splits = windows_within(ends, ranges, bundle["lookback"], bundle["max_horizon"])
    targets = window.targets(rows, bundle)
    return {
        "bundle": bundle,
        "scaled": window.transform(rows, bundle),
        "targets": targets,
        "unseen": window.classes_unseen(targets, bundle, ranges["train"][1]),
        **splits,
    }


def period_times(table: pd.DataFrame) -> pd.DatetimeIndex:
    """The times ``fold_ranges`` counts: every row's (one series), or the sorted
    distinct times (many series: one cut serves every series)."""
    times = pd.DatetimeIndex(table["time"])
    return times.unique().sort_values() if "series" in table else times


def prepare_panel_fold(
    table: pd.DataFrame,
    params: Params,
    ranges: dict[str, tuple[int, int]],
    times: pd.DatetimeIndex,
    names: list[str],
) -> dict[str, Any]:
    """``prepare_fold`` of a panel sorted by (series, time): ``ranges`` index
    the distinct ``times``; rows after the fold's last test time are never
    read. Also gives ``codes`` (each fold row's series code) and ``rows`` (the
    fold rows' positions in ``table``)."""
    stamps = pd.DatetimeIndex(table["time"]).as_unit("ns").asi8
    cut = times.as_unit("ns").asi8
    keep = stamps <= cut[ranges["test"][1] - 1]
    rows = table.loc[keep].reset_index(drop=True)
    at = stamps[keep]
    code = ((at >= cut[ranges["val"][0]]).astype(np.int8)) + (
        at >= cut[ranges["test"][0]]
    )
    bundle = window.fit(
        rows.loc[code == 0],
        params.features,
        params.tasks,
        params.window.lookback,
        series=names,
        scaling=params.window.scaling,
        scaler=params.window.scaler,
    )
    # Static attributes (features.static): categories of the fold's training rows.
    bundle |= static.fit(rows, code == 0, params.features.static, names)
    lookback, horizon = bundle["lookback"], bundle["max_horizon"]
    ends = window.window_ends(rows["segment"].to_numpy(), lookback, horizon)
    targets = window.targets(rows, bundle)
    return {
        "bundle": bundle,
        "scaled": window.transform(rows, bundle),
        "targets": targets,
        "unseen": window.classes_unseen(targets, bundle, code == 0),
        "codes": window.series_codes(rows, bundle),
        "rows": np.flatnonzero(keep),
        **windows_by_code(ends, code.astype(np.int8), lookback, horizon),
    }


def run(
    table: pd.DataFrame,
    params: Params,
    cfg: Backtest,
    train_and_score: TrainAndScore,
    freq: str | None = None,
) -> dict[str, Any]:
    """Every fold's dates, model scores, baseline scores and skills; per task
    the mean and sample std over folds of each model score and each skill.

    ``freq`` (``ingest.freq``) places the seasonal naive value one season
    earlier in time (``grid.positions``); None counts rows instead."""
    panel = "series" in table
    times = period_times(table)
    names = sorted(table["series"].unique()) if panel else None
    positions = None
    if freq is not None:
        zone = params.features.timezone
        if panel:  # grid steps counted within each series (as the baselines stage)
            codes = pd.Index(names).get_indexer(table["series"])
            positions = series_positions(table["time"], codes, freq, zone)
        else:
            positions = grid.positions(table["time"], freq, zone)
    folds = []
    ranges_per_fold = fold_ranges(
        len(times), params.split.train, params.split.val, cfg.folds
    )
    # A bar over the folds on a terminal only (tqdm: disable=None off a TTY).
    progress = tqdm(
        ranges_per_fold, desc="folds", unit="fold", leave=False, disable=None
    )
    for i, ranges in enumerate(progress):
        try:
            if panel:
                fold = prepare_panel_fold(table, params, ranges, times, names)
                rows = fold["rows"]
            else:
                fold = prepare_fold(table, params, ranges)
                rows = slice(0, ranges["test"][1])
        except DataError as error:
            # The window stage's checks (a category, a static attribute or an
            # overflow unseen in the training range, a period without a window)
            # applied to the fold's shorter training range, which the main
            # split may pass: name the fold and its own fix.
            raise DataError(
                f"backtest fold {i + 1}: {error}; or use fewer backtest folds "
                f"(folds: {cfg.folds})"
            ) from error
        # As the window stage refuses it for the main split: an earlier fold's
        # shorter training range may lack a class (the baselines then failed
        # on the fold's validation windows, naming the main split's file).
        if fold["unseen"]:
            task, label, count = fold["unseen"][0]
            raise DataError(
                f"backtest fold {i + 1}: tasks.{task}: class {label!r} occurs "
                f"after the fold's training time range ({count} rows) but never "
                "inside it, so the fold's model cannot learn it; use fewer "
                f"backtest folds (folds: {cfg.folds}) or adjust "
                f"tasks.{task}.bins/classes"
            )
        scores = train_and_score(fold, ranges, i)
        references = fold_baselines(
            fold, params, None if positions is None else positions[rows]
        )
        unit = "steps" if panel else "rows"
        folds.append(
            {
                "fold": i + 1,
                **fold_dates(times, ranges, unit),
                f"test_{unit}": list(ranges["test"]),
                "scores": scores,
                "baselines": references,
                "skill": skill(fold["bundle"], scores, references),
            }
        )
    return {
        "std": STD,
        "summary": summarize([f["scores"] for f in folds]),
        "skill_summary": summarize([f["skill"] for f in folds]),
        "folds": folds,
    }


def fold_dates(
    times: pd.Series, ranges: dict[str, tuple[int, int]], unit: str = "rows"
) -> dict:
    """Each period's first and last time (UTC, ISO 8601) and its range of
    ``times`` (``period_times``), named ``unit``."""
    times = pd.DatetimeIndex(times)
    return {
        name: {
            "from": times[lo].isoformat(),
            "to": times[hi - 1].isoformat(),
            unit: [lo, hi],
        }
        for name, (lo, hi) in ranges.items()
    }


def fold_baselines(
    fold: dict[str, Any], params: Params, positions: np.ndarray | None
) -> dict[str, dict[str, dict[str, float]]]:
    """The baselines fitted on this fold's training (and validation) windows,
    scored on its test windows: ``{task: {baseline: {metric: value}}}``."""
    splits = {name: fold[name] for name in ("train", "val", "test")}
    run = run_baselines(
        fold["bundle"],
        fold["scaled"],
        fold["targets"],
        splits,
        season=params.baselines.season,
        seed=params.base.seed,
        positions=positions,
        codes=fold.get("codes"),
    )
    return run.test


def skill(
    bundle: dict[str, Any],
    scores: dict[str, dict[str, float]],
    references: dict[str, dict[str, dict[str, float]]],
) -> dict[str, dict[str, float]]:
    """``{task: {vs_<baseline>: 1 - model / baseline}}`` on the task's primary
    error (> 0: the model beats the baseline), as evaluate's skill; None where
    the baseline's error is 0 (no skill is defined)."""
    out = {}
    for spec in bundle["tasks"]:
        name, key = spec["name"], PRIMARY[spec["type"]]
        out[name] = {
            f"vs_{ref}": (
                1.0 - scores[name][key] / by_metric[key] if by_metric[key] else None
            )
            for ref, by_metric in references[name].items()
        }
    return out


def summarize(per_fold: list[dict[str, dict[str, float]]]) -> dict[str, Any]:
    """``{task: {metric: {mean, std}}}`` over folds; std is the sample standard
    deviation (ddof=1), None for fewer than two values (None values, an
    undefined skill, are left out)."""
    out: dict[str, Any] = {}
    for task, metrics in per_fold[0].items():
        out[task] = {}
        for metric in metrics:
            found = [fold[task][metric] for fold in per_fold]
            values = np.array([v for v in found if v is not None], float)
            mean = float(values.mean()) if len(values) else None
            std = float(values.std(ddof=1)) if len(values) > 1 else None
            out[task][metric] = {"mean": mean, "std": std}
    return out
