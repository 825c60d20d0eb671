"""Output heads shaped by ``mtlstm.tasks``: a horizon range and quantiles.

- a scalar horizon keeps the original heads: ``Dense(1)`` (regression) and
  ``Dense(C, softmax)`` (classification), or, for a binned classification
  task listed in ``train.ordinal``, ``OrdinalProbabilities``: one score and
  ``C - 1`` ordered cut points (a cumulative-link model);
- a range of ``S`` steps: ``Dense(S)``, or ``S`` softmaxes over ``C`` classes
  (``batch x S x C``), all steps at once (direct multi-output);
- quantiles (regression): ``batch x S x Q`` from ``OrderedQuantiles``, which
  cannot cross by construction, trained with ``PinballLoss``.

The last layer of every head is named after its task (the model's output name).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from keras import ops

from mtlstm import tasks


def squareplus(x: Any) -> Any:
    """``(x + sqrt(x^2 + 1)) / 2``: smooth, >= 0, about ``max(x, 0)`` far from 0."""
    return 0.5 * (x + ops.sqrt(x * x + 1.0))


@keras.saving.register_keras_serializable(package="mtlstm")
class OrderedQuantiles(keras.layers.Layer):
    """``batch x (S*Q)`` free values -> ``batch x S x Q`` quantiles, non-decreasing
    along the quantile axis by construction.

    Per step, the value at the median's position is the median itself; each
    level above adds ``squareplus`` of its own value to the level below it,
    each level below subtracts one from the level above. ``squareplus >= 0``
    and floating-point addition is monotone, so no two quantiles ever cross
    (they can at most touch); no sorting after the fact.

    ``squareplus(x) = (x + sqrt(x^2 + 1)) / 2`` (Barron 2021) is a smooth,
    positive, softplus-like increment built from correctly rounded operations
    only: softplus's ``exp`` and ``log`` round differently in vectorised and
    scalar code, so a window's quantiles would depend on the size of the batch
    it is forecast in, and ``mtlstm predict`` could not reproduce evaluate's
    forecasts exactly.
    """

    def __init__(self, steps: int, n_quantiles: int, median: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.steps, self.n_quantiles, self.median = steps, n_quantiles, median

    def call(self, x: Any) -> Any:
        x = ops.reshape(x, (-1, self.steps, self.n_quantiles))
        m = self.median
        centre = x[..., m : m + 1]
        parts = [centre]
        if m + 1 < self.n_quantiles:
            up = ops.cumsum(squareplus(x[..., m + 1 :]), axis=-1)
            parts.append(centre + up)
        if m > 0:
            # Levels below the median, nearest first, then put back in order.
            down = ops.cumsum(squareplus(ops.flip(x[..., :m], axis=-1)), axis=-1)
            parts.insert(0, ops.flip(centre - down, axis=-1))
        return ops.concatenate(parts, axis=-1) if len(parts) > 1 else centre

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (input_shape[0], self.steps, self.n_quantiles)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "steps": self.steps,
            "n_quantiles": self.n_quantiles,
            "median": self.median,
        }


@keras.saving.register_keras_serializable(package="mtlstm")
class PinballLoss(keras.losses.Loss):
    """Mean pinball (quantile) loss over steps and levels, per window:
    ``max(q * (y - f), (q - 1) * (y - f))``. ``y_true`` is ``batch x S``,
    ``y_pred`` ``batch x S x Q``."""

    def __init__(
        self,
        quantiles: list[float],
        name: str = "pinball",
        reduction: str = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.quantiles = [float(q) for q in quantiles]

    def call(self, y_true: Any, y_pred: Any) -> Any:
        q = ops.convert_to_tensor(self.quantiles, dtype=y_pred.dtype)
        diff = ops.expand_dims(ops.cast(y_true, y_pred.dtype), -1) - y_pred
        loss = ops.maximum(q * diff, (q - 1.0) * diff)
        return ops.mean(loss, axis=(-2, -1))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "quantiles": self.quantiles}


def default_loss(spec: dict[str, Any]) -> Any | None:
    """The loss a task's shape fixes (pinball for quantiles), else None."""
    qs = tasks.quantiles(spec)
    return None if qs is None else PinballLoss(qs, name=f"{spec['name']}_pinball")


