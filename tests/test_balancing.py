"""Uncertainty weighting (mtlstm.balancing) on tiny models: the loss it adds, the
names it logs, save/load and resume, determinism, and the 1000x-scale case."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtlstm.balancing import (
    WEIGHTED_LOSS,
    EffectiveWeightsLogger,
    UncertaintyWeightedModel,
    uncertainty_weighted,
)
from mtlstm.model import build_model, compile_model

REG = {"name": "demand", "type": "regression", "horizon": 1}
CLS = {
    "name": "temp_class",
    "type": "classification",
    "horizon": 1,
    "classes": ["cold", "mild", "hot"],
}
TASKS = [REG, CLS]
LOOKBACK, N_FEATURES = 5, 3


def _data(n: int, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, LOOKBACK, N_FEATURES)).astype("float32")
    demand = 30 * x[:, :, 0].mean(axis=1, keepdims=True)  # MSE ~100x the CE
    temp = np.digitize(x[:, -1, 1], [-0.5, 0.5]).astype("int32")
    return x, {"demand": demand.astype("float32"), "temp_class": temp}


def _model(
    seed: int = 0,
    weights: dict[str, float] | None = None,
    dropout: float = 0.0,
) -> UncertaintyWeightedModel:
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    plain = build_model(N_FEATURES, LOOKBACK, TASKS, [8], dropout)
    model = uncertainty_weighted(plain)
    compile_model(model, TASKS, weights or {"demand": 1.0, "temp_class": 1.0}, 0.01)
    return model


class _Record(keras.callbacks.Callback):
    """Stands in for DVCLiveCallback: keeps the logs dict it is handed."""

    def __init__(self) -> None:
        super().__init__()
        self.logs: list[dict] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.logs.append(dict(logs or {}))


def test_at_init_it_evaluates_exactly_like_the_plain_model():
    # s_i = 0 gives exp(0) * L_i + 0: the plain sum, with the plain log names.
    x, y = _data(64, 1)
    keras.utils.set_random_seed(0)
    plain = build_model(N_FEATURES, LOOKBACK, TASKS, [8], 0.0)
    compile_model(plain, TASKS, {"demand": 1.0, "temp_class": 1.0}, 0.01)
    balanced = uncertainty_weighted(plain)  # same layers, same weights
    compile_model(balanced, TASKS, {"demand": 1.0, "temp_class": 1.0}, 0.01)
    want = plain.evaluate(x, y, verbose=0, return_dict=True)
    got = balanced.evaluate(x, y, verbose=0, return_dict=True)
    # One more log: the weighted total, here equal to the plain sum.
    assert got.keys() == want.keys() | {WEIGHTED_LOSS}
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-6), key
    assert got[WEIGHTED_LOSS] == pytest.approx(want["loss"], rel=1e-6)


def test_total_loss_is_the_weighted_uncertainty_sum():
    x, y = _data(32, 1)
    weights = {"demand": 2.0, "temp_class": 0.5}
    model = _model(weights=weights)
    s = np.array([1.5, -0.7], dtype="float32")  # order: sorted task names
    model.log_vars.assign(s)
    logs = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    terms = [
        weights[name] * (np.exp(-s[i]) * logs[f"{name}_loss"] + s[i])
        for i, name in enumerate(model.task_names)
    ]
    assert model.task_names == ["demand", "temp_class"]
    # Logged under its own name; `loss` stays the fixed-weight sum of the tasks.
    assert logs[WEIGHTED_LOSS] == pytest.approx(sum(terms), rel=1e-5)
    plain = sum(weights[name] * logs[f"{name}_loss"] for name in model.task_names)
    assert logs["loss"] == pytest.approx(plain, rel=1e-5)
    assert model.effective_weights() == pytest.approx(
        {"demand": 2.0 * np.exp(-1.5), "temp_class": 0.5 * np.exp(0.7)}
    )


def test_the_gradient_is_the_weighted_totals_while_loss_logs_the_plain_sum():
    # d total / d s_i = w_i * (1 - exp(-s_i) * L_i); the plain sum has no s_i,
    # so a gradient of the logged value would be None for log_vars.
    x, y = _data(32, 1)
    weights = {"demand": 2.0, "temp_class": 0.5}
    model = _model(weights=weights)
    s = np.array([0.4, -0.3], dtype="float32")
    model.log_vars.assign(s)
    with tf.GradientTape() as tape:
        y_pred = model(x, training=False)
        loss = model.compute_loss(x, y, y_pred, training=False)
    grad = tape.gradient(loss, model.log_vars).numpy()
    logs = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    task_loss = np.array([logs[f"{n}_loss"] for n in model.task_names])
    w = np.array([weights[n] for n in model.task_names])
    np.testing.assert_allclose(grad, w * (1 - np.exp(-s) * task_loss), rtol=1e-5)
    assert float(loss) == pytest.approx(float(w @ task_loss), rel=1e-5)


def test_logs_keep_per_task_names_and_add_effective_weights():
    x, y = _data(96, 1)
    model = _model()
    record = _Record()
    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=1, restore_best_weights=True
    )
    # The logger must run before the consumer (DVCLiveCallback in training).
    model.fit(
        x,
        y,
        validation_split=0.25,
        epochs=2,
        batch_size=16,
        verbose=0,
        callbacks=[stop, EffectiveWeightsLogger(), record],
    )
    last = record.logs[-1]
    for key in ("demand_loss", "temp_class_loss", "demand_mae"):
        assert key in last and f"val_{key}" in last
    assert {"loss", "val_loss", "temp_class_accuracy"} <= last.keys()
    assert {WEIGHTED_LOSS, f"val_{WEIGHTED_LOSS}"} <= last.keys()
    # Two different numbers (the plain sum's value is checked exactly, on one
    # batch, in test_total_loss_is_the_weighted_uncertainty_sum).
    for prefix in ("", "val_"):
        assert last[f"{prefix}loss"] > last[f"{prefix}{WEIGHTED_LOSS}"]
    log_vars = model.log_vars.numpy()
    assert last["weight_demand"] == pytest.approx(np.exp(-log_vars[0]))
    assert last["weight_temp_class"] == pytest.approx(np.exp(-log_vars[1]))
    assert log_vars[0] > 0  # the large regression loss is down-weighted


def test_effective_weights_logger_ignores_a_plain_model():
    logger = EffectiveWeightsLogger()
    logger.set_model(build_model(N_FEATURES, LOOKBACK, TASKS, [4], 0.0))
    logs: dict = {"loss": 1.0}
    logger.on_epoch_end(0, logs)
    assert logs == {"loss": 1.0}


def _fit_weights(model: keras.Model, epochs: tuple[int, int]) -> list[np.ndarray]:
    x, y = _data(64, 1)
    model.fit(
        x,
        y,
        epochs=epochs[1],
        initial_epoch=epochs[0],
        batch_size=16,
        shuffle=False,
        verbose=0,
    )
    return model.get_weights()


def test_save_load_safe_mode_predicts_identically_and_resumes(tmp_path: Path):
    x, _ = _data(16, 2)
    straight = _fit_weights(_model(seed=3), (0, 2))
    again = _fit_weights(_model(seed=3), (0, 2))  # determinism: same seed
    for a, b in zip(straight, again, strict=True):
        np.testing.assert_array_equal(a, b)

    model = _model(seed=3)
    _fit_weights(model, (0, 1))
    path = tmp_path / "model.keras"
    model.save(path)
    for compile_ in (False, True):
        loaded = keras.models.load_model(path, compile=compile_, safe_mode=True)
        assert isinstance(loaded, UncertaintyWeightedModel)
        np.testing.assert_array_equal(loaded.log_vars.numpy(), model.log_vars.numpy())
        want, got = model.predict(x, verbose=0), loaded.predict(x, verbose=0)
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])
    # The compiled reload carries the optimizer state: resuming it ends exactly
    # where the uninterrupted run did.
    resumed = _fit_weights(loaded, (1, 2))
    for a, b in zip(straight, resumed, strict=True):
        np.testing.assert_array_equal(a, b)


SCALED = [
    {"name": "big", "type": "regression", "horizon": 1},
    {"name": "small", "type": "regression", "horizon": 1},
]


def _scaled_data(n: int, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Two linear targets on different features, with standard deviations ~1
    and ~31.6: the MSEs differ by ~1000x."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, LOOKBACK, 2)).astype("float32")
    big = 31.6 * 2 * x[:, :, 0].mean(axis=1, keepdims=True)
    small = 2 * x[:, :, 1].mean(axis=1, keepdims=True)
    return x, {"big": big.astype("float32"), "small": small.astype("float32")}


def _before_after(balanced: bool) -> dict[str, tuple[float, float]]:
    keras.utils.set_random_seed(1)
    tf.config.experimental.enable_op_determinism()
    # A 4-unit trunk: the two tasks must compete for its capacity.
    model = build_model(2, LOOKBACK, SCALED, [4], 0.0)
    if balanced:
        model = uncertainty_weighted(model)
    compile_model(model, SCALED, {"big": 1.0, "small": 1.0}, 0.1)
    x, y = _scaled_data(512, 0)
    x_val, y_val = _scaled_data(256, 1)
    before = model.evaluate(x_val, y_val, verbose=0, return_dict=True)
    model.fit(x, y, epochs=10, batch_size=32, shuffle=False, verbose=0)
    after = model.evaluate(x_val, y_val, verbose=0, return_dict=True)
    out = {t: (before[f"{t}_loss"], after[f"{t}_loss"]) for t in ("big", "small")}
    print(
        f"balanced={balanced}: "
        + ", ".join(f"{t} {b:.4g} -> {a:.4g}" for t, (b, a) in out.items())
    )
    return out


def test_uncertainty_improves_both_tasks_despite_a_1000x_loss_scale():
    uncertainty = _before_after(balanced=True)
    big, small = uncertainty["big"], uncertainty["small"]
    assert big[0] / small[0] > 500  # the scales really differ ~1000x
    assert big[1] < 0.6 * big[0]
    assert small[1] < 0.7 * small[0]
    # With fixed equal weights the big task takes the shared trunk and the
    # small one barely moves (or gets worse).
    fixed = _before_after(balanced=False)
    assert fixed["big"][1] < 0.6 * fixed["big"][0]
    assert fixed["small"][1] > 0.85 * fixed["small"][0]
    assert small[1] < 0.75 * fixed["small"][1]
