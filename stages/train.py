"""Stage train: fit the multi-task LSTM on lazily gathered windows.

Writes models/model.keras and DVCLive curves per task under dvclive/.
"""

from pathlib import Path

from mtlstm.cli import run_stage
from mtlstm.config import load_params
from mtlstm.errors import ConfigError
from mtlstm.io import atomic_path, load_npy, load_npz, read_json
from mtlstm.tf_setup import make_deterministic

import keras  # isort: skip  (after tf_setup, which quiets TensorFlow's logs)
from dvclive import Live  # isort: skip
from dvclive.keras import DVCLiveCallback  # isort: skip

from mtlstm.dataset import make_dataset  # isort: skip
from mtlstm.model import build_model, compile_model  # isort: skip

WINDOWS = Path("data/windows")
SPLIT = Path("data/split")
OUT_MODEL = Path("models/model.keras")
LIVE_DIR = "dvclive"


def main() -> None:
    params = load_params()
    cfg = params.train
    bundle = read_json(WINDOWS / "preprocess.json")
    tasks = bundle["tasks"]
    check_weights(cfg.loss_weights, [t["name"] for t in tasks])
    make_deterministic(params.base.seed)
    scaled = load_npy(WINDOWS / "scaled.npy")
    targets = load_npz(WINDOWS / "targets.npz")
    train_ends, val_ends = load_npy(SPLIT / "train.npy"), load_npy(SPLIT / "val.npy")
    model = build_model(scaled.shape[1], bundle["lookback"], tasks, cfg.layers, cfg.dropout)
    compile_model(
        model, tasks, cfg.loss_weights, cfg.learning_rate, cfg.losses, cfg.metrics
    )
    train_ds = make_dataset(
        scaled, targets, train_ends, bundle, cfg.batch_size, params.base.seed
    )
    val_ds = make_dataset(scaled, targets, val_ends, bundle, cfg.batch_size)
    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=cfg.patience, restore_best_weights=True
    )
    live = Live(LIVE_DIR, dvcyaml=False, save_dvc_exp=False)
    print(f"train: {len(train_ends)} train / {len(val_ends)} val windows, {model.count_params()} weights")
    model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=cfg.epochs,
        callbacks=[stop, DVCLiveCallback(live=live)],
        shuffle=False,  # the dataset is already shuffled (seeded) by make_dataset
        verbose=2,
    )
    with atomic_path(OUT_MODEL, suffix=".keras") as tmp:
        model.save(tmp)


def check_weights(weights: dict[str, float], names: list[str]) -> None:
    """params.yaml and the windows on disk must agree on the task list."""
    if set(weights) != set(names):
        raise ConfigError(
            f"train.loss_weights has keys {sorted(weights)} but the windows were "
            f"built for tasks {sorted(names)}; make them equal and rerun"
        )


if __name__ == "__main__":
    run_stage("train", main)
