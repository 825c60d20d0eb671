"""The multi-task LSTM: a shared stacked trunk, one named head per task.

Defaults stay cuDNN-eligible on a GPU (tanh/sigmoid, no recurrent dropout, no
unroll): dropout is applied between layers, never inside the recurrence.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

import keras
import numpy as np
from keras import ops

from mtlstm import heads
from mtlstm import tasks as task_shape
from mtlstm.errors import ConfigError, DataError, quote

DEFAULT_LOSS = {
    "regression": "mse",
    "classification": "sparse_categorical_crossentropy",
}
DEFAULT_METRICS = {"regression": ["mae"], "classification": ["accuracy"]}
# One static attribute for build_model: (column, code of each series, number of
# values, embedding dimensions); see static_shapes.
StaticSpec = tuple[str, list[int], int, int]


def build_model(
    n_features: int,
    lookback: int,
    tasks: list[dict[str, Any]],
    layers: list[int],
    dropout: float,
    head_units: int = 0,
    known_future: tuple[int, int] | None = None,
    series: tuple[int, int] | None = None,
    static: list[StaticSpec] | None = None,
    ordinal: Collection[str] = (),
    task_lstm: int = 0,
) -> keras.Model:
    """``Input(lookback, n_features)`` -> stacked LSTM trunk -> one head per task.

    The classification tasks named in ``ordinal`` get a cumulative-link head
    (``heads.OrdinalProbabilities``) instead of a softmax.

    ``head_units`` > 0 gives each head a task-specific ``Dense(head_units, relu)``
    layer (``<task>_hidden``) between the shared trunk and its output layer.

    ``task_lstm`` > 0 gives each task its own ``LSTM(task_lstm)`` (``<task>_lstm``)
    over every step of the shared trunk's output: the trunk's last layer returns
    its whole sequence, and each task reads it with its own recurrent state (the
    lower layers shared, the top one per task).

    ``known_future`` ``(steps, K)`` adds an input ``known_future`` of the known
    columns at the next ``steps`` rows, flattened and concatenated to the
    trunk's output (with ``task_lstm``, to each task's own); ``series``
    ``(n_series, dim)`` adds an input ``series`` (one integer code per window)
    through ``Embedding(n_series, dim)``, concatenated likewise; ``static``
    (``static_shapes``) adds, from the same ``series`` input, one ``Embedding``
    per static attribute of the window's series, looked up through the
    attribute's constant table of codes (``SeriesLookup``).
    Without any the model is exactly the single-input one."""
    inputs = keras.Input(shape=(lookback, n_features), name="features")
    x = _trunk(inputs, layers, dropout, sequences=task_lstm > 0)
    if known_future is None and series is None and not static:
        model_inputs: Any = inputs
        extras: list[keras.KerasTensor] = []
    else:
        model_inputs, extras = _extra_inputs(inputs, known_future, series, static)
    if not task_lstm:
        x = _joined(x, extras, name="trunk_and_known")
    outputs = {}
    for t in tasks:
        name = t["name"]
        top = x
        if task_lstm:
            # The task's own recurrent layer, then the extra inputs beside it.
            top = keras.layers.LSTM(task_lstm, name=f"{name}_lstm")(x)
            top = _joined(top, extras, name=f"{name}_and_known")
        outputs[name] = _head(_hidden(top, t, head_units), t, inputs, name in ordinal)
    return keras.Model(inputs=model_inputs, outputs=outputs, name="mtlstm")


def _joined(
    x: keras.KerasTensor, extras: list[keras.KerasTensor], name: str
) -> keras.KerasTensor:
    """``x`` concatenated with the extra inputs' vectors (``x`` if none)."""
    if not extras:
        return x
    return keras.layers.Concatenate(name=name)([x, *extras])


