"""Scores in original units, for the model and for reference forecasters alike.

Pure NumPy/scikit-learn (no TensorFlow), so baselines and tests stay cheap.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
)

from mtlstm import tasks


def regression_scores(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and sMAPE (percent, 0..200) in the target's original units."""
    actual, predicted = np.asarray(actual, float), np.asarray(predicted, float)
    err = predicted - actual
    denom = np.abs(actual) + np.abs(predicted)
    ratio = np.divide(2 * np.abs(err), denom, out=np.zeros_like(err), where=denom > 0)
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "smape": float(100 * np.mean(ratio)),
    }


def classification_scores(
    actual: np.ndarray,
    proba: np.ndarray,
    n_classes: int,
    decided: np.ndarray | None = None,
) -> dict[str, float]:
    """Accuracy, macro-F1 and log-loss from class probabilities; accuracy and
    macro-F1 of the classes ``decided`` where given (``tasks.decisions``), else
    of the most probable class.

    Macro-F1 averages over the classes present in the truth or the forecast
    (a class absent from both has no F1 to score, not an F1 of 0); log-loss
    keeps the full label set, so probability given to absent classes counts.
    """
    labels = list(range(n_classes))
    predicted = tasks.classes_of(proba, decided)
    return {
        "accuracy": float(accuracy_score(actual, predicted)),
        "macro_f1": float(f1_score(actual, predicted, average="macro")),
        "log_loss": float(log_loss(actual, _clip(proba), labels=labels)),
    }


PER_CLASS_COLUMNS = [
    "task",
    "class",
    "windows",
    "forecaster",
    "precision",
    "recall",
    "f1",
]


def per_class_rows(
    spec: dict[str, Any],
    actual: np.ndarray,
    forecasts: dict[str, np.ndarray],
    decided: dict[str, np.ndarray] | None = None,
) -> list[dict[str, Any]]:
    """Per class, then per forecaster (class probabilities; the class named as
    in ``classification_scores``, from ``decided[forecaster]`` where given):
    precision, recall and F1 pooled over every window and step, and the class's
    number of actual targets (the ``windows`` column: one per window at one
    horizon, one per window and step for a range of horizons). Macro-F1 is
    the mean of the F1 column over the classes with targets or forecasts: a
    class with neither shows F1 0 here and is left out of macro-F1
    (``classification_scores``). A rare class
    moves macro-F1 by whole windows, and this is where a difference between
    two forecasters shows which class it comes from. A class never forecast
    has precision 0 (scikit-learn's ``zero_division=0``)."""
    classes = spec["classes"]
    labels = list(range(len(classes)))
    truth = np.asarray(actual).ravel()
    support = np.bincount(truth.astype(np.int64), minlength=len(classes))
    scores = {}
    for name, proba in forecasts.items():
        proba = np.asarray(proba).reshape(-1, len(classes))
        predicted = tasks.classes_of(proba, (decided or {}).get(name))
        scores[name] = precision_recall_fscore_support(
            truth, predicted, labels=labels, zero_division=0
        )[:3]
    return [
        {
            "task": spec["name"],
            "class": label,
            "windows": int(support[i]),
            "forecaster": name,
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
        }
        for i, label in enumerate(classes)
        for name, (p, r, f) in scores.items()
    ]


def _clip(proba: np.ndarray) -> np.ndarray:
    # A hard 0/1 forecast (persistence) would give an infinite log-loss.
    p = np.clip(np.asarray(proba, float), 1e-7, 1.0)
    return p / p.sum(axis=1, keepdims=True)


def confusion(actual: np.ndarray, predicted: np.ndarray, n_classes: int) -> list:
    return confusion_matrix(actual, predicted, labels=list(range(n_classes))).tolist()


