"""Would tuning the class decision for macro-F1 help? Measured on VALIDATION only.

For every classification task: per-class offsets added to the log-probabilities
of the trained model (models/model.keras) and of the baselines stage's gradient
boosting, chosen on one chronological half of the validation windows and scored
on the other half, both ways (cross-fitted, so the score is not read on the
windows that chose the offsets). Two rules: a free offset per class (a grid,
the first class fixed at 0) and ``-t * log(training prior)`` with one ``t``.
The test split is never read. Run in a project folder after `dvc repro train`:

    python scripts/decision_offsets.py     # an example: ../../../scripts/...

Prints one JSON line per task and forecaster: macro-F1 of the argmax and of
each rule, the mean over the two scored halves (README: "Per-class decision
offsets, cross-fitted").
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
import search  # scripts/search.py: the same data and gradient boosting fit

from mtlstm import metrics

GRID = np.round(np.arange(-1.5, 1.51, 0.1), 2)  # per-class offsets
TEMPERATURES = np.round(np.arange(-1.0, 2.01, 0.1), 2)  # t of -t log prior


def macro_f1(actual: np.ndarray, log_proba: np.ndarray, offsets: np.ndarray) -> float:
    return float(f1_score(actual, np.argmax(log_proba + offsets, 1), average="macro"))


def best(
    candidates: list[np.ndarray], actual: np.ndarray, log_proba: np.ndarray
) -> np.ndarray:
    """The first candidate with the highest macro-F1 (ties: the earliest)."""
    scores = [macro_f1(actual, log_proba, c) for c in candidates]
    return candidates[int(np.argmax(scores))]


def cross_fitted(
    actual: np.ndarray, log_proba: np.ndarray, candidates: list[np.ndarray]
) -> float:
    """Mean over the two halves of the macro-F1 there of the offsets chosen on
    the other half."""
    half = len(actual) // 2
    first, second = slice(0, half), slice(half, len(actual))
    scores = []
    for choose, score in ((first, second), (second, first)):
        chosen = best(candidates, actual[choose], log_proba[choose])
        scores.append(macro_f1(actual[score], log_proba[score], chosen))
    return float(np.mean(scores))


def rules(n_classes: int, log_prior: np.ndarray) -> dict[str, list[np.ndarray]]:
    free = [np.r_[0.0, o] for o in itertools.product(GRID, repeat=n_classes - 1)]
    return {
        "argmax": [np.zeros(n_classes)],
        "offsets": free,
        "prior_t": [-t * log_prior for t in TEMPERATURES],
    }


def model_probabilities(data: dict[str, Any]) -> dict[str, np.ndarray]:
    from mtlstm.dataset import input_names, make_input_dataset
    from mtlstm.tf_setup import load_model

    bundle = data["bundle"]
    model = load_model("models/model.keras", [t["name"] for t in bundle["tasks"]])
    val, rows = np.asarray(data["val"], np.int64), data.get("series_rows")
    embedded = rows if "series" in input_names(model) else None
    ds = make_input_dataset(data["scaled"], val, bundle, 1024, embedded)
    outputs = model.predict(ds, verbose=0)
    if not isinstance(outputs, dict):  # a one-head model may return the array
        outputs = {bundle["tasks"][0]["name"]: outputs}
    return outputs


def main(argv: list[str] | None = None) -> None:
    # No options: --help explains, before any data is read.
    argparse.ArgumentParser(
        prog="decision_offsets.py", description=__doc__.split("\n\n")[0]
    ).parse_args(argv)
    from mtlstm.config import load_params

    data = search.load_data()
    bundle, rows = data["bundle"], data.get("series_rows")
    seed = load_params().base.seed
    outputs = model_probabilities(data)
    val = np.asarray(data["val"], np.int64)
    at_end = metrics.window_series(rows, val)
    for spec in bundle["tasks"]:
        if spec["type"] != "classification" or spec["horizon"] != 1:
            continue  # one step: one decision per window
        targets = data["targets"][spec["name"]]
        actual = metrics.actuals(spec, targets, val, rows).ravel()
        trained = metrics.actuals(spec, targets, data["train"], rows).ravel()
        counts = np.bincount(trained, minlength=len(spec["classes"]))
        log_prior = np.log(np.maximum(counts, 1) / counts.sum())
        forecasters = {
            "model": metrics.model_output(outputs[spec["name"]], spec, at_end),
            "hgb_lag": search.hgb_val_forecast(spec, data, seed),
        }
        for who, probabilities in forecasters.items():
            proba = np.asarray(probabilities).reshape(len(actual), -1)
            log_proba = np.log(np.clip(proba, 1e-9, 1.0))
            found = {
                name: round(cross_fitted(actual, log_proba, candidates), 4)
                for name, candidates in rules(proba.shape[1], log_prior).items()
            }
            print(json.dumps({"task": spec["name"], "forecaster": who, **found}))


if __name__ == "__main__":
    main()
