"""scripts/search.py's table (pure, on hand-made results) and its --seeds check."""

from __future__ import annotations

import pytest
from conftest import ROOT, load_script

BUNDLE = {"tasks": [{"name": "y", "type": "regression"}]}


def _entry(mtl: float, single: float, seed: int, epochs: int) -> dict:
    def run(mae: float) -> dict:
        return {"val": {"y": {"mae": mae}}, "epochs": epochs, "seconds": 10.0}

    return {
        "seed": seed,
        "candidate": "params",
        "multi_task": run(mtl),
        "single_task": {"y": run(single)},
    }


def test_table_adds_the_mean_over_seeds_of_a_candidate():
    results = {
        "hgb_lag": {"y": {"mae": 3.0}},
        "params@seed1": _entry(2.0, 4.0, 1, 10),
        "params@seed2": _entry(4.0, 4.0, 2, 20),
        "other": {"multi_task": _entry(1.0, 1.0, 1, 5)["multi_task"]},
    }
    lines = load_script("search").table(results, BUNDLE).splitlines()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in lines[2:]}
    assert list(rows) == [
        "HGB-lag (baselines stage, val-chosen)",
        "params@seed1",
        "params@seed2",
        "other",
        "params (mean of 2 seeds)",
    ]
    # Means 3.0 (MTL) and 4.0 (single): MTL 25% better; 15 epochs on average.
    assert (
        rows["params (mean of 2 seeds)"]
        == "| params (mean of 2 seeds) | 3 | 4 | +25.0% | 15 | 10 |"
    )
    assert rows["params@seed1"] == "| params@seed1 | 2 | 4 | +50.0% | 10 | 10 |"
    assert rows["other"] == "| other | 1 | - | - | 5 | 10 |"


def test_the_mean_over_seeds_counts_each_seed_once():
    """A candidate recorded with the params' own seed alone (labelled by its
    name) and again by --seeds (labelled @seed<N>) is one training of that
    seed: the mean row counted it twice and said "mean of 4 seeds" for 3."""
    results = {
        "hgb_lag": {},
        "params": _entry(2.0, 4.0, 42, 10),
        "params@seed42": _entry(2.0, 4.0, 42, 10),
        "params@seed1": _entry(4.0, 4.0, 1, 20),
        "params@seed2": _entry(6.0, 4.0, 2, 30),
    }
    lines = load_script("search").table(results, BUNDLE).splitlines()
    # Seeds 42, 1, 2: MTL (2 + 4 + 6) / 3 = 4 against single 4, 20 epochs.
    assert lines[-1] == "| params (mean of 3 seeds) | 4 | 4 | +0.0% | 20 | 10 |"


def test_a_run_recorded_before_seeds_counts_as_the_base_seed():
    old = _entry(2.0, 4.0, 42, 10)
    del old["seed"], old["candidate"]  # as recorded before --seeds existed
    results = {
        "hgb_lag": {},
        "params": old,
        "params@seed42": _entry(2.0, 4.0, 42, 10),
        "params@seed1": _entry(4.0, 4.0, 1, 20),
    }
    lines = load_script("search").table(results, BUNDLE, base_seed=42).splitlines()
    assert lines[-1] == "| params (mean of 2 seeds) | 3 | 4 | +25.0% | 15 | 10 |"


def test_seeds_must_be_integers():
    with pytest.raises(SystemExit, match="--seeds takes comma-separated integers"):
        load_script("search").main(["--seeds", "42,one"])


def test_class_f1_scores_every_class_on_its_own():
    spec = {"name": "level", "classes": ["low", "mid", "high"]}
    actual = [0, 0, 1, 1, 2, 2]
    # Predicted 0, 0, 1, 0, 2, 1: low P 2/3 R 1 -> 0.8; mid P 1/2 R 1/2 -> 0.5;
    # high P 1 R 1/2 -> 2/3.
    proba = [
        [0.9, 0.1, 0.0],
        [0.6, 0.3, 0.1],
        [0.2, 0.7, 0.1],
        [0.5, 0.4, 0.1],
        [0.1, 0.2, 0.7],
        [0.1, 0.6, 0.3],
    ]
    f1 = load_script("search").class_f1(spec, actual, proba)
    assert f1 == pytest.approx({"f1_low": 0.8, "f1_mid": 0.5, "f1_high": 2 / 3})