def persistence(raw: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The last observed value (or class) at each window end, as the forecast."""
    return raw[ends]


def score_task(
    spec: dict[str, Any],
    actual: np.ndarray,
    output: np.ndarray,
    decided: np.ndarray | None = None,
) -> dict[str, float]:
    """Scores of one task's forecasts (original units / probabilities), pooled
    over every window and step: ``actual`` is ``n`` or ``n x S``, ``output`` the
    same (regression) or with a class axis (probabilities); ``decided``, shaped
    like ``actual``: the classes named, where not the argmax (``decide_by``).
    For MAE, accuracy and log-loss the pooled score is the mean of the per-step
    scores."""
    actual = np.asarray(actual)
    if spec["type"] == "regression":
        return regression_scores(actual.ravel(), np.asarray(output).ravel())
    n_classes = len(spec["classes"])
    proba = np.asarray(output).reshape(-1, n_classes)
    if decided is not None:
        decided = np.asarray(decided).ravel()
    return classification_scores(actual.ravel(), proba, n_classes, decided)


def step_scores(
    spec: dict[str, Any],
    actual: np.ndarray,
    output: np.ndarray,
    decided: np.ndarray | None = None,
) -> dict[str, list[float]]:
    """``{metric: [score at each step]}`` of ``n x S`` forecasts (``decided``:
    ``n x S`` classes named, as in ``score_task``)."""
    per_step = [
        score_task(
            spec, actual[:, i], output[:, i], None if decided is None else decided[:, i]
        )
        for i in range(actual.shape[1])
    ]
    return {key: [s[key] for s in per_step] for key in per_step[0]}


def one_hot(index: np.ndarray, n_classes: int) -> np.ndarray:
    return np.eye(n_classes)[np.asarray(index, dtype=int)]


# Which error each task type's skill scores compare (lower is better).
PRIMARY = {"regression": "mae", "classification": "log_loss"}


def original_units(
    values: np.ndarray, spec: dict[str, Any], series: np.ndarray | None = None
) -> np.ndarray:
    """Per-row target in the units everything is scored in: regression values
    unscaled, classes as integer indices.

    A task scaled per series (``series_mean``/``series_std``, window.scaling:
    per_series) needs ``series``: the series code of each value along the
    first axis (of each row, or of each window's end row for a forecast)."""
    if spec["type"] != "regression":
        return np.asarray(values).astype(np.int64)
    values = np.asarray(values, np.float64)
    if "series_mean" not in spec:
        return values * spec["std"] + spec["mean"]
    if series is None:
        raise ValueError(
            f"task {spec['name']!r} is scaled per series: pass each value's "
            "series code (data/windows/series.npy) to unscale it"
        )
    codes = np.asarray(series, np.int64).reshape((-1,) + (1,) * (values.ndim - 1))
    std = np.asarray(spec["series_std"], np.float64)[codes]
    return values * std + np.asarray(spec["series_mean"], np.float64)[codes]


def actuals(
    spec: dict[str, Any],
    per_row: np.ndarray,
    ends: np.ndarray,
    series: np.ndarray | None = None,
) -> np.ndarray:
    """``n x S`` targets in scoring units of the windows ending at ``ends``
    (``series``: every row's series code, where the task is scaled per series)."""
    return tasks.gather(original_units(per_row, spec, series), ends, spec)


def model_output(
    output: np.ndarray, spec: dict[str, Any], series: np.ndarray | None = None
) -> np.ndarray:
    """A head's output in scoring units, with the step axis (``mtlstm.tasks``):
    ``n x S`` regression forecasts in original units (the median of a quantile
    head), ``n x S x C`` class probabilities. ``series``: each window's series
    code (``series_rows[ends]``), where the task is scaled per series."""
    if spec["type"] == "regression":
        output = np.asarray(output)
        if tasks.quantiles(spec) is not None:
            output = output[..., tasks.median_index(spec)]
        return tasks.with_steps(spec, original_units(output, spec, series))
    return tasks.with_steps(spec, np.asarray(output, dtype=np.float64))


def model_quantiles(
    output: np.ndarray, spec: dict[str, Any], series: np.ndarray | None = None
) -> np.ndarray | None:
    """A quantile head's ``n x S x Q`` forecasts in original units, or None."""
    if tasks.quantiles(spec) is None:
        return None
    return original_units(np.asarray(output), spec, series)


def window_series(
    series_rows: np.ndarray | None, ends: np.ndarray
) -> np.ndarray | None:
    """Each window's series code (of its end row), or None for one series."""
    return None if series_rows is None else np.asarray(series_rows)[ends]


def window_losses(
    spec: dict[str, Any], actual: np.ndarray, output: np.ndarray
) -> np.ndarray:
    """Each window's primary error, whose mean is the task's PRIMARY score:
    absolute error (regression) or log-loss (classification, probabilities
    clipped as in ``classification_scores``), averaged over the window's steps
    when ``actual`` is ``n x S``."""
    actual = np.asarray(actual)
    if spec["type"] == "regression":
        losses = np.abs(np.asarray(output, float) - np.asarray(actual, float))
    else:
        n_classes = len(spec["classes"])
        proba = _clip(np.asarray(output).reshape(-1, n_classes))
        flat = actual.ravel().astype(np.int64)
        losses = -np.log(proba[np.arange(flat.size), flat]).reshape(actual.shape)
    return losses.mean(axis=1) if losses.ndim == 2 else losses


# --- quantile forecasts ---------------------------------------------------


def pinball_losses(
    actual: np.ndarray, quantiles: np.ndarray, levels: list[float]
) -> np.ndarray:
    """``n x S x Q`` pinball losses: ``max(q (y - f), (q - 1) (y - f))``."""
    q = np.asarray(levels, np.float64)
    diff = np.asarray(actual, np.float64)[..., None] - np.asarray(quantiles, float)
    return np.maximum(q * diff, (q - 1.0) * diff)


def quantile_scores(
    spec: dict[str, Any], actual: np.ndarray, quantiles: np.ndarray
) -> dict[str, float]:
    """Mean pinball loss over windows, steps and levels, and per central
    interval (``mtlstm.tasks.intervals``) its empirical coverage (share of
    targets inside, bounds included) and mean width, in original units."""
    levels = tasks.quantiles(spec)
    actual = np.asarray(actual, np.float64)
    quantiles = np.asarray(quantiles, np.float64)
    out = {"pinball": float(pinball_losses(actual, quantiles, levels).mean())}
    for lo, hi, level in tasks.intervals(spec):
        lower, upper = quantiles[..., lo], quantiles[..., hi]
        name = tasks.level_name(level)
        out[f"coverage_{name}"] = float(np.mean((actual >= lower) & (actual <= upper)))
        out[f"width_{name}"] = float(np.mean(upper - lower))
    return out


def window_pinball(
    spec: dict[str, Any], actual: np.ndarray, quantiles: np.ndarray
) -> np.ndarray:
    """Each window's mean pinball loss over its steps and levels (``n``)."""
    losses = pinball_losses(actual, quantiles, tasks.quantiles(spec))
    return losses.reshape(len(losses), -1).mean(axis=1)


def task_report(
    spec: dict[str, Any],
    model: dict[str, float],
    baselines: dict[str, dict[str, float]],
    single_task: dict[str, float] | None,
    skill: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """Model and references side by side, with ``skill``: per reference
    (``vs_<name>``) the skill 1 - model / reference on the task's primary error
    (> 0 beats the reference) with its interval and test
    (``uncertainty.compare``). ``vs_single_task`` > 0 means training the tasks
    together helped this task."""
    report: dict[str, Any] = {"model": model, "baselines": baselines}
    if single_task is not None:
        report["single_task"] = single_task
    report["skill"] = skill
    return report


def with_interval(name: str, compared: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``{name: {ref: value}, name_low: {ref: ci_low}, name_high: {ref: ci_high}}``
    from ``{"vs_<ref>": {value, ci_low, ci_high, ...}}``; a bound given for no
    reference (a point only, no bootstrap) is left out."""
    out: dict[str, Any] = {}
    for suffix, key in (("", "value"), ("_low", "ci_low"), ("_high", "ci_high")):
        found = {
            ref.removeprefix("vs_"): s[key] for ref, s in compared.items() if key in s
        }
        if found or key == "value":
            out[name + suffix] = found
    return out


def task_summary(spec: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    """One task's part of ``metrics/scores.json``, the pipeline's one DVC metric
    (what a person compares): the model's scores, primary error first; its skill
    against each reference (``skill.<reference>``, point value) and the bounds
    of that skill's 95% interval (``skill_low.<reference>``,
    ``skill_high.<reference>``: columns of `dvc exp show`, so an experiment's
    verdict can be read there); for a classification task the same for its
    macro-F1 minus each reference's (``macro_f1_diff``, ``macro_f1_diff_low``,
    ``macro_f1_diff_high``); then the same scores of the single-task model and
    of each baseline (``task_report``'s tests and counters stay in
    ``metrics/evaluate.json``)."""
    primary = PRIMARY[spec["type"]]
    names = [primary, *(k for k in report["model"] if k != primary)]

    def pick(scores: dict[str, Any]) -> dict[str, Any]:
        return {k: scores[k] for k in names if k in scores}

    out: dict[str, Any] = pick(report["model"])
    out.update(with_interval("skill", report["skill"]))
    if "macro_f1_diff" in report:
        out.update(with_interval("macro_f1_diff", report["macro_f1_diff"]))
    if "single_task" in report:
        out["single_task"] = pick(report["single_task"])
    out["baselines"] = {b: pick(v) for b, v in report["baselines"].items()}
    return out


def score_outputs(
    bundle: dict[str, Any],
    targets: dict[str, np.ndarray],
    ends: np.ndarray,
    outputs: dict[str, np.ndarray],
    series_rows: np.ndarray | None = None,
) -> dict[str, dict[str, float]]:
    """Each task's scores for model ``outputs`` on the windows ending at ``ends``
    (pooled over steps; quantile tasks add ``quantile_scores``). ``series_rows``:
    every row's series code (data/windows/series.npy), or None."""
    scores = {}
    at_end = window_series(series_rows, ends)
    decided = model_decisions(bundle, outputs, at_end)
    for spec in bundle["tasks"]:
        name = spec["name"]
        actual = actuals(spec, targets[name], ends, series_rows)
        output = model_output(outputs[name], spec, at_end)
        scores[name] = score_task(spec, actual, output, decided.get(name))
        quantiles = model_quantiles(outputs[name], spec, at_end)
        if quantiles is not None:
            scores[name] |= quantile_scores(spec, actual, quantiles)
    return scores


def model_decisions(
    bundle: dict[str, Any],
    outputs: dict[str, np.ndarray],
    series: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """``tasks.decisions`` of model ``outputs`` (heads by task name): ``n x S``
    classes of each class task with ``decide_by``, binned from its regression
    head's forecast in original units (the median of a quantile head); a model
    without that head (a single-task model) is left to its argmax."""
    specs = {spec["name"]: spec for spec in bundle["tasks"]}
    forecasts = {
        name: model_output(outputs[name], specs[name], series)
        for name in {tasks.decided_by(s) for s in bundle["tasks"]}
        if name in outputs and name in specs
    }
    return tasks.decisions(bundle["tasks"], forecasts)
