"""Which epoch's weights a training run keeps, and when it stops (``train.selection``).

``total`` is Keras' early stopping on the summed validation loss the model
minimises: ``val_loss``, or under uncertainty balancing the weighted total
``val_loss_uncertainty_weighted`` (mtlstm.balancing). Summing lets one task
decide for all: on the default data ``temp_class``'s validation loss turns up
after about a dozen epochs while ``demand``'s still falls, and the sum (with
uncertainty weights, which grow as a task's *training* loss shrinks) stops both.

``task_ratio`` looks at every task's own (unweighted) validation loss ``L_i(e)``:

- it stops once *no* task has improved its own best for ``patience`` epochs;
- it keeps the epoch ``e`` that minimises ``mean_i L_i(e) / min_e' L_i(e')``, the
  mean of each task's validation loss relative to that task's best epoch. It is
  scale free (a task's loss units do not matter) and equals 1 only when one epoch
  is best for every task. Ties go to the earlier epoch.

With one task both rules are the same: stop after ``patience`` epochs without
improvement and keep the best epoch. So single-task models (the ablation) train
identically under either.

Because the relative scores change as later epochs set new bests, the weights
of every epoch that could still win are kept: the epochs on the Pareto front of
the per-task losses (a dominated epoch never minimises a positive-weighted sum).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from mtlstm.balancing import WEIGHTED_LOSS, UncertaintyWeightedModel

SELECTIONS = ("total", "task_ratio")


def make_stopper(selection: str, task_names: list[str], patience: int):
    """The early-stopping callback for ``train.selection``."""
    if selection == "total":
        return TotalStopping(patience)
    if selection == "task_ratio":
        return TaskRatioStopping(task_names, patience)
    raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")


def ratio_scores(history: np.ndarray) -> np.ndarray:
    """Per epoch (rows), the mean over tasks (columns) of loss / the task's best."""
    history = np.asarray(history, dtype=np.float64)
    return np.mean(history / history.min(axis=0, keepdims=True), axis=1)


def dominated(losses: np.ndarray, other: np.ndarray) -> bool:
    """``other`` is at least as good on every task and better on one."""
    return bool(np.all(other <= losses) and np.any(other < losses))


class TotalStopping(keras.callbacks.EarlyStopping):
    """Early stopping on the validation total the model minimises: ``val_loss``,
    or ``val_loss_uncertainty_weighted`` for an ``UncertaintyWeightedModel``
    (whose ``val_loss`` logs the plain sum of the task losses)."""

    def __init__(self, patience: int) -> None:
        # mode: Keras infers "min" only for names ending in "loss".
        super().__init__(
            monitor="val_loss",
            mode="min",
            patience=patience,
            restore_best_weights=True,
        )

    def on_train_begin(self, logs: dict | None = None) -> None:
        if isinstance(self.model, UncertaintyWeightedModel):
            self.monitor = f"val_{WEIGHTED_LOSS}"
        super().on_train_begin(logs)


class TaskRatioStopping(keras.callbacks.EarlyStopping):
    """Early stopping on every task's own validation loss (see the module doc).

    Keeps ``EarlyStopping``'s attributes (``wait``, ``best``, ``best_epoch``,
    ``best_weights``) up to date, so it restores the chosen epoch's weights at
    the end of training exactly like ``restore_best_weights=True``.
    """

    def __init__(self, task_names: list[str], patience: int) -> None:
        super().__init__(
            monitor="val_loss", patience=patience, restore_best_weights=True
        )
        self.task_names = list(task_names)
        self._reset()

    def _reset(self) -> None:
        self.history: list[list[float]] = []  # per epoch, per task
        self.candidates: dict[int, list[np.ndarray]] = {}  # epoch -> weights

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        self._reset()

    def task_losses(self, logs: dict) -> list[float]:
        out = []
        for name in self.task_names:
            key = f"val_{name}_loss"
            if key not in logs and len(self.task_names) == 1:
                key = "val_loss"  # a one-head model may log only the total
            if key not in logs:
                raise ValueError(
                    f"train.selection task_ratio needs {key!r} in the epoch logs; "
                    f"got {sorted(logs)}"
                )
            out.append(float(logs[key]))
        return out

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        losses = np.asarray(self.task_losses(logs or {}))
        past = np.asarray(self.history) if self.history else None
        improved = past is None or bool(np.any(losses < past.min(axis=0)))
        self.history.append(losses.tolist())
        self._update_candidates(epoch, losses)
        scores = ratio_scores(np.asarray(self.history))
        chosen = min(self.candidates, key=lambda e: (scores[e], e))
        self.best, self.best_epoch = float(scores[chosen]), chosen
        self.best_weights = self.candidates[chosen]
        # As EarlyStopping: an improving epoch never stops training.
        self.wait = 0 if improved else self.wait + 1
        if not improved and self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def _update_candidates(self, epoch: int, losses: np.ndarray) -> None:
        history = np.asarray(self.history)
        if any(np.all(history[e] <= losses) for e in self.candidates):
            return  # an earlier epoch is as good on every task: it wins ties
        for e in [e for e in self.candidates if dominated(history[e], losses)]:
            del self.candidates[e]
        self.candidates[epoch] = self.model.get_weights()

    # What a resumed run needs (see mtlstm.resume.EpochCheckpoint).
    def resume_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {
            "wait": int(self.wait),
            "history": self.history,
            "candidates": sorted(self.candidates),
        }
        arrays = {
            f"e{epoch}_w{i}": np.asarray(w)
            for epoch, weights in self.candidates.items()
            for i, w in enumerate(weights)
        }
        return meta, arrays

    def load_resume_state(self, meta: dict[str, Any], arrays: Any) -> None:
        self.wait, self.history = int(meta["wait"]), [list(h) for h in meta["history"]]
        self.candidates = {}
        for epoch in meta["candidates"]:
            n = sum(1 for k in arrays if k.startswith(f"e{epoch}_w"))
            self.candidates[int(epoch)] = [arrays[f"e{epoch}_w{i}"] for i in range(n)]
        if self.history:
            scores = ratio_scores(np.asarray(self.history))
            chosen = min(self.candidates, key=lambda e: (scores[e], e))
            self.best, self.best_epoch = float(scores[chosen]), chosen
            self.best_weights = self.candidates[chosen]
