"""Tables behind ``dvc plots show``: one long-format CSV per plot kind.

Every row carries a ``task`` label (name, target, unit, horizon), which the
templates in ``.dvc/plots/`` facet by, so each chart is titled with its task.
Values are in the target's original units.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mtlstm import tasks


def task_label(spec: dict[str, Any], series: str | None = None) -> str:
    """``series``: the one series of a panel a chart draws, named after it."""
    unit = f" [{spec['unit']}]" if spec.get("unit") else ""
    shown = f", series {series}" if series is not None else ""
    return f"{spec['name']}: {spec['target']}{unit}, {tasks.describe(spec)}{shown}"


def drawn_windows(window_series: np.ndarray | None, n_windows: int) -> np.ndarray:
    """The test windows a chart over time draws (predictions, fan): all of one
    series; in a panel (``window_series``: each window's series code) those of
    the first series (lowest code) only. Two series' values at the same times
    on one line would zigzag between the series and read as one series."""
    if window_series is None:
        return np.arange(n_windows)
    codes = np.asarray(window_series)
    # The test windows run series by series, each in time order.
    return np.flatnonzero(codes == codes.min())


def tiled(n_windows: int, n_steps: int) -> np.ndarray:
    """Every ``n_steps``-th window: their steps tile the target times one after
    the other (every window for one step), as a forecast issued once per
    ``n_steps`` (once a day for a day-ahead range) would be used."""
    return np.arange(0, n_windows, n_steps)


def predictions_table(
    spec: dict[str, Any],
    times: pd.DatetimeIndex,
    actual: np.ndarray,
    predicted: np.ndarray,
    points: int,
    series_name: str | None = None,
) -> pd.DataFrame:
    """The first ``points`` test steps: actual and forecast at each target time
    (``series_name``: the panel's series they are of, named in the label)."""
    n = min(points, len(actual))
    stamps = times[:n].strftime("%Y-%m-%dT%H:%M:%SZ")
    series = {"actual": actual[:n], "predicted": predicted[:n]}
    frames = [
        pd.DataFrame({"time": stamps, "series": name, "value": values})
        for name, values in series.items()
    ]
    return pd.concat(frames, ignore_index=True).assign(
        task=task_label(spec, series_name)
    )


def residuals_table(
    spec: dict[str, Any], actual: np.ndarray, predicted: np.ndarray
) -> pd.DataFrame:
    """Forecast minus actual for every test window (binned by the template)."""
    residual = np.asarray(predicted) - np.asarray(actual)
    return pd.DataFrame({"task": task_label(spec), "residual": residual})


def confusion_table(
    spec: dict[str, Any],
    actual: np.ndarray,
    proba: np.ndarray,
    decided: np.ndarray | None = None,
) -> pd.DataFrame:
    """Actual and forecast class per window: the class named by ``decided``
    where given (``decide_by``), else the most probable."""
    labels = np.asarray(spec["classes"])
    return pd.DataFrame(
        {
            "task": task_label(spec),
            "actual": labels[actual],
            "predicted": labels[tasks.classes_of(proba, decided)],
        }
    )


def training_curves(live_dir: Path, spec: dict[str, Any]) -> pd.DataFrame:
    """A task's loss per epoch, training and validation, from the per-metric
    files DVCLive wrote (``train/`` and ``eval/``)."""
    metrics = Path(live_dir) / "plots" / "metrics"
    column = f"{spec['name']}_loss"
    frames = []
    for folder, curve in (("train", "training"), ("eval", "validation")):
        logged = pd.read_csv(metrics / folder / f"{column}.tsv", sep="\t")
        frames.append(
            pd.DataFrame(
                {"epoch": logged["step"] + 1, "curve": curve, "loss": logged[column]}
            )
        )
    return pd.concat(frames, ignore_index=True).assign(task=task_label(spec))


def skill_table(spec: dict[str, Any], report: dict[str, Any]) -> pd.DataFrame:
    """Skill against each reference (1 - model / reference error; > 0 is better)
    with its 95% interval; for a task with quantiles also the pinball skill
    (references named "<reference> (pinball)")."""
    skill = dict(report["skill"])
    for name, value in report.get("pinball_skill", {}).items():
        skill[f"{name} (pinball)"] = value
    return pd.DataFrame(
        {
            "task": task_label(spec),
            "reference": [name.removeprefix("vs_") for name in skill],
            **{
                column: [s[key] for s in skill.values()]
                for column, key in (
                    ("skill", "value"),
                    ("ci_low", "ci_low"),
                    ("ci_high", "ci_high"),
                )
            },
        }
    )


def steps_table(
    spec: dict[str, Any], per_step: dict[str, Any], key: str
) -> pd.DataFrame:
    """Error ``key`` by step ahead (the task's primary error: MAE, or log-loss
    for classification), the model against every reference (``per_step`` of
    metrics/evaluate.json)."""
    steps = per_step["steps"]
    frames = [
        pd.DataFrame({"step": steps, "reference": name, "error": scores[key]})
        for name, scores in per_step.items()
        if name != "steps"
    ]
    table = pd.concat(frames, ignore_index=True)
    return table.assign(task=task_label(spec))[["task", "step", "reference", "error"]]


def fan_table(
    spec: dict[str, Any],
    times: pd.DatetimeIndex,
    actual: np.ndarray,
    levels: np.ndarray,
    points: int,
    series_name: str | None = None,
) -> pd.DataFrame:
    """The first ``points`` target times of tiled forecasts: per central
    interval its bounds, with the median and the actual, one row per time and
    interval (a fan chart shades each interval); ``series_name`` as in
    ``predictions_table``."""
    n = min(points, len(actual))
    stamps = times[:n].strftime("%Y-%m-%dT%H:%M:%SZ")
    median = levels[:n, tasks.median_index(spec)]
    frames = [
        pd.DataFrame(
            {
                "time": stamps,
                "interval": f"{tasks.level_name(level)}%",
                "lower": levels[:n, lo],
                "upper": levels[:n, hi],
                "median": median,
                "actual": actual[:n],
            }
        )
        for lo, hi, level in tasks.intervals(spec)
    ]
    if not frames:  # the median alone
        frames = [
            pd.DataFrame(
                {
                    "time": stamps,
                    "interval": "none",
                    "lower": median,
                    "upper": median,
                    "median": median,
                    "actual": actual[:n],
                }
            )
        ]
    table = pd.concat(frames, ignore_index=True).assign(
        task=task_label(spec, series_name)
    )
    columns = ["task", "time", "interval", "lower", "upper", "median", "actual"]
    return table[columns]
