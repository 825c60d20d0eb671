"""Heads over a horizon range and quantile heads (TensorFlow): shapes, targets
gathered per step by the dataset, the pinball loss, and quantiles that never
cross (Hypothesis, on random and extreme inputs)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose, assert_array_equal

from mtlstm import metrics, tasks
from mtlstm.dataset import make_dataset
from mtlstm.heads import OrderedQuantiles, OrdinalProbabilities, PinballLoss
from mtlstm.model import build_model, compile_model
from mtlstm.tf_setup import load_model, save_model

TASKS = [
    {
        "name": "price",
        "type": "regression",
        "horizon": [1, 4],
        "quantiles": [0.1, 0.25, 0.5, 0.75, 0.9],
        "change_of": 0,
        "mean": 50.0,
        "std": 10.0,
    },
    {"name": "load", "type": "regression", "horizon": [2, 3], "mean": 0.0, "std": 1.0},
    {
        "name": "level",
        "type": "classification",
        "horizon": [1, 4],
        "classes": ["lo", "mid", "hi"],
    },
    {"name": "spike", "type": "classification", "horizon": 2, "classes": ["n", "y"]},
    {"name": "one", "type": "regression", "horizon": 3, "mean": 0.0, "std": 1.0},
]


def model_for(task_list=TASKS, n_features=2, lookback=5):
    keras.utils.set_random_seed(0)
    model = build_model(n_features, lookback, task_list, [8], 0.0)
    compile_model(model, task_list, {t["name"]: 1.0 for t in task_list}, 0.01)
    return model


def test_head_shapes_follow_the_task_shape(tmp_path):
    model = model_for()
    x = np.random.default_rng(0).normal(size=(6, 5, 2)).astype(np.float32)
    out = model.predict(x, verbose=0)
    assert out["price"].shape == (6, 4, 5)  # steps x quantiles
    assert out["load"].shape == (6, 2)  # steps
    assert out["level"].shape == (6, 4, 3)  # steps x classes
    assert out["spike"].shape == (6, 2)  # one step: as before ranges existed
    assert out["one"].shape == (6, 1)
    assert_allclose(out["level"].sum(axis=-1), 1.0, rtol=1e-5)
    # saved and loaded in safe mode, outputs unchanged
    save_model(model, tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras", [t["name"] for t in TASKS])
    again = loaded.predict(x, verbose=0)
    for name in out:
        assert_array_equal(again[name], out[name])


def test_dataset_gathers_every_step_of_every_task():
    rng = np.random.default_rng(1)
    n = 40
    scaled = rng.normal(size=(n, 2)).astype(np.float32)
    targets = {
        "price": np.arange(n, dtype=np.float32),
        "load": np.arange(n, dtype=np.float32) * 10,
        "level": np.arange(n, dtype=np.int32) % 3,
        "spike": np.arange(n, dtype=np.int32) % 2,
        "one": -np.arange(n, dtype=np.float32),
    }
    ends = np.array([4, 9, 20, 35])
    bundle = {"lookback": 5, "tasks": TASKS}
    (x, ys), *_ = list(make_dataset(scaled, targets, ends, bundle, batch_size=8))
    assert x.shape == (4, 5, 2)
    # row e + step for each step, by hand: e = 4 -> rows 5..8 for steps 1..4
    assert_array_equal(ys["price"], [[e + s for s in (1, 2, 3, 4)] for e in ends])
    assert_array_equal(ys["load"], [[10 * (e + s) for s in (2, 3)] for e in ends])
    assert_array_equal(ys["level"], [[(e + s) % 3 for s in (1, 2, 3, 4)] for e in ends])
    assert_array_equal(ys["spike"], [(e + 2) % 2 for e in ends])  # no step axis
    assert_array_equal(ys["one"], [[-(e + 3)] for e in ends])
    for spec in TASKS:  # the same targets as the NumPy gather scoring uses
        gathered = tasks.gather(targets[spec["name"]], ends, spec)
        assert_array_equal(
            np.asarray(ys[spec["name"]]).reshape(gathered.shape), gathered
        )


def test_a_range_model_trains_on_lazily_gathered_targets():
    rng = np.random.default_rng(2)
    n = 120
    scaled = rng.normal(size=(n, 2)).astype(np.float32)
    targets = {
        "price": scaled[:, 0].copy(),
        "load": scaled[:, 1].copy(),
        "level": (np.arange(n) % 3).astype(np.int32),
        "spike": (np.arange(n) % 2).astype(np.int32),
        "one": scaled[:, 0].copy(),
    }
    bundle = {"lookback": 5, "tasks": TASKS}
    ends = np.arange(4, n - 4)
    model = model_for()
    history = model.fit(
        make_dataset(scaled, targets, ends, bundle, 32, shuffle_seed=0, epochs=(0, 2)),
        epochs=2,
        steps_per_epoch=-(-len(ends) // 32),
        verbose=0,
    )
    for name in ("price", "load", "level", "spike", "one"):
        assert np.isfinite(history.history[f"{name}_loss"]).all(), name


def test_pinball_loss_matches_the_numpy_oracle():
    rng = np.random.default_rng(3)
    levels = [0.1, 0.5, 0.9]
    y = rng.normal(size=(7, 4)).astype(np.float32)
    f = np.sort(rng.normal(size=(7, 4, 3)), axis=-1).astype(np.float32)
    expected = metrics.pinball_losses(y, f, levels).mean()
    got = float(PinballLoss(levels)(y, f))
    assert got == pytest.approx(expected, rel=1e-6)
    # the hand-built case of test_horizons: (0.5 + 3.5) / 6
    y = np.array([[10.0], [14.0]], np.float32)
    f = np.array([[[8.0, 10.0, 13.0]], [[8.0, 10.0, 13.0]]], np.float32)
    assert float(PinballLoss(levels)(y, f)) == pytest.approx(4.0 / 6)


def test_pinball_loss_survives_a_config_round_trip():
    loss = PinballLoss([0.2, 0.5, 0.8], name="x_pinball")
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(again, PinballLoss) and again.quantiles == [0.2, 0.5, 0.8]


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    n_quantiles=st.integers(1, 6),
    steps=st.integers(1, 4),
    data=st.data(),
)
def test_quantiles_never_cross_on_random_inputs(n_quantiles, steps, data):
    median = data.draw(st.integers(0, n_quantiles - 1))
    values = data.draw(
        arrays(
            np.float32,
            (3, steps * n_quantiles),
            elements=st.floats(-(2.0**127), 2.0**127, width=32, allow_nan=False),
        )
    )
    out = np.asarray(OrderedQuantiles(steps, n_quantiles, median)(values))
    assert out.shape == (3, steps, n_quantiles)
    finite = np.isfinite(out).all(axis=-1)
    assert np.all(np.diff(out, axis=-1)[finite] >= 0)
    # the median level passes through unchanged
    assert_array_equal(
        out[..., median], values.reshape(3, steps, n_quantiles)[..., median]
    )
    # unscaled to original units (std > 0) the order holds too
    spec = {"type": "regression", "horizon": [1, steps], "mean": -3.0, "std": 0.5}
    spec["quantiles"] = [(i + 1) / (n_quantiles + 1) for i in range(n_quantiles)]
    original = metrics.model_quantiles(out, spec)
    ok = np.isfinite(original).all(axis=-1)
    assert np.all(np.diff(original, axis=-1)[ok] >= 0)


def test_quantiles_with_predict_change_never_cross():
    """A quantile head that learns the change from the last value: the same
    value added to every level keeps them ordered, for random weights and
    inputs."""
    spec = TASKS[0]
    for seed in range(5):
        keras.utils.set_random_seed(seed)
        model = build_model(2, 5, [spec], [4], 0.0)
        x = np.random.default_rng(seed).normal(scale=50, size=(64, 5, 2))
        out = model.predict(x.astype(np.float32), verbose=0)["price"]
        assert np.all(np.diff(out, axis=-1) >= 0)


def test_a_window_forecast_does_not_depend_on_its_batch():
    """evaluate and `mtlstm predict` forecast the same window among other
    windows; every head must give it the same bits either way. The quantile
    head's softplus did not (its exp/log round differently in vectorised
    code); and TensorFlow itself rounds differently for another batch size,
    and, on some CPUs, at a batch's last places (an AMD EPYC with AVX2 did,
    for the two-class `spike`): ``forecast_windows`` gives every batch the
    same size and puts no window at its end."""
    from mtlstm.dataset import forecast_windows

    model = model_for()
    scaled = np.random.default_rng(4).normal(scale=3, size=(304, 2))
    bundle = {"lookback": 5, "tasks": TASKS}
    ends = np.arange(4, 304)
    full = forecast_windows(model, scaled.astype(np.float32), ends, bundle, 100)
    assert full["spike"].shape == (300, 2)
    # (97, 3): the last places of the first batch of 100, now first.
    for first, n in [(0, 1), (3, 7), (5, 64), (97, 3), (99, 1), (150, 150), (297, 3)]:
        part = forecast_windows(model, scaled, ends[first : first + n], bundle, 100)
        for name in full:
            assert_array_equal(
                part[name], full[name][first : first + n], err_msg=f"{name}, {n}"
            )


# --- ordinal heads (train.ordinal) -------------------------------------------


def test_ordinal_probabilities_oracle():
    # Score 0, first cut 0, increment squareplus(0) = 0.5: cuts 0 and 0.5.
    # P(> low) = sigmoid(0) = 0.5, P(> mid) = sigmoid(-0.5).
    layer = OrdinalProbabilities(None, 3)
    out = keras.ops.convert_to_numpy(layer(np.zeros((1, 3), np.float32)))
    above_mid = 1 / (1 + np.exp(0.5))
    assert_allclose(out, [[0.5, 0.5 - above_mid, above_mid]], rtol=1e-6)
    # A higher score moves probability to the higher classes, in order.
    higher = keras.ops.convert_to_numpy(layer(np.array([[3.0, 0.0, 0.0]], "float32")))
    assert higher[0, 2] > out[0, 2] and higher[0, 0] < out[0, 0]
    # Two classes: a logistic regression on the score.
    two = keras.ops.convert_to_numpy(
        OrdinalProbabilities(None, 2)(np.array([[1.0, 0.0]], "float32"))
    )
    assert_allclose(two, [[1 - 1 / (1 + np.exp(-1)), 1 / (1 + np.exp(-1))]], rtol=1e-6)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    arrays(
        np.float32,
        (4, 2 * 4),
        elements=st.floats(-1e4, 1e4, allow_nan=False, width=32),
    )
)
def test_ordinal_probabilities_are_probabilities(raw):
    """Any free values (extreme ones too): every class >= 0, each step sums to 1."""
    out = keras.ops.convert_to_numpy(OrdinalProbabilities(2, 4)(raw))
    assert out.shape == (4, 2, 4)
    assert (out >= 0).all()
    assert_allclose(out.sum(axis=-1), 1.0, atol=1e-6)


def test_ordinal_heads_in_a_model_save_and_load(tmp_path):
    task_list = [TASKS[2], {**TASKS[3], "classes": ["lo", "mid", "hi"]}]
    keras.utils.set_random_seed(0)
    model = build_model(2, 5, task_list, [8], 0.0, ordinal=("level", "spike"))
    compile_model(model, task_list, {"level": 1.0, "spike": 1.0}, 0.01)
    assert isinstance(model.get_layer("level"), OrdinalProbabilities)
    x = np.random.default_rng(0).normal(size=(6, 5, 2)).astype(np.float32)
    y = {"level": np.zeros((6, 4), "int64"), "spike": np.full(6, 2)}
    model.fit(x, y, epochs=1, verbose=0)  # trains with the usual cross-entropy
    out = model.predict(x, verbose=0)
    assert out["level"].shape == (6, 4, 3) and out["spike"].shape == (6, 3)
    assert_allclose(out["spike"].sum(axis=-1), 1.0, rtol=1e-5)
    save_model(model, tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras", ["level", "spike"])
    for name in ("level", "spike"):
        assert_array_equal(again.predict(x, verbose=0)[name], out[name])
