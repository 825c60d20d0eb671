"""tasks.<class>.decide_by: a binned class task decided by binning a regression
task's forecast of the same target and horizon (mtlstm.tasks), for the model,
the single-task models and, where validation prefers it, gradient boosting;
the head still gives the probabilities. Schema errors, hand-built oracles, and
a real `dvc repro` on tiny data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import write_params
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score
from test_pipeline import make_project, tiny_params

from mtlstm import metrics, tasks
from mtlstm.baselines import decide_hgb
from mtlstm.config import load_params
from mtlstm.errors import ConfigError
from mtlstm.window import class_index

SPEC = {
    "name": "level",
    "type": "classification",
    "target": "y",
    "horizon": 1,
    "classes": ["low", "mid", "high"],
    "bins": [30.0, 45.0],
    "decide_by": "y",
}


def with_temperature_task(raw: dict) -> dict:
    """The default params plus ``temp`` (regression on Temperature, as
    temp_class) and temp_class decided by it."""
    raw["tasks"]["temp"] = {
        "type": "regression",
        "target": "Temperature",
        "horizon": 1,
        "unit": "deg C",
    }
    raw["tasks"]["temp_class"]["decide_by"] = "temp"
    raw["train"]["loss_weights"]["temp"] = 1.0
    return raw


# --- params.yaml ---------------------------------------------------------------


def test_decide_by_loads_and_reaches_the_task(tmp_path, raw_params):
    params = load_params(write_params(tmp_path, with_temperature_task(raw_params)))
    assert params.tasks["temp_class"].decide_by == "temp"
    assert params.tasks["demand"].decide_by is None


@pytest.mark.parametrize(
    "change, match",
    [
        (
            lambda t: t["demand"].update(decide_by="temp"),
            r"tasks\.demand\.decide_by: only for classification tasks",
        ),
        (
            lambda t: t["temp_class"].update(decide_by="nope"),
            r"tasks\.temp_class\.decide_by: 'nope' is not a regression task; name "
            r"the regression task that forecasts 'Temperature'",
        ),
        (
            lambda t: t["temp_class"].update(decide_by="temp_class"),
            r"tasks\.temp_class\.decide_by: 'temp_class' is not a regression task",
        ),
        (
            lambda t: t["temp_class"].update(decide_by="demand"),
            r"tasks\.temp_class\.decide_by: task 'demand' forecasts 'Demand' at "
            r"horizon 1, this task 'Temperature' at horizon 1; they must be the "
            r"same target and horizon",
        ),
        (
            lambda t: t["temp"].update(horizon=2),
            r"tasks\.temp_class\.decide_by: task 'temp' forecasts 'Temperature' at "
            r"horizon 2, this task 'Temperature' at horizon 1",
        ),
    ],
)
def test_decide_by_errors_name_the_key_and_the_fix(tmp_path, raw_params, change, match):
    raw = with_temperature_task(raw_params)
    change(raw["tasks"])
    with pytest.raises(ConfigError, match=match):
        load_params(write_params(tmp_path, raw))


def test_decide_by_needs_bins(tmp_path, raw_params):
    raw = with_temperature_task(raw_params)
    raw["ingest"]["columns"]["Holiday"] = "categorical"
    raw["tasks"]["temp_class"] = {
        "type": "classification",
        "target": "Holiday",
        "horizon": 1,
        "classes": ["False", "True"],
        "decide_by": "temp",
    }
    with pytest.raises(
        ConfigError, match=r"tasks\.temp_class\.decide_by: only for a task with bins"
    ):
        load_params(write_params(tmp_path, raw))


# --- oracles ---------------------------------------------------------------------


def test_bin_index_puts_an_edge_in_the_upper_class_as_the_targets_are():
    values = np.array([-5.0, 29.99, 30.0, 44.99, 45.0, 1000.0])
    expected = [0, 0, 1, 1, 2, 2]
    assert tasks.bin_index(SPEC, values).tolist() == expected
    assert class_index(pd.Series(values), SPEC).tolist() == expected


finite = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=100, deadline=None)
@given(
    edges=st.lists(finite, min_size=1, max_size=5, unique=True).map(sorted),
    values=st.lists(finite, min_size=1, max_size=20),
)
def test_bin_index_puts_each_value_between_its_class_edges(edges, values):
    spec = {**SPEC, "bins": edges, "classes": [f"c{i}" for i in range(len(edges) + 1)]}
    classes = tasks.bin_index(spec, np.array(values))
    bounds = np.array([-np.inf, *edges, np.inf])
    for value, k in zip(values, classes, strict=True):
        assert bounds[k] <= value < bounds[k + 1]


def test_classes_of_is_the_argmax_unless_decided():
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    assert tasks.classes_of(proba).tolist() == [0, 2]
    assert tasks.classes_of(proba, np.array([[1], [1]])).tolist() == [1, 1]


def test_decisions_bin_the_named_forecast_and_skip_tasks_without_it():
    other = {**SPEC, "name": "plain", "decide_by": None}
    forecasts = {"y": np.array([[10.0], [40.0], [50.0]])}
    decided = tasks.decisions([SPEC, other], forecasts)
    assert list(decided) == ["level"]
    assert decided["level"].tolist() == [[0], [1], [2]]
    assert tasks.decisions([SPEC], {}) == {}  # a single-task class model


def test_score_task_takes_accuracy_and_f1_from_the_decision_and_log_loss_from_proba():
    actual = np.array([0, 1, 2, 2])
    proba = np.array(
        [[0.1, 0.8, 0.1], [0.8, 0.1, 0.1], [0.8, 0.1, 0.1], [0.1, 0.8, 0.1]]
    )  # every argmax wrong
    plain = metrics.score_task(SPEC, actual, proba)
    decided = metrics.score_task(SPEC, actual, proba, decided=actual)
    assert plain["accuracy"] == 0.0
    assert decided["accuracy"] == 1.0 and decided["macro_f1"] == 1.0
    assert decided["log_loss"] == plain["log_loss"]
    rows = metrics.per_class_rows(SPEC, actual, {"m": proba}, {"m": actual})
    assert [r["f1"] for r in rows] == [1.0, 1.0, 1.0]


def test_model_decisions_bin_the_regression_head_in_original_units():
    bundle = {
        "tasks": [
            {**SPEC},
            {
                "name": "y",
                "type": "regression",
                "target": "y",
                "horizon": 1,
                "mean": 40.0,
                "std": 10.0,
            },
        ]
    }
    outputs = {"level": np.full((3, 3), 1 / 3), "y": np.array([[-2.0], [0.0], [1.0]])}
    # -2 -> 20 (low), 0 -> 40 (mid), 1 -> 50 (high)
    decided = metrics.model_decisions(bundle, outputs)
    assert decided["level"].tolist() == [[0], [1], [2]]
    assert metrics.model_decisions(bundle, {"level": outputs["level"]}) == {}


def test_model_decisions_bin_the_median_of_a_quantile_head_per_step():
    level = {**SPEC, "horizon": [1, 2]}
    source = {
        "name": "y",
        "type": "regression",
        "target": "y",
        "horizon": [1, 2],
        "quantiles": [0.1, 0.5, 0.9],
        "mean": 0.0,
        "std": 1.0,
    }
    # n=2 windows x 2 steps x 3 quantiles: only the median (middle) decides.
    quantiles = np.array(
        [
            [[0.0, 10.0, 99.0], [0.0, 40.0, 99.0]],
            [[0.0, 50.0, 99.0], [-9.0, 29.0, 31.0]],
        ]
    )
    outputs = {"level": np.full((2, 2, 3), 1 / 3), "y": quantiles}
    decided = metrics.model_decisions({"tasks": [level, source]}, outputs)
    assert decided["level"].tolist() == [[0, 1], [2, 0]]


def _hgb_outputs(binned_forecast):
    """Validation: actual classes 0, 1, 2, 2; the classifier's argmax gets the
    first two right."""
    actual = np.array([0, 1, 2, 2])
    proba = np.array(
        [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.8, 0.1, 0.1], [0.8, 0.1, 0.1]]
    )
    outputs = {
        "val": {"level": {"hgb_lag": proba}, "y": {"hgb_lag": binned_forecast}},
        "test": {"level": {"hgb_lag": proba}, "y": {"hgb_lag": np.array([50.0])}},
    }
    return outputs, {"val": {"level": actual}, "test": {"level": actual[:1]}}


def test_decide_hgb_bins_where_validation_prefers_it():
    outputs, observed = _hgb_outputs(np.array([10.0, 40.0, 50.0, 60.0]))  # all right
    choice, labels = decide_hgb(SPEC, outputs, observed)
    assert choice["decision"] == "binned y"
    assert choice["decision_val_macro_f1"]["binned y"] == 1.0
    assert labels["test"].tolist() == [2]


def test_decide_hgb_keeps_the_classifier_on_a_tie_or_worse():
    # The binned forecast gets exactly the classifier's two windows right.
    outputs, observed = _hgb_outputs(np.array([10.0, 40.0, 10.0, 10.0]))
    choice, labels = decide_hgb(SPEC, outputs, observed)
    assert choice["decision"] == "classifier" and labels is None
    f1 = choice["decision_val_macro_f1"]
    assert f1["classifier"] == f1["binned y"]


# --- a real dvc repro ----------------------------------------------------------


def test_repro_decides_the_class_by_the_regression_forecast(tmp_path):
    """The model's, the single-task models' and gradient boosting's class follow
    decide_by in every output that names a class; the probabilities stay the
    head's."""
    params = with_temperature_task(tiny_params())
    project = make_project(tmp_path / "repo", tmp_path / "scratch", params)
    project.repro()
    bins = params["tasks"]["temp_class"]["bins"]
    classes = np.asarray(params["tasks"]["temp_class"]["classes"])
    test = pd.read_csv(project.root / "predictions/test.csv")
    temp = test[test["task"] == "temp"].set_index("origin")
    level = test[test["task"] == "temp_class"].set_index("origin")
    forecast = temp["forecast"].astype(float).to_numpy()
    named = classes[np.searchsorted(bins, forecast, side="right")]
    assert (level["forecast"].to_numpy() == named).all()
    report = project.read_json("metrics/evaluate.json")["temp_class"]
    expected = f1_score(level["actual"], level["forecast"], average="macro")
    assert report["model"]["macro_f1"] == pytest.approx(expected)
    probabilities = level[[f"p_{c}" for c in classes]].astype(float).to_numpy()
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    # The single-task side: binned from the single-task temp model's forecast.
    single = np.load(project.root / "predictions/single_task/temp.npz")
    single_named = classes[np.searchsorted(bins, single["forecast"], side="right")]
    expected = f1_score(level["actual"], single_named, average="macro")
    assert report["single_task"]["macro_f1"] == pytest.approx(expected)
    # The macro-F1 differences follow the same decisions, with intervals.
    diff = report["macro_f1_diff"]["vs_single_task"]
    gap = report["model"]["macro_f1"] - report["single_task"]["macro_f1"]
    assert diff["value"] == pytest.approx(gap)
    assert diff["ci_low"] <= diff["value"] <= diff["ci_high"]
    hgb = report["macro_f1_diff"]["vs_hgb_lag"]["value"]
    gap = report["model"]["macro_f1"] - report["baselines"]["hgb_lag"]["macro_f1"]
    assert hgb == pytest.approx(gap)
    # Gradient boosting: validation chose one way and says which.
    chosen = project.read_json("metrics/baselines_val.json")["temp_class"]["hgb_lag"]
    assert chosen["decision"] in ("classifier", "binned temp")
    assert set(chosen["decision_val_macro_f1"]) == {"classifier", "binned temp"}
    per_class = pd.read_csv(project.root / "metrics/per_class.csv")
    model = per_class[per_class["forecaster"] == "model"]
    assert model["f1"].mean() == pytest.approx(report["model"]["macro_f1"])
    assert project.status() == {}
