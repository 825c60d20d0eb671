"""Homoscedastic uncertainty weighting of the task losses (Kendall, Gal & Cipolla
2018, "Multi-Task Learning Using Uncertainty to Weigh Losses").

Each task ``i`` gets a trainable log-variance ``s_i`` (initially 0) and the model
minimises

    total = sum_i  w_i * (exp(-s_i) * L_i + s_i)

where ``L_i`` is the task's unweighted loss and ``w_i`` the fixed ``loss_weights``
given to ``compile`` (1.0 everywhere gives the paper's form). The effective weight
of task ``i`` is ``w_i * exp(-s_i)``: at the optimum ``exp(s_i) = L_i``, so every
task contributes a relative (scale-free) gradient ``grad L_i / L_i`` and a task
whose loss is 1000x larger no longer drowns the others. The ``+ s_i`` term stops
the trivial solution ``s_i -> inf``.

Convention: the simplified ``exp(-s) * L + s`` is used for *every* task type. The
paper writes ``0.5 * exp(-s) * L + 0.5 * s`` for a Gaussian (regression) task;
that is this term times 0.5, i.e. only a constant factor 2 between the regression
and classification terms, which ``loss_weights`` can express if wanted.

``UncertaintyWeightedModel`` is the project's functional model with this loss:
per-task losses and metrics keep their plain-model names in the logs
(``demand_loss``, ``temp_class_loss``, ``demand_mae``...). ``loss``/``val_loss``
mean what they mean under fixed balancing, ``sum_i w_i * L_i`` (positive, and
comparable between the two modes and across epochs); the total above, which
is what the gradient follows and which turns negative once some ``s_i < 0``,
is logged as ``loss_uncertainty_weighted`` / ``val_loss_uncertainty_weighted``
(no task's ``<task>_loss`` can take that name). ``EffectiveWeightsLogger`` adds
``weight_<task>`` to each epoch's logs. It saves with ``model.save`` and loads with
``keras.models.load_model(path, safe_mode=True)`` once this module is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from keras import ops

LOG_VARS = "log_vars"
WEIGHTED_LOSS = "loss_uncertainty_weighted"  # the log name of the total above


@keras.saving.register_keras_serializable(package="mtlstm")
class UncertaintyWeightedModel(keras.Model):
    """A functional multi-task model (outputs: a dict keyed by task name) trained
    on the uncertainty-weighted sum of its task losses.

    Build it like ``keras.Model(inputs=..., outputs={task: head})`` or convert a
    built one with ``uncertainty_weighted``; compile it exactly like the plain
    model (``loss`` and ``loss_weights`` dicts keyed by task).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # *args/**kwargs keep Keras treating the class as functional-like, so
        # get_config/from_config rebuild the graph and no extra config is needed.
        super().__init__(*args, **kwargs)
        if not isinstance(self.output, dict):
            raise ValueError(
                "UncertaintyWeightedModel needs dict outputs keyed by task name, "
                f"got {type(self.output).__name__}"
            )
        # Sorted names: the order of log_vars must not depend on dict order,
        # so a reloaded model maps each s_i to the same task.
        self.task_names: list[str] = sorted(self.output)
        self.log_vars = self.add_weight(
            name=LOG_VARS,
            shape=(len(self.task_names),),
            initializer="zeros",
            trainable=True,
        )
        self._task_losses: dict[str, keras.losses.Loss] = {}
        self._task_weights: dict[str, float] = {}
        self.weighted_loss_tracker = keras.metrics.Mean(name=WEIGHTED_LOSS)

    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        loss_weights: Any = None,
        **kwargs: Any,
    ) -> None:
        # Keep the plain compile (and its config, for save/load), but remember
        # one reduced loss per task: compute_loss needs each L_i separately.
        self._task_losses = _task_losses(loss, self.task_names)
        self._task_weights = _task_weights(loss_weights, self.task_names)
        super().compile(
            optimizer=optimizer, loss=loss, loss_weights=loss_weights, **kwargs
        )

    def compile_from_config(self, config: dict[str, Any]) -> None:
        # Keras skips compile() on load for any class that overrides it; ours
        # only adds bookkeeping, so replay the saved plain config as Keras does.
        # A resumed run (load_model, compile=True) thus gets its optimizer back.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Any = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> Any:
        # The default pass updates Keras' own per-task "<task>_loss" trackers, so
        # the logs keep the plain model's names and (unweighted) values; its
        # fixed-weight sum w_i * L_i is what `loss` logs (see the return).
        plain = super().compute_loss(x, y, y_pred, sample_weight, training)
        total = ops.zeros((), dtype=self.log_vars.dtype)
        for i, name in enumerate(self.task_names):
            weight = _task_sample_weight(sample_weight, name)
            value = self._task_losses[name](y[name], y_pred[name], weight)
            value = ops.cast(value, self.log_vars.dtype)
            # Under tf.distribute each replica's `value` is already divided by
            # the replica count (the replicas' gradients are summed): so is s.
            s = self.log_vars[i]
            total = total + self._task_weights[name] * (
                ops.exp(-s) * value + _scaled(s)
            )
        for extra in self.losses:  # regularisers / add_loss, as Keras would add
            total = total + _scaled(ops.cast(ops.sum(extra), total.dtype))
        batch = ops.shape(keras.tree.flatten(x)[0])[0]
        self.weighted_loss_tracker.update_state(_unscaled(total), sample_weight=batch)
        # The value of the plain sum (what Keras' tracker logs as `loss`) with
        # the gradient of the weighted total (what the optimizer minimises).
        return total + ops.stop_gradient(ops.cast(plain, total.dtype) - total)

    def effective_weights(self) -> dict[str, float]:
        """``w_i * exp(-s_i)`` per task: what multiplies each task's loss now."""
        log_vars = self.log_vars.numpy()
        return {
            name: float(self._task_weights.get(name, 1.0) * np.exp(-log_vars[i]))
            for i, name in enumerate(self.task_names)
        }


