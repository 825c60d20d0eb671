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
    """Accuracy, macro-F1 and log-loss from class probabilities."""
    labels = list(range(n_classes))
    predicted = np.argmax(proba, axis=1)
    return {
        "accuracy": float(accuracy_score(actual, predicted)),
        "macro_f1": float(
            f1_score(actual, predicted, labels=labels, average="macro", zero_division=0)
        ),
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


def skill(model_error: float, reference_error: float) -> float:
    """1 - model / reference: 0 means no better than the reference, 1 is perfect."""
    return float(1.0 - model_error / reference_error) if reference_error > 0 else 0.0


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
