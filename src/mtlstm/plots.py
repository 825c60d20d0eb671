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


def task_label(spec: dict[str, Any]) -> str:
    unit = f" [{spec['unit']}]" if spec.get("unit") else ""
    steps = "step" if spec["horizon"] == 1 else "steps"
    return f"{spec['name']}: {spec['target']}{unit}, {spec['horizon']} {steps} ahead"


def predictions_table(
    spec: dict[str, Any],
    times: pd.DatetimeIndex,
    actual: np.ndarray,
    predicted: np.ndarray,
    points: int,
) -> pd.DataFrame:
    """The first ``points`` test steps: actual and forecast at each target time."""
    n = min(points, len(actual))
    stamps = times[:n].strftime("%Y-%m-%dT%H:%M:%SZ")
    series = {"actual": actual[:n], "predicted": predicted[:n]}
    frames = [
        pd.DataFrame({"time": stamps, "series": name, "value": values})
        for name, values in series.items()
    ]
    return pd.concat(frames, ignore_index=True).assign(task=task_label(spec))


def residuals_table(
    spec: dict[str, Any], actual: np.ndarray, predicted: np.ndarray
) -> pd.DataFrame:
    """Forecast minus actual for every test window (binned by the template)."""
    residual = np.asarray(predicted) - np.asarray(actual)
    return pd.DataFrame({"task": task_label(spec), "residual": residual})


def confusion_table(
    spec: dict[str, Any], actual: np.ndarray, proba: np.ndarray
) -> pd.DataFrame:
    labels = np.asarray(spec["classes"])
    return pd.DataFrame(
        {
            "task": task_label(spec),
            "actual": labels[actual],
            "predicted": labels[np.argmax(proba, axis=1)],
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
    with its 95% interval."""
    skill = report["skill"]
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