def _replicas() -> int:
    """The replica count of the current ``tf.distribute`` strategy (1 without)."""
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def _unscaled(value: Any) -> Any:
    """A loss as Keras' own loss tracker records it: under ``tf.distribute``
    each replica's loss is divided by the replica count, so multiply back."""
    replicas = _replicas()
    return value * replicas if replicas > 1 else value


def _scaled(value: Any) -> Any:
    """A per-replica share of a loss term, as Keras scales its losses under
    ``tf.distribute``: divided by the replica count (``_unscaled``'s inverse)."""
    replicas = _replicas()
    return value / replicas if replicas > 1 else value


def uncertainty_weighted(model: keras.Model) -> UncertaintyWeightedModel:
    """The same functional graph (same layers, same weights) as an
    ``UncertaintyWeightedModel``; compile the returned model, not ``model``."""
    return UncertaintyWeightedModel(
        inputs=model.input, outputs=model.output, name=model.name
    )


class EffectiveWeightsLogger(keras.callbacks.Callback):
    """Add ``weight_<task>`` (= ``w_i * exp(-s_i)``) to every epoch's logs.

    Callbacks share one logs dict in list order, so this must come *before*
    ``DVCLiveCallback`` (and anything else that should see the weights) in
    ``callbacks=[...]``. On a model without uncertainty weighting it does nothing.
    """

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None or not isinstance(self.model, UncertaintyWeightedModel):
            return
        for name, weight in self.model.effective_weights().items():
            logs[f"weight_{name}"] = weight


class _Reduced(keras.losses.Loss):
    """A per-sample loss function reduced like Keras' compiled losses
    (``sum_over_batch_size``, sample weights honoured)."""

    def __init__(self, fn: Callable[..., Any], name: str) -> None:
        super().__init__(name=name)
        self.fn = fn

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return self.fn(y_true, y_pred)


def _task_losses(loss: Any, names: list[str]) -> dict[str, keras.losses.Loss]:
    """One reduced loss per task from ``compile``'s ``loss`` (a dict by task, or
    one identifier for all)."""
    by_task = loss if isinstance(loss, dict) else dict.fromkeys(names, loss)
    if set(by_task) != set(names):
        raise ValueError(
            f"loss keys {sorted(by_task)} must equal the task names {names}"
        )
    resolved = {}
    for name in names:
        fn = keras.losses.get(by_task[name])
        if fn is None:
            raise ValueError(f"task {name!r} has no loss")
        # keras.losses.get gives a bare per-sample function for strings
        # ("mse"); wrap it so it reduces to a scalar as the compiled loss does.
        resolved[name] = fn if isinstance(fn, keras.losses.Loss) else _Reduced(fn, name)
    return resolved


def _task_weights(loss_weights: Any, names: list[str]) -> dict[str, float]:
    if loss_weights is None:
        return dict.fromkeys(names, 1.0)
    if not isinstance(loss_weights, dict) or set(loss_weights) != set(names):
        raise ValueError(
            f"loss_weights must be a dict keyed by the task names {names}, "
            f"got {loss_weights!r}"
        )
    return {name: float(loss_weights[name]) for name in names}


def _task_sample_weight(sample_weight: Any, name: str) -> Any:
    # fit() passes sample weights either per output (a dict) or one for all.
    if isinstance(sample_weight, dict):
        return sample_weight.get(name)
    return sample_weight
