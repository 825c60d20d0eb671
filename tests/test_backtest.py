"""Rolling-origin backtest: fold ranges (oracle), leak-free folds, summaries."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import ROOT, synthetic_table

from mtlstm import backtest
from mtlstm.config import Backtest, load_params
from mtlstm.errors import ConfigError, DataError


def test_fold_ranges_expand_and_the_last_is_the_main_split():
    # 100 rows, train 0.7, val 0.15: test periods of 15 rows, validation of 15.
    assert backtest.fold_ranges(100, 0.7, 0.15, 3) == [
        {"train": (0, 40), "val": (40, 55), "test": (55, 70)},
        {"train": (0, 55), "val": (55, 70), "test": (70, 85)},
        {"train": (0, 70), "val": (70, 85), "test": (85, 100)},
    ]


def test_too_many_folds_leave_no_training_rows():
    with pytest.raises(ConfigError, match=r"backtest\.folds: 6 folds .* fewer folds"):
        backtest.fold_ranges(100, 0.7, 0.15, 6)


def test_summarize_gives_mean_and_sample_std():
    # 1, 3, 8: mean 4, squared deviations 9 + 1 + 16 = 26; the sample std
    # divides by n - 1 = 2: sqrt(13) (the population std would be sqrt(26 / 3)).
    folds = [{"demand": {"mae": v}} for v in (1.0, 3.0, 8.0)]
    got = backtest.summarize(folds)["demand"]["mae"]
    assert got["mean"] == 4.0
    assert got["std"] == pytest.approx(13**0.5, rel=1e-12)
    assert got["std"] == pytest.approx(np.std([1.0, 3.0, 8.0], ddof=1))


def test_summarize_one_fold_has_no_std_and_skips_undefined_values():
    assert backtest.summarize([{"t": {"mae": 2.0}}]) == {
        "t": {"mae": {"mean": 2.0, "std": None}}
    }
    folds = [{"t": {"vs_x": v}} for v in (0.5, None, 0.1)]
    got = backtest.summarize(folds)["t"]["vs_x"]
    assert got["mean"] == pytest.approx(0.3)
    assert got["std"] == pytest.approx(np.std([0.5, 0.1], ddof=1))


@pytest.fixture
def params():
    return load_params(ROOT / "params.yaml")


def table(n: int = 300):
    return synthetic_table(n).assign(segment=np.zeros(n, dtype=np.int32))


def test_a_fold_never_reads_rows_after_its_test_period(params):
    ranges = backtest.fold_ranges(300, 0.7, 0.15, 3)[0]
    original = table()
    changed = original.copy()
    later = np.arange(len(changed)) >= ranges["test"][1]
    changed.loc[later, "Demand"] = changed.loc[later, "Demand"] * 5 + 1000
    a = backtest.prepare_fold(original, params, ranges)
    b = backtest.prepare_fold(changed, params, ranges)
    assert a["bundle"] == b["bundle"]
    np.testing.assert_array_equal(a["scaled"], b["scaled"])
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(a[name], b[name])


def test_a_fold_fits_its_scaler_on_its_own_training_rows(params):
    ranges = backtest.fold_ranges(300, 0.7, 0.15, 3)
    rows = table()
    first = backtest.prepare_fold(rows, params, ranges[0])["bundle"]
    last = backtest.prepare_fold(rows, params, ranges[2])["bundle"]
    demand = rows["Demand"]
    assert first["fit_rows"] == ranges[0]["train"][1]
    assert first["inputs"][0]["mean"] == pytest.approx(
        demand.iloc[: ranges[0]["train"][1]].mean()
    )
    assert last["inputs"][0]["mean"] == pytest.approx(
        demand.iloc[: ranges[2]["train"][1]].mean()
    )


def test_a_fold_scales_by_the_configured_scaler(params):
    """window.scaler: robust reaches a one-series fold as it does a panel's:
    the folds (the last one is the main split) were scaled by mean and std
    whatever the setting, so their scores did not describe the model."""
    import dataclasses

    robust = dataclasses.replace(
        params, window=dataclasses.replace(params.window, scaler="robust")
    )
    ranges = backtest.fold_ranges(300, 0.7, 0.15, 3)[2]
    rows = table()
    rows.loc[5, "Demand"] = 1e6  # one absurd value in the training rows
    bundle = backtest.prepare_fold(rows, robust, ranges)["bundle"]
    fit = rows["Demand"].iloc[: ranges["train"][1]]
    assert bundle["scaler"] == "robust"
    assert bundle["inputs"][0]["mean"] == pytest.approx(fit.median())


def test_a_fold_refuses_a_class_its_training_range_never_saw(params):
    """The window stage refuses a class first seen after the training range;
    an earlier fold's shorter one may lack it: refused too, naming the fold
    (the baselines failed on it, naming the main split's validation file)."""
    ranges = backtest.fold_ranges(300, 0.7, 0.15, 3)
    rows = table()
    first_end = ranges[0]["train"][1]
    cold_or_mild = np.where(np.arange(300) % 2, 10.0, 20.0)
    rows["Temperature"] = np.where(np.arange(300) < first_end, cold_or_mild, 30.0)
    first = backtest.prepare_fold(rows, params, ranges[0])
    after = ranges[0]["test"][1] - first_end  # every row after is hot
    assert first["unseen"] == [("temp_class", "hot", after)]
    assert backtest.prepare_fold(rows, params, ranges[2])["unseen"] == []
    message = (
        f"backtest fold 1: tasks.temp_class: class 'hot' occurs after the "
        f"fold's training time range ({after} rows) but never inside it, so "
        "the fold's model cannot learn it; use fewer backtest folds (folds: 3)"
    )
    with pytest.raises(DataError, match=re.escape(message)):
        backtest.run(rows, params, Backtest(folds=3), persistence_scores, freq="1h")


def test_a_fold_refuses_a_category_its_training_range_never_saw(params):
    """A categorical input whose value first occurs in fold 1's test period
    (inside the main split's training range, so the window stage accepts
    it): the fold's refusal names the fold and the fix, fewer folds. It was
    the window stage's message alone ("never seen in the training time
    range ... move that period into training"), naming no fold, although
    the main split's training range holds that period already."""
    import dataclasses

    ingest = dataclasses.replace(
        params.ingest, columns={**params.ingest.columns, "Kind": "categorical"}
    )
    columns = [*params.features.columns, "Kind"]
    features = dataclasses.replace(params.features, columns=columns)
    params = dataclasses.replace(params, ingest=ingest, features=features)
    ranges = backtest.fold_ranges(300, 0.7, 0.15, 3)
    assert ranges[0]["test"] == (165, 210)
    rows = table()
    rows["Kind"] = np.where(np.arange(300) < 180, "a", "b")  # "b" from row 180
    backtest.prepare_fold(rows, params, ranges[2])  # the main split: accepted
    with pytest.raises(
        DataError,
        match=r"^backtest fold 1: column 'Kind' holds 'b' at 2024-01-08 12:00:00"
        r".*; or use fewer backtest folds \(folds: 3\)$",
    ):
        backtest.run(rows, params, Backtest(folds=3), persistence_scores, freq="1h")


def test_fold_windows_stay_inside_their_ranges(params):
    ranges = backtest.fold_ranges(300, 0.7, 0.15, 3)[1]
    fold = backtest.prepare_fold(table(), params, ranges)
    lookback = fold["bundle"]["lookback"]
    horizon = fold["bundle"]["max_horizon"]
    for name, (lo, hi) in ranges.items():
        assert (fold[name] - lookback + 1 >= lo).all()
        assert (fold[name] + horizon < hi).all()


def persistence_scores(fold, ranges, i):
    """A "model" that forecasts the last observed value: a real forecaster
    whose skill against the persistence baseline is exactly 0."""
    from mtlstm import metrics

    out = {}
    for spec in fold["bundle"]["tasks"]:
        name, ends = spec["name"], fold["test"]
        raw = metrics.original_units(fold["targets"][name], spec)
        actual = raw[ends + spec["horizon"]]
        last = raw[ends]
        if spec["type"] == "classification":
            last = metrics.one_hot(last, len(spec["classes"]))
        out[name] = metrics.score_task(spec, actual, last)
    return out


def test_folds_are_named_by_dates_with_baselines_and_skill(params):
    rows = table(300)  # hourly from 2024-01-01 00:00 UTC
    result = backtest.run(
        rows, params, Backtest(folds=3), persistence_scores, freq="1h"
    )
    assert result["std"].startswith("sample standard deviation over folds (ddof=1)")
    ranges = backtest.fold_ranges(300, 0.7, 0.15, 3)
    assert [f["fold"] for f in result["folds"]] == [1, 2, 3]
    first = result["folds"][0]
    # Fold 1: train rows 0..119, val 120..164, test 165..209 (hour = row).
    assert ranges[0] == {"train": (0, 120), "val": (120, 165), "test": (165, 210)}
    assert first["train"] == {
        "from": "2024-01-01T00:00:00+00:00",
        "to": "2024-01-05T23:00:00+00:00",
        "rows": [0, 120],
    }
    assert first["test"] == {
        "from": "2024-01-07T21:00:00+00:00",
        "to": "2024-01-09T17:00:00+00:00",
        "rows": [165, 210],
    }
    assert first["test_rows"] == [165, 210]
    for fold in result["folds"]:
        assert set(fold["baselines"]["demand"]) == {
            "persistence",
            "seasonal_naive",
            "hgb_lag",
        }
        assert set(fold["baselines"]["temp_class"]) == {
            "majority",
            "persistence",
            "hgb_lag",
        }
        for task in ("demand", "temp_class"):
            # The "model" is persistence: its skill against persistence is 0.
            assert fold["skill"][task]["vs_persistence"] == pytest.approx(0, abs=1e-12)
        mae = fold["baselines"]["demand"]["seasonal_naive"]["mae"]
        assert fold["skill"]["demand"]["vs_seasonal_naive"] == pytest.approx(
            1 - fold["scores"]["demand"]["mae"] / mae
        )
    skills = [f["skill"]["demand"]["vs_seasonal_naive"] for f in result["folds"]]
    summary = result["skill_summary"]["demand"]["vs_seasonal_naive"]
    assert summary["mean"] == pytest.approx(np.mean(skills))
    assert summary["std"] == pytest.approx(np.std(skills, ddof=1))


def test_the_stage_prints_each_fold_by_its_dates_and_says_which_std(params):
    import runpy

    report = runpy.run_path(str(ROOT / "stages" / "backtest.py"))["report"]
    result = backtest.run(
        table(300), params, Backtest(folds=2), persistence_scores, freq="1h"
    )
    lines = report("r", result)
    assert len(lines) == 2 * 2 + 2  # per fold and task, then per task
    assert lines[0].startswith(
        "backtest@r: fold 1 (test 2024-01-09T18:00 .. 2024-01-11T14:00): demand: mae "
    )
    assert "; skill vs_persistence +0.000, vs_seasonal_naive " in lines[0]
    assert lines[-1].startswith("backtest@r: temp_class: accuracy ")
    assert lines[-1].endswith("(sample std, 2 folds)")


def refit_case(params, tmp_path, monkeypatch, **train):
    """A two-fold refit backtest in ``tmp_path`` on 300 hours with a tiny
    trunk (``train`` overrides on top): (params, backtest config, data)."""
    import dataclasses

    monkeypatch.chdir(tmp_path)  # the folds' checkpoints go under models/
    small = dataclasses.replace(params.train, layers=[4], batch_size=64, **train)
    params = dataclasses.replace(params, train=small)
    data = table(300)
    (tmp_path / "data").mkdir()
    data.to_parquet(tmp_path / "data/ingested.parquet")  # fingerprinted
    return params, Backtest(folds=2, mode="refit"), data


def test_refit_warm_starts_every_member_of_an_ensemble(params, tmp_path, monkeypatch):
    """train.ensemble: each fold trains as many members as train does, and
    refit carries each member (not their average, which has no optimizer) on."""
    import runpy

    params, cfg, data = refit_case(params, tmp_path, monkeypatch, epochs=1, ensemble=2)
    stage = runpy.run_path(str(ROOT / "stages" / "backtest.py"))
    trainer = stage["FoldTrainer"](params, "r", cfg, data["time"])
    seen = []
    original = stage["fold_model"]

    def spy(params_, fold, previous):
        seen.append(previous)
        return original(params_, fold, previous)

    trainer.__call__.__globals__["fold_model"] = spy
    result = backtest.run(data, params, cfg, trainer, freq="1h")
    assert len(result["folds"]) == 2
    first, second = seen[:2], seen[2:]
    assert first == [None, None]  # fold 1: two fresh members
    assert len(trainer.previous) == 2
    # Fold 2 trains fold 1's two members further, member i as member i.
    assert [id(m) for m in second] == [id(m) for m in trainer.previous]
    assert second[0] is not second[1]
    assert not (tmp_path / "models").exists() or not any(
        (tmp_path / "models").iterdir()
    )


def test_refit_with_a_checkpoint_average_keeps_each_checkpoint_its_own(
    params, tmp_path, monkeypatch
):
    """train.checkpoint_average K > 1 with refit: a fold averages its trained
    member and K - 1 earlier checkpoints, each a model of its own. Building a
    checkpoint with the warm-starting build returned the trained member itself,
    so every checkpoint's weights overwrote it and the fold averaged K copies
    of its K-th best epoch; and the next fold warm-started from a checkpoint."""
    import runpy

    from mtlstm import model as model_module

    params, cfg, data = refit_case(
        params, tmp_path, monkeypatch, epochs=3, checkpoint_average=3
    )
    averaged = []
    original = model_module.average_models

    def spy(members):
        averaged.append(list(members))
        return original(members)

    monkeypatch.setattr(model_module, "average_models", spy)
    stage = runpy.run_path(str(ROOT / "stages" / "backtest.py"))
    trainer = stage["FoldTrainer"](params, "r", cfg, data["time"])
    backtest.run(data, params, cfg, trainer, freq="1h")
    assert [len(members) for members in averaged] == [3, 3]
    for members in averaged:
        assert len({id(m) for m in members}) == 3
        first = [np.concatenate([w.ravel() for w in m.get_weights()]) for m in members]
        for i in range(3):
            for j in range(i + 1, 3):
                assert not np.array_equal(first[i], first[j])
    # The next fold carries the trained member on, not its checkpoints.
    assert trainer.previous == [averaged[1][0]]


def test_refit_weighs_each_folds_classes_by_its_own_training_windows(
    params, tmp_path, monkeypatch
):
    """train.class_weighting balanced with refit: fold 2 trains fold 1's model
    on, and its classes must be weighed by fold 2's training windows (as a
    retrained fold's are). The warm-started model kept the loss it was
    compiled with, fold 1's weights, for every later fold."""
    import runpy

    from mtlstm.model import training_class_weights

    params, cfg, data = refit_case(
        params, tmp_path, monkeypatch, epochs=1, class_weighting="balanced"
    )
    stage = runpy.run_path(str(ROOT / "stages" / "backtest.py"))
    trainer = stage["FoldTrainer"](params, "r", cfg, data["time"])
    original = stage["fold_model"]
    expected, compiled, steps = [], [], []

    def spy(params_, fold, previous):
        model = original(params_, fold, previous)
        expected.append(
            training_class_weights(
                params_.train, fold["bundle"], fold["targets"], fold["train"]
            )["temp_class"]
        )
        loss = model.get_compile_config()["loss"]["temp_class"]
        compiled.append(loss["config"]["class_weights"])
        steps.append(int(model.optimizer.iterations.numpy()))
        return model

    trainer.__call__.__globals__["fold_model"] = spy
    backtest.run(data, params, cfg, trainer, freq="1h")
    assert len(compiled) == 2
    assert not np.allclose(expected[0], expected[1])  # the folds' classes differ
    np.testing.assert_allclose(compiled[0], expected[0])
    np.testing.assert_allclose(compiled[1], expected[1])
    # Still a warm start: fold 2's optimizer carries fold 1's steps on.
    assert steps[0] == 0 and steps[1] > 0


def test_a_multi_worker_backtest_trains_on_one_device_and_says_so(capsys):
    """train.distribute: multi_worker has no cluster in the backtest's one
    DVC process: its folds train on one device (as the ablation's model),
    and a note says the global batch is then not the trained model's."""

    import tensorflow as tf

    from mtlstm.distribute import one_process_strategy

    def fold_strategy(kind: str, name: str):
        return one_process_strategy(kind, f"backtest@{name}", "each fold trains")

    assert fold_strategy("none", "r") is tf.distribute.get_strategy()
    assert capsys.readouterr().out == ""
    strategy = fold_strategy("multi_worker", "r")
    assert strategy is tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == 1
    assert "backtest@r: train.distribute is multi_worker" in capsys.readouterr().out


def test_a_finished_backtest_removes_only_the_checkpoints_no_fold_reads(tmp_path):
    """Declared: backtest "a" with 2 folds (it had 3) and "a-1" with 1 fold.
    Stale: a's third fold and a renamed backtest's fold; kept: both declared
    backtests' folds (a-1's fold 0 is "a-1-0", never one of a's), and the
    train and ablation checkpoints, which are not a backtest's."""
    import runpy

    stage = runpy.run_path(str(ROOT / "stages" / "backtest.py"))
    models = tmp_path / "models"
    kept = [".resume", ".resume-backtest-a-0", ".resume-backtest-a-1"]
    kept += [".resume-backtest-a-1-0", ".resume-single-demand"]
    stale = [".resume-backtest-a-2", ".resume-backtest-old-0"]
    for name in kept + stale:
        (models / name).mkdir(parents=True)
        (models / name / "state.json").write_text("{}")
    removed = stage["remove_stale_resume"](models, {"a": 2, "a-1": 1})
    assert removed == [models / name for name in stale]
    assert sorted(p.name for p in models.iterdir()) == sorted(kept)
    assert stage["resume_dir"](models, "a-1", 0) == models / ".resume-backtest-a-1-0"
    assert stage["remove_stale_resume"](tmp_path / "missing", {"a": 2}) == []
