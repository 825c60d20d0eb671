"""train.ema_momentum: training keeps, validates and saves averaged weights."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from mtlstm.config import Train
from mtlstm.model import build_model, compile_model
from mtlstm.training import fit

TASK = {"name": "a", "type": "regression", "horizon": 1}
BUNDLE = {"lookback": 3, "tasks": [TASK]}


def _arrays(n: int = 120) -> dict:
    rng = np.random.default_rng(0)
    scaled = rng.normal(size=(n, 2)).astype("float32")
    return {
        "scaled": scaled,
        "targets": {"a": np.roll(scaled[:, 0], -1).copy()},
        "train": np.arange(2, 80),
        "val": np.arange(82, n - 1),
    }


class _Snapshot(keras.callbacks.Callback):
    """At each epoch end: the model's weights and the optimizer's average."""

    def __init__(self) -> None:
        super().__init__()
        self.pairs: list[tuple[list, list]] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        opt = self.model.optimizer
        if not opt.use_ema:
            return
        average = [v.numpy() for v in opt._model_variables_moving_average]
        weights = [v.numpy() for v in self.model.trainable_variables]
        self.pairs.append((weights, average))


def _fit(tmp_path, momentum: float):
    keras.utils.set_random_seed(0)
    model = build_model(2, 3, [TASK], [4], 0.0)
    compile_model(model, [TASK], {"a": 1.0}, 0.01, ema_momentum=momentum)
    cfg = dataclasses.replace(
        Train(loss_weights={"a": 1.0}),
        batch_size=16,
        epochs=3,
        patience=10,
        ema_momentum=momentum,
    )
    snap = _Snapshot()
    dirs = {"live": None, "resume": tmp_path / "resume"}
    model, _ = fit(model, cfg, 0, _arrays(), BUNDLE, dirs, "fp", extra=[snap])
    return model, snap


def test_each_epoch_ends_on_the_averaged_weights(tmp_path):
    model, snap = _fit(tmp_path, 0.9)
    assert model.optimizer.use_ema
    assert len(snap.pairs) == 3
    for weights, average in snap.pairs:
        for w, a in zip(weights, average, strict=True):
            np.testing.assert_array_equal(w, a)


def test_zero_momentum_means_no_averaging(tmp_path):
    model, _ = _fit(tmp_path, 0.0)
    assert not model.optimizer.use_ema


def test_a_warm_started_fit_also_ends_each_epoch_on_the_averaged_weights(tmp_path):
    """backtest refit trains the same model further on another fold, whose
    epochs have another step count (here 5 steps, then 4): each epoch of the
    second fit still ends on the average. The optimizer's own
    ema_overwrite_frequency counted its carried-over iterations (and its
    train function kept the first fit's step count), so it overwrote mid-epoch."""
    model, _ = _fit(tmp_path, 0.9)
    cfg = dataclasses.replace(
        Train(loss_weights={"a": 1.0}),
        batch_size=16,
        epochs=3,
        patience=10,
        ema_momentum=0.9,
    )
    arrays = {**_arrays(), "train": np.arange(2, 66)}  # 64 windows: 4 steps
    snap = _Snapshot()
    dirs = {"live": None, "resume": tmp_path / "refit"}
    fit(model, cfg, 0, arrays, BUNDLE, dirs, "fp2", extra=[snap])
    assert len(snap.pairs) == 3
    for weights, average in snap.pairs:
        for w, a in zip(weights, average, strict=True):
            np.testing.assert_array_equal(w, a)