def _extra_inputs(
    features: keras.KerasTensor,
    known_future: tuple[int, int] | None,
    series: tuple[int, int] | None,
    static: list[StaticSpec] | None = None,
) -> tuple[dict[str, keras.KerasTensor], list[keras.KerasTensor]]:
    """The model's inputs by name, and the vectors joined to the trunk's (or
    each task's) output: the flattened known-future block and/or the series and
    static embeddings."""
    inputs: dict[str, keras.KerasTensor] = {"features": features}
    parts: list[keras.KerasTensor] = []
    if known_future is not None:
        steps, width = known_future
        future = keras.Input(shape=(steps, width), name="known_future")
        inputs["known_future"] = future
        parts.append(keras.layers.Flatten(name="known_future_flat")(future))
    if series is not None or static:
        code = keras.Input(shape=(), dtype="int32", name="series")
        inputs["series"] = code
    if series is not None:
        n_series, dim = series
        parts.append(
            keras.layers.Embedding(n_series, dim, name="series_embedding")(code)
        )
    for i, (column, codes, n_values, dim) in enumerate(static or []):
        # Layer names hold only [A-Za-z0-9_]; the index keeps them distinct.
        name = f"static_{i}_{re.sub(r'[^A-Za-z0-9_]', '_', column)}"
        value = SeriesLookup(codes, name=f"{name}_code")(code)
        parts.append(keras.layers.Embedding(n_values, dim, name=name)(value))
    return inputs, parts


def _trunk(
    inputs: keras.KerasTensor, layers: list[int], dropout: float, sequences: bool
) -> keras.KerasTensor:
    """The shared LSTM layers; the last returns its final state only, or every
    step (``sequences``) for the tasks' own recurrent layers."""
    x = inputs
    for i, units in enumerate(layers):
        last = i == len(layers) - 1 and not sequences
        x = keras.layers.LSTM(units, return_sequences=not last, name=f"trunk_lstm_{i}")(
            x
        )
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"trunk_dropout_{i}")(x)
    return x


def _hidden(x: keras.KerasTensor, task: dict[str, Any], units: int) -> Any:
    if not units:
        return x
    return keras.layers.Dense(units, activation="relu", name=f"{task['name']}_hidden")(
        x
    )


def _head(
    x: keras.KerasTensor,
    task: dict[str, Any],
    inputs: keras.KerasTensor,
    ordinal: bool = False,
) -> keras.KerasTensor:
    # Head shapes (horizon range, quantiles) follow mtlstm.tasks; see heads.
    name = task["name"]
    if task["type"] == "classification":
        return heads.classification_head(x, task, ordinal)
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