def test_ordinal_candidates_name_the_binned_classification_tasks():
    from mtlstm.config import load_params

    search = load_script("search")
    tasks = load_params(ROOT / "params.yaml").tasks
    for name in ("params_ordinal", "params_ordinal_ckpt5"):
        got = search.resolved(search.CANDIDATES[name], tasks)
        assert got["ordinal"] == ["temp_class"]  # demand is a regression task
    assert search.resolved({"head_units": 16}, tasks) == {"head_units": 16}


def test_the_mae_loss_candidate_names_every_regression_task():
    from mtlstm.config import load_params

    search = load_script("search")
    tasks = load_params(ROOT / "params.yaml").tasks
    got = search.resolved(search.CANDIDATES["params_mae_loss"], tasks)
    assert got == {"losses": {"demand": "mae"}}  # temp_class keeps its class loss


def test_the_class_weight_candidates_reweight_the_classification_tasks_only():
    from mtlstm.config import load_params

    search = load_script("search")
    params = load_params(ROOT / "params.yaml")
    weights = {"demand": 1.0, "temp_class": 0.1}
    got = search.resolved(search.CANDIDATES["params_class_w0.3"], params.tasks, weights)
    assert got == {"loss_weights": {"demand": 1.0, "temp_class": 0.3}}
    assert weights == {"demand": 1.0, "temp_class": 0.1}  # the params' own, untouched


def test_a_decide_by_class_task_takes_its_single_task_score_from_its_regression_run():
    bundle = {
        "tasks": [
            {"name": "x", "type": "regression"},
            {"name": "c", "type": "classification", "decide_by": "x"},
        ]
    }

    def run(scores: dict) -> dict:
        return {"val": scores, "epochs": 3, "seconds": 1.0}

    entry = {
        "multi_task": run({"x": {"mae": 1.0}, "c": {"macro_f1": 0.9}}),
        "single_task": {
            # The class task's own single-task head (not what evaluate compares) ...
            "c": run({"c": {"macro_f1": 0.5}}),
            # ... and the single-task regression model, whose binned forecast is.
            "x": run({"x": {"mae": 2.0}, "c": {"macro_f1": 0.8}}),
        },
    }
    results = {"hgb_lag": {}, "params": entry}
    lines = load_script("search").table(results, bundle).splitlines()
    assert lines[-1] == "| params | 1 | 2 | +50.0% | 0.9 | 0.8 | +12.5% | 3 | 1 |"


def test_runs_on_other_windows_are_not_reused(tmp_path, monkeypatch):
    """The gradient boosting row and the single-task runs of --out are reused
    by budget and seed alone: after the windows or splits change, reusing them
    compared a new candidate with references of the old data, silently."""
    import numpy as np

    search = load_script("search")
    monkeypatch.chdir(tmp_path)
    for path in search.DATA_FILES:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path.with_suffix(".npy"), np.arange(3))
        path.with_suffix(".npy").replace(path)
    out = tmp_path / "search"
    out.mkdir()
    recorded = {"hgb_lag": {"y": {"mae": 3.0}}}
    search.check_same_data(out, {})  # a new folder: its data recorded
    search.check_same_data(out, recorded)  # the same data: reused
    np.save(tmp_path / "data" / "split" / "train.npy", np.arange(4))
    with pytest.raises(SystemExit, match=r"search/results.json holds runs on other"):
        search.check_same_data(out, recorded)
    search.check_same_data(out, {})  # nothing recorded: nothing to reuse


def test_hgb_reference_scores_a_horizon_beyond_24_steps_like_the_stage():
    """The gradient boosting row forecasts with the lag model alone: it went
    through task_forecasts, whose seasonal naive (at its default season of 24)
    refused any step beyond 24, so a task 30 steps ahead (valid with
    baselines.season >= 30) crashed the search. Its score is the baselines
    stage's validation score of hgb_lag."""
    import numpy as np

    from mtlstm.baselines import run_baselines

    spec = {"name": "load", "type": "regression", "horizon": 30}
    spec |= {"target": "Load", "mean": 0.0, "std": 1.0}
    series = np.sin(np.arange(400) / 7).astype(np.float32)
    bundle = {"lookback": 4, "tasks": [spec]}
    splits = {"train": np.arange(3, 200), "val": np.arange(230, 300)}
    data = {"bundle": bundle, "scaled": series[:, None], "targets": {"load": series}}
    scores = load_script("search").hgb_reference(data | splits, seed=0)
    stage = run_baselines(
        bundle,
        series[:, None],
        {"load": series},
        splits | {"test": np.arange(330, 360)},
        season=30,
    )
    assert scores["load"] == stage.val["load"]["hgb_lag"]
