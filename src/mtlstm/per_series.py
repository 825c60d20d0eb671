"""Per-series evaluation: where, in a panel, the model wins and where it loses.

``metrics/evaluate.json`` pools every test window of every series. A panel
(``ingest.series``) can hide a model that wins big on a few large series and
loses on most others, so ``evaluate`` also breaks each task's primary error
(``metrics.PRIMARY``: MAE for regression, log-loss for classification) down by
the series of each test window, for the model, every baseline and the
single-task model, and scores the model against the *best baseline of that
series* (the one with the lowest error there): skill ``1 - model / best`` with
its 95% moving-block bootstrap interval and Diebold-Mariano p-value on that
series' windows (``mtlstm.uncertainty``, blocks of ``baselines.season`` windows,
or of the task's last step ahead if longer, as for the pooled scores; no
interval, NaN, for a series with no more windows than that: one block would
hold them all, and every resample would have their mean).

A series' error is the mean of its windows' losses (``metrics.window_losses``,
each a mean over the window's steps), so it is exactly the pooled score
restricted to that series' windows. Without ``ingest.series`` the data are one
series, named ``ALL``: one row per task whose errors equal the pooled scores.

Pure NumPy/pandas: no TensorFlow.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mtlstm import metrics, uncertainty

ALL = "all"  # the one series' name when ingest.series is not declared
# First columns of metrics/per_series.csv; then each baseline's error (and the
# single-task model's), named after it.
COLUMNS = [
    "task",
    "series",
    "windows",
    "metric",
    "model",
    "best_baseline",
    "skill",
    "ci_low",
    "ci_high",
    "dm_p",
]
PLOT_COLUMNS = ["task", "series", "best_baseline", "skill", "ci_low", "ci_high"]
# A bar per series is readable for dozens of series, not for M5's 30,490: past
# this many scored series per task the plot keeps the half with the lowest skill
# and the half with the highest (where the model loses and wins most);
# metrics/per_series.csv keeps every series.
PLOT_SERIES_MAX = 40


def task_table(
    spec: dict[str, Any],
    window_series: np.ndarray | None,
    names: list[str] | None,
    model_loss: np.ndarray,
    baseline_losses: dict[str, np.ndarray],
    single_task_loss: np.ndarray | None,
    block: int,
    samples: int,
    seed: int,
) -> pd.DataFrame:
    """One row per series (``COLUMNS``, then one error column per baseline
    and ``single_task`` if given), sorted by series name.

    ``window_series``: each test window's series code (None: one series,
    ``ALL``); the losses are per test window, in the same order. A series with
    no test window keeps a row with ``windows`` 0 and no scores. The best
    baseline is the one with the lowest error on the series (the first listed
    on a tie).
    """
    if not baseline_losses:
        raise ValueError("at least one baseline is needed")
    n = len(model_loss)
    if window_series is None:
        window_series, names = np.zeros(n, dtype=np.int64), [ALL]
    window_series = np.asarray(window_series, np.int64)
    if window_series.shape != (n,):
        raise ValueError(
            f"{window_series.size} series codes for {n} windows; one per window"
        )
    if n and (window_series.min() < 0 or window_series.max() >= len(names)):
        raise ValueError(f"series codes must lie in 0..{len(names) - 1}")
    # Each series' windows in time order, without a pass over all windows per
    # series (a panel may have tens of thousands).
    model_loss = np.asarray(model_loss, np.float64)
    baseline_losses = {
        ref: np.asarray(loss, np.float64) for ref, loss in baseline_losses.items()
    }
    if single_task_loss is not None:
        single_task_loss = np.asarray(single_task_loss, np.float64)
    order = np.argsort(window_series, kind="stable")
    starts = np.searchsorted(window_series[order], np.arange(len(names) + 1))
    rows = []
    for code, name in enumerate(names):
        chosen = order[starts[code] : starts[code + 1]]
        row: dict[str, Any] = {
            "task": spec["name"],
            "series": name,
            "windows": int(chosen.size),
            "metric": metrics.PRIMARY[spec["type"]],
        }
        if not chosen.size:
            rows.append(row)
            continue
        model = model_loss[chosen]
        errors = {
            ref: float(np.mean(loss[chosen])) for ref, loss in baseline_losses.items()
        }
        best = min(errors, key=errors.get)  # the first of equal errors
        versus = uncertainty.compare(
            model,
            {best: baseline_losses[best][chosen]},
            block=min(block, int(chosen.size)),
            samples=samples,
            seed=seed,
        )[f"vs_{best}"]
        row |= {
            "model": float(model.mean()),
            "best_baseline": best,
            "skill": versus["value"],
            "ci_low": versus["ci_low"],
            "ci_high": versus["ci_high"],
            "dm_p": versus["dm_p"],
            **errors,
        }
        if single_task_loss is not None:
            row["single_task"] = float(np.mean(single_task_loss[chosen]))
        rows.append(row)
    extra = [
        *baseline_losses,
        *(["single_task"] if single_task_loss is not None else []),
    ]
    table = pd.DataFrame(rows, columns=[*COLUMNS, *extra])
    return table.sort_values("series", kind="stable", ignore_index=True)


def combine(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Every task's table in one, sorted by task then series; baselines that
    only some tasks have (majority, seasonal naive) are empty elsewhere."""
    table = pd.concat(tables, ignore_index=True)
    return table.sort_values(["task", "series"], kind="stable", ignore_index=True)


def plot_table(table: pd.DataFrame, limit: int = PLOT_SERIES_MAX) -> pd.DataFrame:
    """The rows of ``plots/per_series.csv``: skill vs the best baseline per
    series and task, with its interval; series without test windows left out.

    A task with more than ``limit`` scored series keeps its ``limit // 2``
    lowest-skill and ``limit - limit // 2`` highest-skill series, ordered by
    skill (ties by series name), so reruns draw the same bars.
    """
    scored = table.loc[table["windows"] > 0, PLOT_COLUMNS]
    parts = []
    for _, rows in scored.groupby("task", sort=False):
        if len(rows) > limit:
            rows = rows.sort_values(["skill", "series"], kind="stable")
            low = limit // 2
            rows = pd.concat([rows.iloc[:low], rows.iloc[len(rows) - (limit - low) :]])
        parts.append(rows)
    if not parts:
        return scored.reset_index(drop=True)
    return pd.concat(parts).reset_index(drop=True)


def summary(table: pd.DataFrame) -> str:
    """One line for a task's table: in how many series the model beats (skill
    > 0) its best baseline, and in how many the interval lies above 0."""
    scored = table[table["windows"] > 0]
    wins = int((scored["skill"] > 0).sum())
    sure_wins = int((scored["ci_low"] > 0).sum())
    sure_losses = int((scored["ci_high"] < 0).sum())
    drawn = (
        f"; plot: the {PLOT_SERIES_MAX // 2} lowest and "
        f"{PLOT_SERIES_MAX - PLOT_SERIES_MAX // 2} highest skills"
        if len(scored) > PLOT_SERIES_MAX
        else ""
    )
    return (
        f"beats its best baseline in {wins} of {len(scored)} series "
        f"(interval above 0 in {sure_wins}, below 0 in {sure_losses}){drawn}"
    )
