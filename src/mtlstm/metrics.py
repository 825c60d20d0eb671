"""Scores in original units, for the model and for reference forecasters alike.

Pure NumPy/scikit-learn (no TensorFlow), so baselines and tests stay cheap.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss


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
    actual: np.ndarray, proba: np.ndarray, n_classes: int
) -> dict[str, float]:
    """Accuracy, macro-F1 and log-loss from class probabilities.

    Macro-F1 averages over the classes present in the truth or the forecast
    (a class absent from both has no F1 to score, not an F1 of 0); log-loss
    keeps the full label set, so probability given to absent classes counts.
    """
    labels = list(range(n_classes))
    predicted = np.argmax(proba, axis=1)
    return {
        "accuracy": float(accuracy_score(actual, predicted)),
        "macro_f1": float(f1_score(actual, predicted, average="macro")),
        "log_loss": float(log_loss(actual, _clip(proba), labels=labels)),
    }


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
) -> dict[str, float]:
    """Scores of one task's model output (original units / probabilities)."""
    if spec["type"] == "regression":
        return regression_scores(actual, output)
    return classification_scores(actual, output, len(spec["classes"]))


def one_hot(index: np.ndarray, n_classes: int) -> np.ndarray:
    return np.eye(n_classes)[np.asarray(index, dtype=int)]


# Which error each task type's skill scores compare (lower is better).
PRIMARY = {"regression": "mae", "classification": "log_loss"}


def original_units(values: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """Per-row target in the units everything is scored in: regression values
    unscaled, classes as integer indices."""
    if spec["type"] == "regression":
        return np.asarray(values, np.float64) * spec["std"] + spec["mean"]
    return np.asarray(values).astype(np.int64)


def model_output(output: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """A head's output in scoring units: regression heads predict the scaled
    target; classification heads' probabilities stay probabilities."""
    if spec["type"] == "regression":
        return original_units(np.asarray(output)[:, 0], spec)
    return np.asarray(output, dtype=np.float64)


def window_losses(
    spec: dict[str, Any], actual: np.ndarray, output: np.ndarray
) -> np.ndarray:
    """Each window's primary error, whose mean is the task's PRIMARY score:
    absolute error (regression) or log-loss (classification, probabilities
    clipped as in ``classification_scores``)."""
    actual = np.asarray(actual)
    if spec["type"] == "regression":
        return np.abs(np.asarray(output, float) - np.asarray(actual, float))
    proba = _clip(output)
    return -np.log(proba[np.arange(len(actual)), actual.astype(np.int64)])


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


def task_summary(spec: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    """One task's part of ``metrics/scores.json``, the pipeline's one DVC metric
    (what a person compares): the model's scores, primary error first; its skill
    against each reference (``skill.<reference>``, point value); then the same
    scores of the single-task model and of each baseline (``task_report``'s
    intervals, tests and counters stay in ``metrics/evaluate.json``)."""
    primary = PRIMARY[spec["type"]]
    names = [primary, *(k for k in report["model"] if k != primary)]

    def pick(scores: dict[str, Any]) -> dict[str, Any]:
        return {k: scores[k] for k in names if k in scores}

    out: dict[str, Any] = pick(report["model"])
    out["skill"] = {
        ref.removeprefix("vs_"): s["value"] for ref, s in report["skill"].items()
    }
    if "single_task" in report:
        out["single_task"] = pick(report["single_task"])
    out["baselines"] = {b: pick(v) for b, v in report["baselines"].items()}
    return out


def score_outputs(
    bundle: dict[str, Any],
    targets: dict[str, np.ndarray],
    ends: np.ndarray,
    outputs: dict[str, np.ndarray],
) -> dict[str, dict[str, float]]:
    """Each task's scores for model ``outputs`` on the windows ending at ``ends``."""
    scores = {}
    for spec in bundle["tasks"]:
        name = spec["name"]
        actual = original_units(targets[name], spec)[ends + spec["horizon"]]
        scores[name] = score_task(spec, actual, model_output(outputs[name], spec))
    return scores
