"""Fit the model: epoch-keyed shuffling, early stopping, resumable, per-task
curves to DVCLive."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf
from dvclive import Live
from dvclive.keras import DVCLiveCallback
from tqdm import tqdm

from mtlstm import resume
from mtlstm.balancing import EffectiveWeightsLogger
from mtlstm.config import Train
from mtlstm.dataset import make_dataset, steps_per_epoch
from mtlstm.distribute import (
    global_batch_size,
    is_chief,
    shard_dataset,
    workers_agree,
)
from mtlstm.selection import EpochSnapshots, make_stopper
from mtlstm.tf_setup import make_deterministic


def fit(
    model: keras.Model,
    cfg: Train,
    seed: int,
    arrays: dict[str, Any],
    bundle: dict[str, Any],
    dirs: dict[str, Path],
    fingerprint: str,
    strategy: tf.distribute.Strategy | None = None,
    extra: list[keras.callbacks.Callback] | None = None,
    label: str = "train",
) -> tuple[keras.Model, EpochSnapshots | None]:
    """Train on ``arrays['train']`` ends, early-stop on ``arrays['val']`` ends.

    ``arrays`` holds ``scaled`` (N x F), ``targets`` ({task: per-row values}),
    ``train`` and ``val`` (window end rows), and ``series`` (per-row series
    codes) when the model embeds them; ``dirs`` the ``live`` (DVCLive, or
    None for no curves) and ``resume`` directories. Returns the trained model
    (a resumed run continues from the saved one, so use the returned model)
    and, with ``train.checkpoint_average`` > 1, the run's ``EpochSnapshots``
    (every epoch's weights, ranked by the selection rule), else None.

    Under a ``tf.distribute`` strategy ``cfg.batch_size`` is per replica: a step
    takes ``batch_size x replicas`` windows. Only the chief writes checkpoints
    and curves; every worker restores and early-stops alike, or they would hang.
    ``extra`` callbacks run after the others (e.g. to trace every epoch).
    ``label`` starts the progress bar and the summary line (EpochProgress).
    """
    strategy = strategy or tf.distribute.get_strategy()
    chief = is_chief(strategy)
    # The checkpoint holds the stopper's state in its selection rule's format:
    # never resume one the other rule wrote, even for a caller whose fingerprint
    # leaves the rule out (ablation: one task trains alike under either).
    fingerprint = f"{fingerprint}:{cfg.selection}"
    if not workers_agree(strategy, resume.saved_epochs(dirs["resume"], fingerprint)):
        # Only the chief writes checkpoints: a worker on another host has none,
        # and a model loaded by some workers only breaks the collectives (an
        # opaque "Collective instance ... expected type" error). Start over.
        print(
            f"{label}: the workers' checkpoints differ (only the chief writes "
            f"them; {dirs['resume']} is not shared): training from the start"
        )
        resume.clear(dirs["resume"])
    with strategy.scope():  # a model loaded outside would train on one device
        saved, state = resume.load(dirs["resume"], fingerprint)
    model = saved or model
    first = _first_epoch(state, cfg.epochs)
    # The epochs the run trained: a stopped run's first is cfg.epochs.
    done = state["epochs_done"] if state else 0
    if state:
        # Named by the run's label (ablation, a backtest fold, an ensemble
        # member); tqdm.write keeps an outer bar (backtest's folds) intact.
        tqdm.write(
            f"{label}: resuming after epoch {state['epochs_done']} of {cfg.epochs}"
        )
    scaled, targets = arrays["scaled"], arrays["targets"]
    train, batch = arrays["train"], global_batch_size(cfg.batch_size, strategy)
    # train.shard: series: this worker's SeriesShard (arrays of its series only,
    # from mtlstm.distribute.load_series_shard); None: shard every batch by data.
    shard = arrays.get("shard")
    train_ds = shard_dataset(
        make_dataset(
            scaled,
            targets,
            train,
            bundle,
            batch,
            seed,
            (first, cfg.epochs),
            series=arrays.get("series"),
            per_epoch=shard.train_windows if shard else None,
        ),
        shard,
    )
    val_ds = shard_dataset(
        make_dataset(
            scaled, targets, arrays["val"], bundle, batch, series=arrays.get("series")
        ),
        shard,
        validation=True,
    )
    steps = shard.steps(batch) if shard else steps_per_epoch(len(train), batch)
    names = [t["name"] for t in bundle["tasks"]]
    stop = make_stopper(cfg.selection, names, cfg.patience)
    live_dir = dirs.get("live") if chief else None
    checkpoint = resume.EpochCheckpoint(
        dirs["resume"], fingerprint, stop, state, writer=chief, live_dir=live_dir
    )
    # The log namers must come before DVCLive, which reads the same logs;
    # DVCLive before the checkpoint, which saves DVCLive's files with the epoch.
    callbacks = [EffectiveWeightsLogger(), stop]
    if len(names) == 1:
        callbacks.insert(0, OneHeadLossLog(names[0]))
    callbacks[:0] = schedule_callbacks(model, cfg, steps)
    if live_dir is not None:
        if state:  # DVC removed them before the run: the checkpoint has them
            resume.restore_live(dirs["resume"], state, live_dir)
        callbacks.append(_live_callback(live_dir, done))
    if chief:
        stopped = bool(state and state["stopped"])
        callbacks.append(EpochProgress(label, cfg.epochs, done, stopped))
    snapshots = None
    if cfg.checkpoint_average > 1:  # before the checkpoint: see EpochSnapshots
        snapshots = EpochSnapshots(stop, dirs["resume"], done, writer=chief)
        callbacks.append(snapshots)
    callbacks += [checkpoint, *(extra or [])]
    model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=cfg.epochs,
        initial_epoch=first,
        steps_per_epoch=steps,
        validation_steps=shard.steps(batch, "val") if shard else None,
        callbacks=callbacks,
        shuffle=False,  # make_dataset already shuffles, keyed by (seed, epoch)
        verbose=0,  # EpochProgress: a bar on a terminal, one line in a log
    )
    return model, snapshots


def fit_members(*args: Any, **kwargs: Any) -> list[keras.Model]:
    """``fit_member_groups``, flattened. Their flat mean is the saved model only
    when every group has as many models: the stages average the groups
    (``mtlstm.model.average_groups``)."""
    return [model for group in fit_member_groups(*args, **kwargs) for model in group]


def fit_member_groups(
    build: Callable[[int], keras.Model],
    cfg: Train,
    seed: int,
    arrays: dict[str, Any],
    bundle: dict[str, Any],
    dirs: dict[str, Path],
    fingerprint: str,
    strategy: tf.distribute.Strategy | None = None,
    extra: list[keras.callbacks.Callback] | None = None,
    label: str = "train",
    build_checkpoint: Callable[[int], keras.Model] | None = None,
) -> list[list[keras.Model]]:
    """``train.ensemble`` models, each built by ``build(i)`` and trained by
    ``fit`` with seed ``seed + i`` (weights and shuffling) on the same data and
    budget; one group per member, the trained model first.

    Member 0 is exactly the single model of ``train.ensemble: 1`` (same seed,
    same ``dirs``, same fingerprint). The others write no curves (DVCLive and
    plots/training.csv show member 0) and checkpoint under ``dirs['resume'] /
    .member-<i>``: a dot-name survives member 0's checkpoint clean-up, and
    clearing ``dirs['resume']`` clears them all. A killed run resumes member
    by member: finished members are restored, not retrained.

    ``train.checkpoint_average`` K > 1: each group also holds the weights of
    the member's next K - 1 best epochs by the selection rule, each in a model
    of its own from ``build_checkpoint(i)`` (default ``build``). A ``build``
    that returns an existing model to train further (backtest refit) needs a
    ``build_checkpoint`` that makes a new one: setting a checkpoint's weights
    on the trained model itself would overwrite it."""
    strategy = strategy or tf.distribute.get_strategy()
    build_checkpoint = build_checkpoint or build
    n, groups = cfg.ensemble, []
    for i in range(n):
        make_deterministic(seed + i)  # before build: it draws the initial weights
        with strategy.scope():
            model = build(i)
        member_dirs = dirs
        if i:
            resume_dir = Path(dirs["resume"]) / f".member-{i}"
            member_dirs = {"live": None, "resume": resume_dir}
        name = label if n == 1 else f"{label} member {i + 1}/{n}"
        stamp = fingerprint if i == 0 else f"{fingerprint}-member-{i}"
        model, snapshots = fit(
            model,
            cfg,
            seed + i,
            arrays,
            bundle,
            member_dirs,
            stamp,
            strategy,
            extra,
            name,
        )
        group = [model]
        if snapshots is not None:
            for weights in snapshots.best(cfg.checkpoint_average)[1:]:
                with strategy.scope():
                    checkpoint = build_checkpoint(i)  # the same layers, new weights
                checkpoint.set_weights(weights)
                group.append(checkpoint)
        groups.append(group)
    return groups


def schedule_callbacks(model: keras.Model, cfg: Train, steps: int) -> list:
    """The callbacks of ``train.ema_momentum`` (``EmaOverwrite``, after each
    epoch's ``steps`` steps) and ``train.lr_schedule`` (the cosine), in that
    order, for ``model``'s fit: every fit of a ``train.*`` configuration takes
    them (``fit``; scripts/refit_nested.py's refit), or it trains another one."""
    callbacks: list = []
    if getattr(model.optimizer, "use_ema", False):
        # train.ema_momentum: the average replaces the weights at each epoch's
        # last step (EmaOverwrite). Not by the optimizer's ema_overwrite_frequency:
        # it counts the optimizer's own iterations, which a warm-started model
        # (backtest refit) carries on from its last fit, whose epochs had
        # another step count; and a traced train function keeps its frequency.
        model.optimizer.ema_overwrite_frequency = None
        callbacks.append(EmaOverwrite(steps))
    if cfg.lr_schedule == "cosine":
        callbacks.append(cosine_schedule(cfg.learning_rate, cfg.epochs))
    return callbacks


class EmaOverwrite(keras.callbacks.Callback):
    """``train.ema_momentum``: after the last of an epoch's ``steps`` steps,
    before validation, replace the weights by the optimizer's moving average,
    so validation, early stopping and the checkpoints see the averaged ones."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if batch == self.steps - 1:
            self.model.optimizer.finalize_variable_values(
                self.model.trainable_variables
            )


class OneHeadLossLog(keras.callbacks.Callback):
    """Name a one-head model's logs by its task, as a model with several heads
    names them: add ``<task>_loss`` and ``val_<task>_loss``, and log each
    compiled metric as ``<task>_<metric>`` (``demand_mae``, not ``mae``).

    Keras names each head's loss and metrics in the logs only when there are
    several heads; with one it logs the total, ``loss`` (the task's loss times
    its loss weight), and the bare metric names. The curves
    (``plots.training_curves``), DVCLive and the selection rule read a task's
    loss by its name, whatever the task count, and a metric named by its task
    says which task it is in ``dvc metrics show`` and ``dvc plots show``.
    """

    def __init__(self, task: str) -> None:
        super().__init__()
        self.task, self.weight = task, 1.0
        self.metrics: list[str] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        config = self.model.get_compile_config()
        # The weight the model was compiled with (the single-task models of
        # the ablation use 1, whatever train.loss_weights says).
        weights = config.get("loss_weights")
        if isinstance(weights, dict):
            self.weight = float(weights.get(self.task, 1.0))
        metrics = config.get("metrics")
        if isinstance(metrics, dict):  # compile_model: {task: [names]}
            self.metrics = [m for m in metrics.get(self.task, []) if isinstance(m, str)]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None:
            return
        for prefix in ("", "val_"):
            total = logs.get(f"{prefix}loss")
            if total is not None and self.weight > 0:  # config refuses weight 0
                logs.setdefault(f"{prefix}{self.task}_loss", total / self.weight)
            for metric in self.metrics:
                # Renamed in place: later callbacks (DVCLive, History) see
                # only the task's name.
                if f"{prefix}{metric}" in logs:
                    value = logs.pop(f"{prefix}{metric}")
                    logs[f"{prefix}{self.task}_{metric}"] = value


class EpochProgress(keras.callbacks.Callback):
    """Progress over the epochs: a tqdm bar with the latest loss and val_loss
    while a terminal watches (tqdm's ``disable=None``: no bar when stderr is
    not a TTY, as in CI logs), then one summary line on stdout.

    ``first``: the epochs done before (a resumed run); ``stopped``: whether
    those ended in an early stop (a resumed stopped run trains no more, and
    its summary must say where it stopped, not count to ``epochs``)."""

    def __init__(
        self, label: str, epochs: int, first: int, stopped: bool = False
    ) -> None:
        super().__init__()
        self.label, self.epochs, self.done = label, epochs, first
        self.stopped = stopped
        self.logs: dict[str, float] = {}
        self.bar: tqdm | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.bar = tqdm(
            total=self.epochs,
            initial=self.done,
            desc=self.label,
            unit="epoch",
            leave=False,
            disable=None,
            dynamic_ncols=True,
            # Redraw at every epoch (seconds apart): tqdm's default 0.1 s
            # throttle could skip the last epochs of a fast run entirely.
            mininterval=0,
            miniters=1,
        )

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.done, self.logs = epoch + 1, dict(logs or {})
        self.bar.set_postfix(self.shown(), refresh=False)
        self.bar.update(1)

    def on_train_end(self, logs: dict | None = None) -> None:
        self.bar.close()
        ended_early = self.stopped or self.model.stop_training
        stopped = " (stopped early)" if ended_early else ""
        scores = "".join(f", {k} {v}" for k, v in self.shown().items())
        # tqdm.write: an outer bar (backtest's folds) stays intact.
        tqdm.write(f"{self.label}: epoch {self.done} of {self.epochs}{stopped}{scores}")

    def shown(self) -> dict[str, str]:
        keys = ("loss", "val_loss")
        return {k: f"{float(self.logs[k]):.4g}" for k in keys if k in self.logs}


def cosine_learning_rate(epoch: int, base: float, epochs: int) -> float:
    """Epoch ``epoch``'s rate under ``train.lr_schedule: cosine``: ``base`` at
    epoch 0, then along half a cosine towards 0 (reached at epoch ``epochs``)."""
    return float(base * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs)))


def cosine_schedule(base: float, epochs: int) -> keras.callbacks.Callback:
    # Set per epoch from the epoch index alone: a resumed run gets the same rates.
    return keras.callbacks.LearningRateScheduler(
        lambda epoch, _lr: cosine_learning_rate(epoch, base, epochs)
    )


def _live_callback(live_dir: Path, done: int) -> DVCLiveCallback:
    """DVCLive's callback; ``done``: the epochs a resumed run has logged already."""
    # dvcyaml=False: dvc.yaml is ours. resume: keep the curves of earlier epochs.
    live = Live(str(live_dir), dvcyaml=False, save_dvc_exp=False, resume=done > 0)
    if done:
        # The next epoch's step, set here: DVCLive resumes at its saved step + 1,
        # but takes a saved step 0 (one epoch done) for nothing logged, and would
        # log the second epoch as step 0 again. (A stopped run logs no more; its
        # end puts back the saved step.)
        live.step = done
    return DVCLiveCallback(live=live)


def _first_epoch(state: dict | None, epochs: int) -> int:
    if not state:
        return 0
    return epochs if state["stopped"] else min(state["epochs_done"], epochs)
