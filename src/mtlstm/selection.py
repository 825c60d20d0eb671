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

from pathlib import Path
from typing import Any

import keras
import numpy as np

from mtlstm.balancing import WEIGHTED_LOSS, UncertaintyWeightedModel
from mtlstm.io import atomic_path

SELECTIONS = ("total", "task_ratio")


def make_stopper(selection: str, task_names: list[str], patience: int):
    """The early-stopping callback for ``train.selection``."""
    if selection == "total":
        return TotalStopping(patience)
    if selection == "task_ratio":
        return TaskRatioStopping(task_names, patience)
    raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")


def ratio_scores(history: np.ndarray) -> np.ndarray:
    """Per epoch (rows), the mean over tasks (columns) of loss / the task's best.

    An epoch with a non-finite loss (a diverged run: NaN weights) scores inf and
    leaves the tasks' bests to the finite epochs, as Keras' EarlyStopping never
    counts a NaN as an improvement: else one NaN made every score NaN, and the
    epoch kept was whichever candidate came first."""
    history = np.asarray(history, dtype=np.float64)
    finite = np.isfinite(history).all(axis=1)
    if finite.all():  # the usual case, computed exactly as ever
        return np.mean(history / history.min(axis=0, keepdims=True), axis=1)
    scores = np.full(len(history), np.inf)
    if finite.any():
        kept = history[finite]
        scores[finite] = np.mean(kept / kept.min(axis=0, keepdims=True), axis=1)
    return scores


def finite_scores(scores: np.ndarray) -> np.ndarray:
    """``scores`` with NaN as inf: ranked last, as a NaN never improves."""
    scores = np.asarray(scores, dtype=np.float64)
    return np.where(np.isnan(scores), np.inf, scores)


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
        improved = _improves(losses, self.history)
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
        if self.candidates and not np.isfinite(losses).all():
            return  # a diverged epoch is never kept while another epoch is
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


class EpochSnapshots(keras.callbacks.Callback):
    """``train.checkpoint_average`` K > 1: every epoch's weights and the
    validation loss(es) the stopper ranks epochs by, so that the K best epochs
    by the run's own selection rule can be averaged afterwards (``best``): an
    ensemble of one run's checkpoints, with no extra training.

    Ranked as the stopper chooses: ``total`` by the monitored validation total,
    ``task_ratio`` by ``ratio_scores`` of the per-task losses over the whole run
    (so the best is the epoch the stopper keeps); ties go to the earlier epoch.
    With ``directory`` (the resume folder) each epoch is also written to
    ``directory/.snapshots/epoch-<e>.npz`` (a dot-name survives the checkpoint's
    clean-up) by the ``writer``, and a run resumed at epoch ``first`` reads the
    earlier ones back, so it ranks the same epochs as an uninterrupted run.
    Must come before ``mtlstm.resume.EpochCheckpoint`` in the callbacks."""

    def __init__(
        self,
        stopper: keras.callbacks.EarlyStopping,
        directory: Path | None = None,
        first: int = 0,
        writer: bool = True,
    ) -> None:
        super().__init__()
        self.stopper, self.first, self.writer = stopper, first, writer
        self.directory = None if directory is None else Path(directory) / ".snapshots"
        self.weights: dict[int, list[np.ndarray]] = {}
        self.losses: dict[int, list[float]] = {}

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.weights, self.losses = {}, {}
        for epoch in range(self.first):
            path = None if self.directory is None else self._path(epoch)
            if path is None or not path.is_file():
                raise RuntimeError(
                    f"train.checkpoint_average: the weights of epoch {epoch + 1}, "
                    f"needed to resume after epoch {self.first}, are missing "
                    f"({path}); delete the resume folder to train from the start"
                )
            with np.load(path) as saved:
                n = len(saved.files) - 1
                self.losses[epoch] = saved["losses"].tolist()
                self.weights[epoch] = [saved[f"w{i}"] for i in range(n)]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if isinstance(self.stopper, TaskRatioStopping):
            losses = self.stopper.task_losses(logs)
        else:
            losses = [float(logs[self.stopper.monitor])]
        self.losses[epoch] = losses
        self.weights[epoch] = [np.asarray(w) for w in self.model.get_weights()]
        if self.directory is not None and self.writer:
            self.directory.mkdir(parents=True, exist_ok=True)
            arrays = {f"w{i}": w for i, w in enumerate(self.weights[epoch])}
            with atomic_path(self._path(epoch), suffix=".npz") as tmp:
                np.savez(tmp, losses=np.asarray(losses), **arrays)

    def _path(self, epoch: int) -> Path:
        return self.directory / f"epoch-{epoch}.npz"

    def ranked(self) -> list[int]:
        """The epochs (0-based), best first."""
        epochs = sorted(self.losses)
        history = np.asarray([self.losses[e] for e in epochs], dtype=np.float64)
        if isinstance(self.stopper, TaskRatioStopping):
            scores = ratio_scores(history)
        else:
            scores = finite_scores(history[:, 0])
        return [epochs[i] for i in sorted(range(len(epochs)), key=lambda i: scores[i])]

    def best(self, k: int) -> list[list[np.ndarray]]:
        """The weights of the ``k`` best epochs (fewer if the run had fewer):
        the kept epoch first, then only epochs with finite losses (a diverged
        epoch's NaN weights would make every forecast of the mean NaN)."""
        ranked = self.ranked()
        finite = [e for e in ranked[1:] if np.isfinite(self.losses[e]).all()]
        return [self.weights[e] for e in (ranked[:1] + finite)[:k]]


def _improves(losses: np.ndarray, history: list[list[float]]) -> bool:
    """Whether some task's loss beats its best over the finite past epochs
    (a NaN epoch neither improves nor hides a later improvement)."""
    if not np.isfinite(losses).all():
        return not history  # the first epoch starts the count, as in Keras
    past = np.asarray(history, dtype=np.float64).reshape(-1, len(losses))
    past = past[np.isfinite(past).all(axis=1)]
    return past.size == 0 or bool(np.any(losses < past.min(axis=0)))
