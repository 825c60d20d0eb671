"""Scores and skill (mtlstm.metrics): oracles worked out by hand.

Every number the pipeline reports goes through these functions, so each is
pinned by a tiny example whose value is computed in the comment beside it.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from mtlstm import metrics, uncertainty

REG = {"name": "load", "type": "regression", "horizon": 2, "mean": 10.0, "std": 2.0}
CLS = {
    "name": "sky",
    "type": "classification",
    "horizon": 1,
    "classes": ["a", "b", "c"],
}


def test_regression_scores_oracle():
    scores = metrics.regression_scores([10.0, 20.0, 30.0], [12.0, 20.0, 27.0])
    assert scores["mae"] == pytest.approx(5 / 3)  # (2 + 0 + 3) / 3
    assert scores["rmse"] == pytest.approx(np.sqrt(13 / 3))  # (4 + 0 + 9) / 3
    # sMAPE = 100 * mean(2|e| / (|a| + |p|)): 2*2/22, 0, 2*3/57
    assert scores["smape"] == pytest.approx(100 * (4 / 22 + 0 + 6 / 57) / 3)


def test_smape_is_200_for_a_forecast_of_zero():
    assert metrics.regression_scores([5.0], [0.0])["smape"] == pytest.approx(200.0)


def test_classification_scores_oracle():
    actual = np.array([0, 0, 1, 2])
    proba = np.array(
        [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.6, 0.2], [0.5, 0.25, 0.25]]
    )  # argmax: 0, 1, 1, 0
    scores = metrics.classification_scores(actual, proba, 3)
    assert scores["accuracy"] == pytest.approx(0.5)
    # F1 per class: a: P 1/2, R 1/2 -> 1/2; b: P 1/2, R 1 -> 2/3; c: 0.
    # Macro averages them: (1/2 + 2/3 + 0) / 3 = 7/18 (micro-F1 would be 0.5).
    assert scores["macro_f1"] == pytest.approx(7 / 18)
    assert scores["log_loss"] == pytest.approx(
        -(np.log(0.8) + np.log(0.1) + np.log(0.6) + np.log(0.25)) / 4
    )


def test_macro_f1_ignores_a_class_absent_from_truth_and_forecast():
    actual = np.array([0, 1, 0, 1])
    proba = metrics.one_hot(actual, 3)  # a perfect forecast; class c never occurs
    scores = metrics.classification_scores(actual, proba, 3)
    assert scores["macro_f1"] == pytest.approx(1.0)
    assert scores["accuracy"] == pytest.approx(1.0)


def test_per_class_rows_oracle():
    spec = {"name": "level", "classes": ["low", "mid", "high"]}
    # Two windows x two steps (pooled); the truth holds no "high".
    actual = np.array([[0, 0], [1, 1]])
    model = np.eye(3)[[[0, 1], [1, 1]]]  # forecasts 0, 1, 1, 1
    never = np.eye(3)[[[2, 2], [2, 2]]]  # always "high"
    rows = metrics.per_class_rows(spec, actual, {"model": model, "never": never})
    assert [(r["class"], r["forecaster"]) for r in rows] == [
        ("low", "model"),
        ("low", "never"),
        ("mid", "model"),
        ("mid", "never"),
        ("high", "model"),
        ("high", "never"),
    ]
    by = {(r["class"], r["forecaster"]): r for r in rows}
    assert [by["low", "model"][k] for k in ("windows", "precision", "recall")] == [
        2,
        1.0,
        0.5,
    ]
    assert by["low", "model"]["f1"] == pytest.approx(2 / 3)
    # mid: 2 right of 3 forecast, both actual mid found.
    assert by["mid", "model"]["precision"] == pytest.approx(2 / 3)
    assert by["mid", "model"]["recall"] == 1.0
    assert by["mid", "model"]["f1"] == pytest.approx(0.8)
    # A class never forecast, and one never true: 0, not an error.
    assert by["low", "never"]["precision"] == 0.0
    assert by["high", "never"]["windows"] == 0
    assert by["high", "never"]["f1"] == 0.0
    # Over the classes present, the F1 column averages to the macro-F1.
    f1 = [by[c, "model"]["f1"] for c in ("low", "mid")]
    assert np.mean(f1) == pytest.approx(
        metrics.score_task(
            {"type": "classification", "classes": spec["classes"]}, actual, model
        )["macro_f1"]
    )


def test_log_loss_keeps_the_full_label_set():
    actual = np.array([0, 1])
    proba = np.array([[0.5, 0.25, 0.25], [0.25, 0.5, 0.25]])  # c gets 1/4 each
    scores = metrics.classification_scores(actual, proba, 3)
    assert scores["log_loss"] == pytest.approx(-np.log(0.5))


def test_skill_oracle_and_sign():
    assert uncertainty.skill_of_means(1.0, 4.0) == pytest.approx(0.75)  # better
    assert uncertainty.skill_of_means(6.0, 4.0) == pytest.approx(-0.5)  # worse
    assert uncertainty.skill_of_means(3.0, 0.0) == 0.0  # a perfect reference


def test_compare_reports_skill_on_the_mean_losses():
    model = np.array([1.0, 3.0, 2.0, 2.0])  # mean 2
    references = {"persistence": np.full(4, 8.0), "hgb": np.array([1.0, 1, 1, 1])}
    skill = uncertainty.compare(model, references, block=2, samples=200, seed=0)
    assert skill["vs_persistence"]["value"] == pytest.approx(0.75)  # 1 - 2/8
    assert skill["vs_hgb"]["value"] == pytest.approx(-1.0)  # 1 - 2/1
    assert skill["vs_persistence"]["loss_diff"] == pytest.approx(-6.0)


def test_task_report_places_scores_and_skill():
    model = {"mae": 2.0, "rmse": 3.0}
    baselines = {"persistence": {"mae": 4.0, "rmse": 5.0}}
    skill = {"vs_persistence": {"value": 0.5}}
    report = metrics.task_report(REG, model, baselines, {"mae": 2.5}, skill)
    assert report == {
        "model": model,
        "baselines": baselines,
        "single_task": {"mae": 2.5},
        "skill": skill,
    }
    assert "single_task" not in metrics.task_report(REG, model, baselines, None, {})


def test_window_losses_are_absolute_error_and_log_loss():
    assert_allclose(
        metrics.window_losses(REG, np.array([1.0, 5.0]), np.array([2.0, 2.0])),
        [1.0, 3.0],
    )
    proba = np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]])
    assert_allclose(
        metrics.window_losses(CLS, np.array([0, 1]), proba),
        [-np.log(0.5), -np.log(0.8)],
    )


def test_score_outputs_scores_row_e_plus_horizon_in_original_units():
    targets = {"load": np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], dtype=np.float32)}
    ends = np.array([1, 2])  # horizon 2: rows 3 and 4, i.e. 16 and 18 in units
    outputs = {"load": np.array([[3.0], [5.0]])}  # 16 and 20 in units
    scores = metrics.score_outputs({"tasks": [REG]}, targets, ends, outputs)
    assert scores["load"]["mae"] == pytest.approx(1.0)  # (0 + 2) / 2
    assert scores["load"]["rmse"] == pytest.approx(np.sqrt(2.0))


def test_score_outputs_classification_horizon():
    spec = {**CLS, "horizon": 2}
    targets = {"sky": np.array([0, 0, 1, 2, 2], dtype=np.int32)}
    ends = np.array([0, 1, 2])  # targets: rows 2, 3, 4 -> classes 1, 2, 2
    outputs = {"sky": metrics.one_hot(np.array([1, 2, 0]), 3)}
    scores = metrics.score_outputs({"tasks": [spec]}, targets, ends, outputs)
    assert scores["sky"]["accuracy"] == pytest.approx(2 / 3)
