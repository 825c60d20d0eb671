"""The multi-task LSTM: a shared stacked trunk, one named head per task.

Defaults stay cuDNN-eligible on a GPU (tanh/sigmoid, no recurrent dropout, no
unroll): dropout is applied between layers, never inside the recurrence.
"""

from __future__ import annotations

from typing import Any

import keras

from mtlstm import heads

DEFAULT_LOSS = {
    "regression": "mse",
    "classification": "sparse_categorical_crossentropy",
}
DEFAULT_METRICS = {"regression": ["mae"], "classification": ["accuracy"]}


def build_model(
    n_features: int,
    lookback: int,
    tasks: list[dict[str, Any]],
    layers: list[int],
    dropout: float,
    head_units: int = 0,
) -> keras.Model:
    """``Input(lookback, n_features)`` -> stacked LSTM trunk -> one head per task.

    ``head_units`` > 0 gives each head a task-specific ``Dense(head_units, relu)``
    layer (``<task>_hidden``) between the shared trunk and its output layer."""
    inputs = keras.Input(shape=(lookback, n_features), name="features")
    x = inputs
    for i, units in enumerate(layers):
        last = i == len(layers) - 1
        x = keras.layers.LSTM(units, return_sequences=not last, name=f"trunk_lstm_{i}")(
            x
        )
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"trunk_dropout_{i}")(x)
    outputs = {t["name"]: _head(_hidden(x, t, head_units), t, inputs) for t in tasks}
    return keras.Model(inputs=inputs, outputs=outputs, name="mtlstm")


def _hidden(x: keras.KerasTensor, task: dict[str, Any], units: int) -> Any:
    if not units:
        return x
    return keras.layers.Dense(units, activation="relu", name=f"{task['name']}_hidden")(
        x
    )


def _head(
    x: keras.KerasTensor, task: dict[str, Any], inputs: keras.KerasTensor
) -> keras.KerasTensor:
    # Head shapes (horizon range, quantiles) follow mtlstm.tasks; see heads.
    name = task["name"]
    if task["type"] == "classification":
        return heads.classification_head(x, task)
    if task.get("change_of") is None:
        return heads.regression_head(x, task, None)
    # predict_change: the head learns the change from the value observed at the
    # forecast origin, so persistence is where training starts, not a target.
    return heads.regression_head(
        x, task, lambda: LastStep(task["change_of"], name=f"{name}_last_value")(inputs)
    )


@keras.saving.register_keras_serializable(package="mtlstm")
class LastStep(keras.layers.Layer):
    """One input feature at the window's last step, shape ``(batch, 1)``. The
    target's own scaled column has the target's scaling, so it adds directly."""

    def __init__(self, feature: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.feature = feature

    def call(self, x: Any) -> Any:
        return x[:, -1, self.feature : self.feature + 1]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "feature": self.feature}


def compile_model(
    model: keras.Model,
    tasks: list[dict[str, Any]],
    loss_weights: dict[str, float],
    learning_rate: float,
    losses: dict[str, str] | None = None,
    metrics: dict[str, list[str]] | None = None,
    ema_momentum: float = 0.0,
) -> None:
    """Losses, metrics and weights are dicts keyed by task (= head) name.

    ``ema_momentum`` > 0 keeps an exponential moving average of the weights in
    the optimizer (Polyak averaging); ``mtlstm.training.fit`` writes it into the
    model at the end of every epoch, so validation, early stopping and the saved
    model all see the averaged weights."""
    names = [t["name"] for t in tasks]
    if set(loss_weights) != set(names):
        raise ValueError(
            f"loss_weights keys {sorted(loss_weights)} must equal the task names "
            f"{sorted(names)}"
        )
    losses, metrics = losses or {}, metrics or {}
    model.compile(
        optimizer=keras.optimizers.Adam(
            learning_rate, use_ema=ema_momentum > 0, ema_momentum=ema_momentum or 0.99
        ),
        loss={t["name"]: _loss(t, losses) for t in tasks},
        loss_weights={n: float(loss_weights[n]) for n in names},
        metrics={t["name"]: _metrics(t, metrics) for t in tasks},
    )


def _loss(task: dict[str, Any], losses: dict[str, str]) -> Any:
    """A quantile head's pinball loss, else train.losses or the type's default."""
    fixed = heads.default_loss(task)
    if fixed is not None:
        return fixed
    return losses.get(task["name"], DEFAULT_LOSS[task["type"]])


def _metrics(task: dict[str, Any], metrics: dict[str, list[str]]) -> list[str]:
    # A quantile head's loss is its metric: mae would compare every level.
    default = [] if task.get("quantiles") else DEFAULT_METRICS[task["type"]]
    return list(metrics.get(task["name"], default))


def make_model(cfg: Any, bundle: dict[str, Any], n_features: int) -> keras.Model:
    """The compiled model ``train.*`` describes for the tasks in ``bundle``."""
    from mtlstm.balancing import uncertainty_weighted

    tasks = bundle["tasks"]
    model = build_model(
        n_features, bundle["lookback"], tasks, cfg.layers, cfg.dropout, cfg.head_units
    )
    if cfg.loss_balancing == "uncertainty":
        model = uncertainty_weighted(model)
    compile_model(
        model,
        tasks,
        cfg.loss_weights,
        cfg.learning_rate,
        cfg.losses,
        cfg.metrics,
        cfg.ema_momentum,
    )
    return model


def make_single_task_model(
    cfg: Any, bundle: dict[str, Any], n_features: int
) -> keras.Model:
    """The ablation's model for the one task in ``bundle``: the same trunk and
    head as ``make_model`` builds, a plain loss (weight 1, nothing to balance)."""
    tasks = bundle["tasks"]
    if len(tasks) != 1:
        raise ValueError(f"a single-task model needs one task, got {len(tasks)}")
    model = build_model(
        n_features, bundle["lookback"], tasks, cfg.layers, cfg.dropout, cfg.head_units
    )
    weights = {tasks[0]["name"]: 1.0}
    compile_model(
        model,
        tasks,
        weights,
        cfg.learning_rate,
        cfg.losses,
        cfg.metrics,
        cfg.ema_momentum,
    )
    return model