@keras.saving.register_keras_serializable(package="mtlstm")
class SeriesLookup(keras.layers.Layer):
    """A series' static attribute code, ``codes[series]``, shape ``(batch,)``.

    The table is a constant of the model (its config), so the saved model
    forecasts with the attribute codes it was trained with, and the data
    pipeline feeds only the series code."""

    def __init__(self, codes: list[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.codes = [int(c) for c in codes]

    def call(self, series: Any) -> Any:
        table = ops.convert_to_tensor(np.asarray(self.codes, np.int32))
        return ops.take(table, ops.cast(series, "int32"))

    def compute_output_shape(self, input_shape: Any) -> Any:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "codes": self.codes}


def average_models(members: list[keras.Model]) -> keras.Model:
    """One model with the members' inputs whose every head is the mean of the
    members' same head (``train.ensemble``); the only member itself when one.

    Every head's output is already in the space its forecasts are read in:
    values (or quantiles) for regression, softmax probabilities for
    classification, so the mean of probabilities is a probability and the mean
    of non-crossing quantiles does not cross. Each member becomes a plain
    functional model ``member_<i>`` (an ``UncertaintyWeightedModel``'s loss
    weights only matter in training), so the saved file holds no custom model
    class and loads wherever one model does."""
    if len(members) == 1:
        return members[0]
    first = members[0]
    inputs = keras.tree.map_structure(
        lambda t: keras.Input(shape=t.shape[1:], dtype=t.dtype, name=t.name),
        first.input,
    )
    outputs = [
        keras.Model(m.input, m.output, name=f"member_{i}")(inputs)
        for i, m in enumerate(members)
    ]
    heads = {
        name: keras.layers.Average(name=name)([out[name] for out in outputs])
        for name in first.output
    }
    return keras.Model(inputs=inputs, outputs=heads, name="mtlstm_ensemble")


def average_groups(groups: list[list[keras.Model]]) -> keras.Model:
    """The saved model of ``train.ensemble`` members that each average their
    ``train.checkpoint_average`` best epochs (``fit_member_groups``: one group
    per member): every head is the mean over the members of each member's
    mean over its epochs.

    A run that stops early keeps fewer than K epochs when ``patience + 1`` < K,
    so the groups can differ in size; one mean over all their models would
    then weigh each member by its number of epochs, so each group is averaged
    first. Groups of one size are averaged in one flat mean: the same mean,
    and the same saved model as before."""
    if len({len(group) for group in groups}) == 1:
        return average_models([model for group in groups for model in group])
    return average_models([average_models(group) for group in groups])


def compile_model(
    model: keras.Model,
    tasks: list[dict[str, Any]],
    loss_weights: dict[str, float],
    learning_rate: float,
    losses: dict[str, Any] | None = None,
    metrics: dict[str, list[str]] | None = None,
    ema_momentum: float = 0.0,
    optimizer: keras.optimizers.Optimizer | None = None,
) -> None:
    """Losses, metrics and weights are dicts keyed by task (= head) name; a loss
    is a Keras name or a ``keras.losses.Loss`` (e.g. ``ClassLoss``).

    ``optimizer``: a trained model's own, to recompile it and train on with
    its state (backtest refit); None: a new Adam at ``learning_rate``.

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
    _check_identifiers(losses, metrics)
    if optimizer is None:
        optimizer = keras.optimizers.Adam(
            learning_rate, use_ema=ema_momentum > 0, ema_momentum=ema_momentum or 0.99
        )
    model.compile(
        optimizer=optimizer,
        loss={t["name"]: _loss(t, losses) for t in tasks},
        loss_weights={n: float(loss_weights[n]) for n in names},
        metrics={t["name"]: _metrics(t, metrics) for t in tasks},
    )


# Names Keras' compile takes besides keras.losses.get's and keras.metrics.get's
# (it picks the binary, categorical or sparse kind: keras compile_utils).
KERAS_LOSS_ALIASES = ("crossentropy", "ce")
KERAS_METRIC_ALIASES = ("accuracy", "acc")


def _check_identifiers(losses: dict[str, Any], metrics: dict[str, list[str]]) -> None:
    """Every ``train.losses`` and ``train.metrics`` name is one Keras knows: a
    typo was Keras' ValueError, reported as a bug in mtlstm, a metric's only at
    the first training step. Here, not in mtlstm.config: it needs Keras."""
    for task, loss in losses.items():
        if isinstance(loss, str) and loss.lower() not in KERAS_LOSS_ALIASES:
            try:
                keras.losses.get(loss)
            except ValueError:
                raise ConfigError(
                    f"train.losses.{task}: {quote(loss)} is not a Keras loss; use "
                    "one of keras.losses' names, e.g. mse, mae, huber, log_cosh"
                ) from None
    for task, names in metrics.items():
        for i, name in enumerate(names):
            if name.lower() in KERAS_METRIC_ALIASES:
                continue
            try:
                keras.metrics.get(name)
            except ValueError:
                raise ConfigError(
                    f"train.metrics.{task}[{i}]: {quote(name)} is not a Keras "
                    "metric; use one of keras.metrics' names, e.g. mae, mse, "
                    "root_mean_squared_error, accuracy"
                ) from None


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


def make_model(
    cfg: Any,
    bundle: dict[str, Any],
    n_features: int,
    class_weights: dict[str, list[float]] | None = None,
) -> keras.Model:
    """The compiled model ``train.*`` describes for the tasks in ``bundle``.

    ``class_weights`` (``training_class_weights``) is needed, and read, only
    under ``train.class_weighting: balanced``. The bundle's ``known_future``
    and, with ``train.series_embedding`` or ``train.static_embedding`` > 0, its
    ``series`` (and ``static``) add inputs."""
    return _compiled(
        cfg,
        bundle,
        n_features,
        cfg.loss_weights,
        class_weights,
        uncertainty=cfg.loss_balancing == "uncertainty",
    )


def make_single_task_model(
    cfg: Any,
    bundle: dict[str, Any],
    n_features: int,
    class_weights: dict[str, list[float]] | None = None,
) -> keras.Model:
    """The ablation's model for the one task in ``bundle``: the same trunk, head
    and task loss as ``make_model`` builds, weight 1 (nothing to balance)."""
    tasks = bundle["tasks"]
    if len(tasks) != 1:
        raise ValueError(f"a single-task model needs one task, got {len(tasks)}")
    weights = {tasks[0]["name"]: 1.0}
    return _compiled(cfg, bundle, n_features, weights, class_weights, uncertainty=False)


def _compiled(
    cfg: Any,
    bundle: dict[str, Any],
    n_features: int,
    loss_weights: dict[str, float],
    class_weights: dict[str, list[float]] | None,
    uncertainty: bool,
) -> keras.Model:
    """Build the trunk and heads for ``bundle``'s tasks and compile them."""
    from mtlstm.balancing import uncertainty_weighted

    tasks = bundle["tasks"]
    model = build_model(
        n_features,
        bundle["lookback"],
        tasks,
        cfg.layers,
        cfg.dropout,
        cfg.head_units,
        known_future_shape(bundle),
        series_shape(cfg, bundle),
        static_shapes(cfg, bundle),
        cfg.ordinal,
        cfg.task_lstm,
    )
    if uncertainty:
        model = uncertainty_weighted(model)
    compile_model(
        model,
        tasks,
        loss_weights,
        cfg.learning_rate,
        task_losses(cfg, tasks, class_weights),
        cfg.metrics,
        cfg.ema_momentum,
    )
    return model


def reweigh_classes(
    model: keras.Model,
    cfg: Any,
    bundle: dict[str, Any],
    class_weights: dict[str, list[float]],
) -> None:
    """Recompile a trained model (``make_model``'s) with new ``class_weights``,
    keeping its optimizer and that optimizer's state: a backtest refit fold
    warm-starts from the previous fold's model, but its classes are weighed
    by its own training windows, as a retrained fold's are."""
    compile_model(
        model,
        bundle["tasks"],
        cfg.loss_weights,
        cfg.learning_rate,
        task_losses(cfg, bundle["tasks"], class_weights),
        cfg.metrics,
        cfg.ema_momentum,
        optimizer=model.optimizer,
    )


def known_future_shape(bundle: dict[str, Any]) -> tuple[int, int] | None:
    """``(steps, K)`` of the bundle's known-future input, or None."""
    spec = bundle.get("known_future")
    return (int(spec["steps"]), len(spec["features"])) if spec else None


def series_shape(cfg: Any, bundle: dict[str, Any]) -> tuple[int, int] | None:
    """``(n_series, train.series_embedding)``, or None when the embedding is
    off; a ConfigError when it is on but the data declares no series."""
    dim = getattr(cfg, "series_embedding", 0)
    if not dim:
        return None
    return (len(series_names(bundle)), int(dim))


def static_shapes(cfg: Any, bundle: dict[str, Any]) -> list[StaticSpec] | None:
    """One ``StaticSpec`` per static attribute of the bundle (``features.static``,
    ``mtlstm.static``), each embedded in ``train.static_embedding`` dimensions;
    None when that is 0; a ConfigError when it is not but the bundle holds no
    static attributes (windows built before features.static was set)."""
    dim = getattr(cfg, "static_embedding", 0)
    if not dim:
        return None
    static = bundle.get("static") or []
    if not static:
        raise ConfigError(
            "train.static_embedding: > 0 embeds each series' static attributes, "
            "but data/windows/preprocess.json holds none (no 'static'); list them "
            "in features.static and rerun the window stage, or set "
            "train.static_embedding: 0"
        )
    n_series = len(series_names(bundle, "train.static_embedding"))
    specs = []
    for item in static:
        codes = [int(c) for c in item["codes"]]
        if len(codes) != n_series:
            raise DataError(
                f"preprocess.json static {item['column']!r}: {len(codes)} codes "
                f"for {n_series} series; rerun the window stage"
            )
        specs.append((item["column"], codes, len(item["categories"]), int(dim)))
    return specs


def embeds_series(cfg: Any) -> bool:
    """Whether the model reads each window's series code (``series`` input):
    for ``train.series_embedding`` or ``train.static_embedding``."""
    return bool(
        getattr(cfg, "series_embedding", 0) or getattr(cfg, "static_embedding", 0)
    )


def series_names(
    bundle: dict[str, Any], key: str = "train.series_embedding"
) -> list[str]:
    """The series the window stage coded 0, 1, ... (``bundle["series"]``)."""
    names = (bundle.get("series") or {}).get("names") or []
    if not names:
        raise ConfigError(
            f"{key}: > 0 embeds each window's series, but the data "
            "declares no series (no ingest.series, so data/windows/preprocess.json "
            f"has no 'series'); declare ingest.series or set {key}: 0"
        )
    return list(names)


def task_losses(
    cfg: Any,
    tasks: list[dict[str, Any]],
    class_weights: dict[str, list[float]] | None = None,
) -> dict[str, Any]:
    """``train.losses``, with a ``ClassLoss`` for every classification head when
    ``train.class_weighting`` or ``train.focal_gamma`` asks for one (the schema
    forbids a ``train.losses`` entry for such a head)."""
    losses: dict[str, Any] = dict(cfg.losses)
    if cfg.class_weighting == "none" and cfg.focal_gamma == 0:
        return losses
    for task in tasks:
        if task["type"] != "classification":
            continue
        name, n = task["name"], len(task["classes"])
        weights = [1.0] * n
        if cfg.class_weighting == "balanced":
            if class_weights is None or len(class_weights.get(name, [])) != n:
                raise ValueError(
                    f"train.class_weighting balanced: no {n} class weights for "
                    f"{name!r}; pass training_class_weights(...)"
                )
            weights = class_weights[name]
        losses[name] = ClassLoss(weights, cfg.focal_gamma, name=f"{name}_class_loss")
    return losses


def training_class_weights(
    cfg: Any, bundle: dict[str, Any], targets: dict[str, Any], train_ends: Any
) -> dict[str, list[float]]:
    """Per classification task, ``balanced_class_weights`` of the labels of the
    training windows only (every target step of each window); ``{}`` unless
    ``train.class_weighting`` is ``balanced``."""
    if cfg.class_weighting != "balanced":
        return {}
    ends = np.asarray(train_ends, dtype=np.int64)
    return {
        t["name"]: balanced_class_weights(
            task_shape.gather(np.asarray(targets[t["name"]]), ends, t).ravel(),
            len(t["classes"]),
        )
        for t in bundle["tasks"]
        if t["type"] == "classification"
    }


def balanced_class_weights(labels: Any, n_classes: int) -> list[float]:
    """scikit-learn's ``balanced`` weights, ``n / (k * n_c)``, for class indices
    ``0..n_classes-1``: every class then carries the same total weight, and the
    mean weight over the labels is 1 (the loss keeps its scale). ``k`` counts
    the classes present; an absent class (no window to weigh) gets 1."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes)
    if counts.size != n_classes or counts.sum() == 0:
        raise ValueError(
            f"labels must be class indices 0..{n_classes - 1}, at least one given"
        )
    present = counts > 0
    weights = np.ones(n_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return [float(w) for w in weights]


@keras.saving.register_keras_serializable(package="mtlstm")
class ClassLoss(keras.losses.Loss):
    """Sparse categorical cross-entropy with class weights and a focal term.

    Per window with class ``y`` and predicted probabilities ``p``:
    ``-w[y] * (1 - p[y]) ** gamma * log(p[y])``, averaged over the batch like
    Keras' own losses (``sum_over_batch_size``). ``w`` all 1 and ``gamma`` 0 is
    the plain sparse cross-entropy; ``gamma`` > 0 (Lin et al. 2017, focal loss)
    shrinks the loss of windows the head already classifies confidently."""

    def __init__(
        self,
        class_weights: list[float],
        gamma: float = 0.0,
        name: str = "class_loss",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.class_weights = [float(w) for w in class_weights]
        self.gamma = float(gamma)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        eps = keras.config.epsilon()
        # A horizon range's head is batch x steps x classes: one row per step.
        probs = ops.reshape(
            ops.clip(y_pred, eps, 1.0 - eps), (-1, ops.shape(y_pred)[-1])
        )
        p_true = ops.take_along_axis(probs, labels[:, None], axis=-1)[:, 0]
        weight = ops.take(
            ops.convert_to_tensor(self.class_weights, probs.dtype), labels
        )
        loss = -weight * ops.log(p_true)
        if self.gamma:
            loss = loss * ops.power(1.0 - p_true, self.gamma)
        return loss

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "class_weights": self.class_weights,
            "gamma": self.gamma,
        }
