"""scripts/refit_nested.py: the nested split inside the training windows."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import load_script
from hypothesis import given
from hypothesis import strategies as st


def test_inner_split_of_85_windows_is_70_then_15_with_the_horizon_left_out():
    split = load_script("refit_nested").inner_split
    inner_train, inner_val = split(np.arange(100, 185), horizon=2)
    assert inner_train.tolist() == list(range(100, 168))  # 70 - 2 windows
    assert inner_val.tolist() == list(range(170, 185))  # the last 15


@given(
    n=st.integers(min_value=0, max_value=500),
    horizon=st.integers(min_value=1, max_value=48),
)
def test_no_inner_training_target_reaches_the_inner_validation_windows(n, horizon):
    train = np.arange(1000, 1000 + n)  # consecutive window ends, as one series
    inner_train, inner_val = load_script("refit_nested").inner_split(train, horizon)
    assert len(inner_train) + len(inner_val) <= n
    if len(inner_train) and len(inner_val):
        # The last inner-training target row is before the first inner-val end.
        assert inner_train[-1] + horizon < inner_val[0]
        assert inner_val[-1] == train[-1]  # val' is the most recent


def test_the_refit_trains_with_the_schedule_and_weight_average_of_train(
    monkeypatch,
):
    """train.lr_schedule and train.ema_momentum reach the refit as they reach
    the early-stopped fit (mtlstm.training.fit): the refit ran a bare ``fit``,
    at a constant learning rate and with the moving average kept aside until
    the end (Keras writes it in then), not written into the weights after
    every epoch, so it trained another configuration than the one it is
    compared with."""
    import dataclasses

    import keras
    from conftest import ROOT, synthetic_table

    from mtlstm import backtest
    from mtlstm import model as model_module
    from mtlstm.config import load_params
    from mtlstm.training import cosine_learning_rate

    params = load_params(ROOT / "params.yaml")
    rows = synthetic_table(300).assign(segment=np.zeros(300, dtype=np.int32))
    ranges = backtest.fold_ranges(300, 0.7, 0.15, 1)[0]
    fold = backtest.prepare_fold(rows, params, ranges)  # the main split
    data = {"series_rows": None, **fold}
    cfg = dataclasses.replace(
        params.train,
        layers=[4],
        batch_size=64,
        epochs=3,
        patience=3,
        ensemble=1,
        checkpoint_average=1,
        lr_schedule="cosine",
        ema_momentum=0.9,
    )

    class Record(keras.callbacks.Callback):
        """Per epoch: its learning rate, and whether the weights are the average."""

        def __init__(self, epochs: list) -> None:
            super().__init__()
            self.epochs = epochs

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            optimizer = self.model.optimizer
            averages = optimizer._model_variables_moving_average
            pairs = zip(self.model.trainable_variables, averages, strict=True)
            averaged = all(np.array_equal(v.numpy(), a.numpy()) for v, a in pairs)
            rate = float(optimizer.learning_rate.numpy())
            self.epochs.append((rate, averaged))

    fits = []  # per model built: its epochs' records
    original = model_module.make_model

    def spy(*args, **kwargs):
        model = original(*args, **kwargs)
        fit, epochs = model.fit, []
        fits.append(epochs)

        def recorded(*fit_args, **fit_kwargs):
            callbacks = [*(fit_kwargs.pop("callbacks", None) or []), Record(epochs)]
            return fit(*fit_args, callbacks=callbacks, **fit_kwargs)

        model.fit = recorded
        return model

    monkeypatch.setattr(model_module, "make_model", spy)
    script = load_script("refit_nested")
    inner = script.inner_split(data["train"], fold["bundle"]["max_horizon"])
    result = script.model(data, inner, cfg, 42)
    early, refit = fits
    n = result["epochs"]
    assert n > 1  # else the cosine's first rate is the constant one
    assert len(early) == cfg.epochs and len(refit) == n
    rates = [cosine_learning_rate(e, cfg.learning_rate, cfg.epochs) for e in range(n)]
    # The refit's epochs ran as the early-stopped fit's first n did: at the
    # cosine's rates, the average written into the weights after each.
    for records in (early[:n], refit):
        assert [rate for rate, _ in records] == pytest.approx(rates, rel=1e-6)
        assert all(averaged for _, averaged in records)


def test_help_prints_usage_without_reading_a_project(tmp_path, monkeypatch, capsys):
    # --help in a folder without data/windows: usage, exit 0, no traceback
    # (it used to load the data, then fail on int("--help")).
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        load_script("refit_nested").main(["--help"])
    assert exit_info.value.code == 0
    assert "usage: refit_nested.py" in capsys.readouterr().out


def test_a_seed_that_is_not_an_integer_is_refused_before_any_work(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        load_script("refit_nested").main(["42", "one"])
    assert exit_info.value.code == 2


def test_the_gradient_boosting_comparison_runs_for_a_horizon_beyond_24_steps():
    """It forecasts with the lag model alone: through task_forecasts, whose
    seasonal naive (at its default season of 24) refused any step beyond 24,
    a task 30 steps ahead (valid with baselines.season >= 30) crashed it."""
    refit_nested = load_script("refit_nested")
    spec = {"name": "load", "type": "regression", "horizon": 30}
    spec |= {"target": "Load", "mean": 0.0, "std": 1.0}
    series = np.sin(np.arange(400) / 7).astype(np.float32)
    data = {
        "bundle": {"lookback": 4, "tasks": [spec]},
        "scaled": series[:, None],
        "targets": {"load": series},
        "train": np.arange(3, 250),
        "val": np.arange(280, 340),
    }
    inner = refit_nested.inner_split(data["train"], 30)
    out = refit_nested.hgb(data, inner, seed=0)["load"]
    assert np.isfinite([out["early_stop"], out["refit"]]).all()
