"""Fit the model: seeded shuffling, early stopping, per-task curves to DVCLive."""

from __future__ import annotations

from typing import Any

import keras
from dvclive import Live
from dvclive.keras import DVCLiveCallback

from mtlstm.config import Train
from mtlstm.dataset import make_dataset


def fit(
    model: keras.Model,
    cfg: Train,
    seed: int,
    arrays: dict[str, Any],
    bundle: dict[str, Any],
    live_dir: str,
) -> keras.callbacks.History:
    """Train on ``arrays['train']`` ends, early-stop on ``arrays['val']`` ends.

    ``arrays`` holds ``scaled`` (N x F), ``targets`` ({task: per-row values}),
    ``train`` and ``val`` (window end rows).
    """
    scaled, targets = arrays["scaled"], arrays["targets"]
    train_ds = make_dataset(
        scaled, targets, arrays["train"], bundle, cfg.batch_size, shuffle_seed=seed
    )
    val_ds = make_dataset(scaled, targets, arrays["val"], bundle, cfg.batch_size)
    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=cfg.patience, restore_best_weights=True
    )
    # dvcyaml=False: dvc.yaml is ours, DVCLive must not rewrite it.
    live = Live(live_dir, dvcyaml=False, save_dvc_exp=False)
    return model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=cfg.epochs,
        callbacks=[stop, DVCLiveCallback(live=live)],
        shuffle=False,  # make_dataset already shuffles, seeded
        verbose=2,  # one progress line per epoch
    )