@keras.saving.register_keras_serializable(package="mtlstm")
class OrdinalProbabilities(keras.layers.Layer):
    """``batch x S*C`` free values -> class probabilities of a cumulative-link
    (ordinal) model, ``batch x S x C`` (``batch x C`` when ``steps`` is None).

    Per step the first value is a score ``f``; the other ``C - 1`` make the
    cut points: the first is free, each next one is the one below plus
    ``squareplus`` of its value, so they never cross. ``P(class > k) =
    sigmoid(f - c_k)`` falls with ``k``, and each class's probability is the
    difference of two neighbours: >= 0 by construction, summing to 1.

    Why: a binned target's classes are ordered (below 30, 30 to 45, above 45).
    A softmax learns every class's boundary separately, so a rare extreme class
    has few windows to learn its own from; here every class moves the one
    score, and the extreme class only adds its cut point.
    """

    def __init__(self, steps: int | None, n_classes: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.steps, self.n_classes = steps, n_classes

    def call(self, x: Any) -> Any:
        x = ops.reshape(x, (-1, self.steps or 1, self.n_classes))
        score, first = x[..., :1], x[..., 1:2]
        cuts = first
        if self.n_classes > 2:
            above_first = first + ops.cumsum(squareplus(x[..., 2:]), axis=-1)
            cuts = ops.concatenate([first, above_first], axis=-1)
        above = ops.sigmoid(score - cuts)  # P(class > k), non-increasing in k
        upper = ops.concatenate([ops.ones_like(score), above], axis=-1)
        lower = ops.concatenate([above, ops.zeros_like(score)], axis=-1)
        probs = upper - lower
        return probs if self.steps else ops.reshape(probs, (-1, self.n_classes))

    def compute_output_shape(self, input_shape: Any) -> tuple:
        if self.steps:
            return (input_shape[0], self.steps, self.n_classes)
        return (input_shape[0], self.n_classes)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "steps": self.steps,
            "n_classes": self.n_classes,
        }


def classification_head(x: Any, spec: dict[str, Any], ordinal: bool = False) -> Any:
    """Class probabilities: a softmax per step, or with ``ordinal`` (a binned
    task, ``train.ordinal``) ``OrdinalProbabilities``."""
    name, n = spec["name"], len(spec["classes"])
    if ordinal:
        s = tasks.n_steps(spec)
        raw = keras.layers.Dense(s * n, name=f"{name}_ordinal")(x)
        steps = s if tasks.is_range(spec) else None
        return OrdinalProbabilities(steps, n, name=name)(raw)
    if not tasks.is_range(spec):
        return keras.layers.Dense(n, activation="softmax", name=name)(x)
    s = tasks.n_steps(spec)
    logits = keras.layers.Dense(s * n, name=f"{name}_logits")(x)
    logits = keras.layers.Reshape((s, n), name=f"{name}_steps")(logits)
    return keras.layers.Softmax(axis=-1, name=name)(logits)


def regression_head(
    x: Any, spec: dict[str, Any], make_last: Callable[[], Any] | None
) -> Any:
    """``make_last`` builds the target's scaled value at the forecast origin
    (``batch x 1``) for ``predict_change`` (the head then learns the change
    from it; called after the head's own layers, in the original order), or
    None."""
    name, s = spec["name"], tasks.n_steps(spec)
    qs = tasks.quantiles(spec)
    core = name if make_last is None else f"{name}_change"
    if qs is None:
        out = keras.layers.Dense(s, name=core)(x)
    else:
        q = len(qs)
        raw = keras.layers.Dense(s * q, name=f"{name}_raw")(x)
        out = OrderedQuantiles(s, q, tasks.median_index(spec), name=core)(raw)
    if make_last is None:
        return out
    last = make_last()  # batch x 1: added to every step (and level)
    if qs is not None:
        last = keras.layers.Reshape((1, 1), name=f"{name}_last_value_3d")(last)
    return keras.layers.Add(name=name)([out, last])
