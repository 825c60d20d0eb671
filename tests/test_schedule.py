"""train.lr_schedule: the per-epoch cosine learning rate (mtlstm.training)."""

from __future__ import annotations

import itertools
import math

import keras
import numpy as np
import pytest

from mtlstm.model import build_model, compile_model
from mtlstm.training import cosine_learning_rate, cosine_schedule


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [(0, 0.004), (5, 0.002), (10, 0.0), (1, 0.002 * (1 + math.cos(math.pi / 10)))],
)
def test_cosine_rate_by_hand(epoch, expected):
    # 10 epochs from 0.004: full rate first, half at the middle, 0 at epoch 10.
    assert cosine_learning_rate(epoch, 0.004, 10) == pytest.approx(expected, abs=1e-12)


def test_rates_fall_every_epoch_and_stay_positive():
    rates = [cosine_learning_rate(e, 0.01, 40) for e in range(40)]
    assert all(b < a for a, b in itertools.pairwise(rates))
    assert rates[-1] > 0


def test_fit_uses_the_scheduled_rate_each_epoch():
    keras.utils.set_random_seed(0)
    task = [{"name": "a", "type": "regression", "horizon": 1}]
    model = build_model(2, 3, task, [4], 0.0)
    compile_model(model, task, {"a": 1.0}, 0.01)
    x = np.random.default_rng(0).normal(size=(32, 3, 2)).astype("float32")
    y = {"a": x[:, -1, :1]}
    history = model.fit(
        x, y, epochs=4, batch_size=16, verbose=0, callbacks=[cosine_schedule(0.01, 4)]
    )
    expected = [0.01 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]
    np.testing.assert_allclose(history.history["learning_rate"], expected, rtol=1e-6)
