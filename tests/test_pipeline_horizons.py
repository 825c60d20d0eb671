"""End to end with real DVC: a range task with quantiles and a range classifier.

A tiny project (the helpers of test_pipeline.py) with ``demand`` forecasting
steps 1-6 with quantiles 0.1/0.5/0.9 and ``temp_class`` steps 1-3. Scores in
metrics/evaluate.json are recomputed from predictions/test.csv (one row per
origin, task and step, the actual beside each forecast), ``mtlstm predict``
reproduces that file exactly, and a change of quantiles reruns window and
makes due exactly the stages that read its output.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from test_pipeline import CSV, STAGES, due_through_windows, make_project, tiny_params

QUANTILES = [0.1, 0.5, 0.9]


def range_params() -> dict:
    params = tiny_params()
    params["tasks"]["demand"].update(horizon=[1, 6], quantiles=QUANTILES)
    params["tasks"]["temp_class"]["horizon"] = [1, 3]
    return params


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("dvc-scratch-horizons")


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, scratch):
    project = make_project(
        tmp_path_factory.mktemp("horizons") / "repo", scratch, range_params()
    )
    return project, project.repro()


@pytest.fixture
def project(first_run):
    project, _ = first_run
    project.up_to_date()
    return project


def test_first_repro_runs_every_stage(first_run):
    _, ran = first_run
    assert ran == list(STAGES)


def test_evaluate_reports_per_step_quantile_scores_and_pinball_skill(project):
    report = project.read_json("metrics/evaluate.json")
    demand, temp = report["demand"], report["temp_class"]
    assert demand["per_step"]["steps"] == [1, 2, 3, 4, 5, 6]
    assert temp["per_step"]["steps"] == [1, 2, 3]
    for ref in ("model", "persistence", "seasonal_naive", "hgb_lag", "naive_interval"):
        assert len(demand["per_step"][ref]["mae"]) == 6, ref
    for ref in ("model", "majority", "persistence", "hgb_lag"):
        assert len(temp["per_step"][ref]["log_loss"]) == 3, ref
    # the pooled MAE is the mean of the per-step MAEs
    per_step = demand["per_step"]["model"]["mae"]
    assert demand["model"]["mae"] == pytest.approx(np.mean(per_step), rel=1e-9)
    assert set(demand["model"]) >= {"pinball", "coverage_80", "width_80"}
    assert demand["per_step"]["model"]["coverage_80"][0] <= 1.0
    assert set(demand["pinball_skill"]) == {"vs_naive_interval", "vs_single_task"}
    naive = demand["baselines"]["naive_interval"]
    skill = demand["pinball_skill"]["vs_naive_interval"]
    assert skill["value"] == pytest.approx(
        1 - demand["model"]["pinball"] / naive["pinball"]
    )
    assert skill["ci_low"] <= skill["value"] <= skill["ci_high"]
    baselines = project.read_json("metrics/baselines.json")
    assert baselines["demand"]["naive_interval"] == naive
    steps = pd.read_csv(project.root / "plots/steps.csv")
    assert len(steps) == 6 * 6 + 3 * 5  # (model + 5 references) x 6, 5 x 3
    fan = pd.read_csv(project.root / "plots/fan.csv")
    assert (fan["interval"] == "80%").all()
    assert (fan["lower"] <= fan["median"]).all() and (
        fan["median"] <= fan["upper"]
    ).all()
    points = project.params()["evaluate"]["plot_points"]
    assert len(fan) == points


def test_scores_recomputed_from_the_forecast_csv(project):
    forecasts = pd.read_csv(project.root / "predictions/test.csv")
    report = project.read_json("metrics/evaluate.json")
    demand = forecasts[forecasts["task"] == "demand"]
    temp = forecasts[forecasts["task"] == "temp_class"]
    origins = forecasts["origin"].unique()
    assert len(demand) == 6 * len(origins) and len(temp) == 3 * len(origins)
    assert demand["step"].tolist() == [1, 2, 3, 4, 5, 6] * len(origins)
    # target time: the origin plus step hours
    gap = pd.to_datetime(demand["time"], utc=True) - pd.to_datetime(
        demand["origin"], utc=True
    )
    assert (gap == pd.to_timedelta(demand["step"], unit="h")).all()
    # the actual beside each forecast is the raw value at the target time
    source = pd.read_csv(project.root / CSV).set_index("Time")
    stamps = pd.to_datetime(demand["time"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    actual = demand["actual"].to_numpy(float)
    assert actual == pytest.approx(source.loc[stamps, "Demand"].to_numpy(), rel=1e-6)
    forecast = demand["forecast"].astype(float).to_numpy()
    assert (demand["q0.5"].to_numpy() == forecast).all()  # the median
    model = report["demand"]["model"]
    assert model["mae"] == pytest.approx(np.mean(np.abs(forecast - actual)), rel=1e-6)
    lower, upper = demand["q0.1"].to_numpy(), demand["q0.9"].to_numpy()
    assert (lower <= forecast).all() and (forecast <= upper).all()
    inside = (actual >= lower) & (actual <= upper)
    assert model["coverage_80"] == pytest.approx(inside.mean())
    assert model["width_80"] == pytest.approx(np.mean(upper - lower), rel=1e-6)
    levels = demand[["q0.1", "q0.5", "q0.9"]].to_numpy()
    diff = actual[:, None] - levels
    q = np.array(QUANTILES)
    pinball = np.maximum(q * diff, (q - 1) * diff).mean()
    assert model["pinball"] == pytest.approx(pinball, rel=1e-6)
    # per step, from the same rows
    for i, step in enumerate(range(1, 7)):
        rows = demand["step"].to_numpy() == step
        mae = np.mean(np.abs(forecast[rows] - actual[rows]))
        assert report["demand"]["per_step"]["model"]["mae"][i] == pytest.approx(mae)
    spec = project.params()["tasks"]["temp_class"]
    proba = temp[[f"p_{c}" for c in spec["classes"]]].to_numpy()
    truth = np.array([spec["classes"].index(c) for c in temp["actual"]])
    accuracy = np.mean(np.argmax(proba, axis=1) == truth)
    assert report["temp_class"]["model"]["accuracy"] == pytest.approx(accuracy)


def test_predict_reproduces_the_test_forecasts(project, tmp_path):
    expected = pd.read_csv(project.root / "predictions/test.csv")
    lookback = project.params()["window"]["lookback"]
    source = pd.read_csv(project.root / CSV)
    origin = pd.to_datetime(expected["origin"].iloc[:1], utc=True)
    first = source.index[source["Time"] == origin.dt.strftime("%Y-%m-%dT%H:%M:%SZ")[0]]
    source.iloc[first[0] - lookback + 1 :].to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "p.csv"
    proc = project.run(
        sys.executable,
        "-m",
        "mtlstm.cli",
        "predict",
        "--input",
        str(tmp_path / "new.csv"),
        "--output",
        str(out),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    got = pd.read_csv(out)
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(got.iloc[: len(expected)], expected, check_exact=True)
    # past the data's end every step is forecast, with no actual yet
    last = got[got["origin"] == got["origin"].iloc[-1]]
    assert len(last) == 6 + 3 and last["actual"].isna().all()


def test_changing_quantiles_makes_what_reads_them_due(project):
    """tasks.<name>.quantiles is read by window (it records each task's shape
    in the bundle every later stage reads), so the change reruns window, never
    ingest, and makes every stage after it due; window's arrays stay
    byte-identical. Only window and split run here (no TensorFlow)."""
    before = {
        path: (project.root / path).read_bytes()
        for path in (
            "data/windows/scaled.npy",
            "data/windows/targets.npz",
            "data/windows/ends.npy",
            "data/split/train.npy",
            "data/split/test.npy",
        )
    }
    wider = [0.05, 0.25, 0.5, 0.75, 0.95]
    project.set_params(lambda p: p["tasks"]["demand"].update(quantiles=wider))
    assert set(project.status()) == {"window"}
    assert project.repro("split") == ["window", "split"]
    for path, data in before.items():
        assert (project.root / path).read_bytes() == data, path
    bundle = project.read_json("data/windows/preprocess.json")
    demand = next(t for t in bundle["tasks"] if t["name"] == "demand")
    assert demand["quantiles"] == wider
    assert due_through_windows(project) == set(STAGES[3:])
