"""Stage train: fit the multi-task LSTM on lazily gathered windows.

Writes models/model.keras, models/preprocess.json (the scalers, encoders and
schema it was trained with, for `mtlstm predict`) and per-task training curves
under dvclive/. With train.ensemble N > 1 it trains N models (seeds base.seed,
base.seed + 1, ...) and saves one that averages their heads; the curves are the
first member's.
"""

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd

from mtlstm import plots, resume
from mtlstm.config import load_params
from mtlstm.distribute import is_chief, load_series_shard, make_strategy
from mtlstm.errors import ConfigError, run_stage
from mtlstm.io import (
    load_npy,
    load_npz,
    load_series,
    read_json,
    write_csv,
    write_json,
)
from mtlstm.model import (
    average_groups,
    embeds_series,
    make_model,
    training_class_weights,
)
from mtlstm.tf_setup import make_deterministic, save_model
from mtlstm.training import fit_member_groups

WINDOWS = Path("data/windows")
SPLIT = Path("data/split")
OUT_MODEL = Path("models/model.keras")
OUT_BUNDLE = Path("models/preprocess.json")
OUT_CURVES = Path("plots/training.csv")
LIVE_DIR = Path("dvclive")
# Not a DVC output: DVC would delete it before a rerun, and it must survive a kill.
RESUME_DIR = Path("models/.resume")
INPUTS = [
    WINDOWS / "scaled.npy",
    WINDOWS / "targets.npz",
    WINDOWS / "preprocess.json",
    SPLIT / "train.npy",
    SPLIT / "val.npy",
]


def main() -> None:
    params = load_params()
    cfg = params.train
    # Before any TensorFlow op: multi-worker collectives are set up at start-up.
    strategy = make_strategy(cfg.distribute)
    bundle = read_json(WINDOWS / "preprocess.json")
    check_weights(cfg.loss_weights, [t["name"] for t in bundle["tasks"]])
    make_deterministic(params.base.seed)
    if cfg.shard == "series":  # this worker's series only (mtlstm.distribute)
        arrays, weights = load_series_shard(WINDOWS, SPLIT, bundle, strategy, cfg)
        print(f"train: {arrays['shard'].describe()}")
    else:
        # The matrix memory-mapped: batches read only their rows (mtlstm.dataset).
        # The ends (8 bytes a window) are read whole: a map would fault a page
        # for nearly every window of a shuffled batch.
        arrays = {
            "scaled": load_npy(WINDOWS / "scaled.npy", mmap=True),
            "targets": load_npz(WINDOWS / "targets.npz", mmap=True),
            "train": load_npy(SPLIT / "train.npy"),
            "val": load_npy(SPLIT / "val.npy"),
        }
        if embeds_series(cfg):
            arrays["series"] = load_series(WINDOWS, bundle)
        weights = training_class_weights(
            cfg, bundle, arrays["targets"], arrays["train"]
        )

    # Any, not keras.Model: importing keras before mtlstm would let TensorFlow's
    # start-up lines through (mtlstm's import hides them).
    def new_model(_member: int) -> Any:
        return make_model(cfg, bundle, arrays["scaled"].shape[1], weights)

    def build(member: int) -> Any:
        model = new_model(member)
        if member == 0:  # once: not again for each checkpoint (new_model)
            members = f" x {cfg.ensemble} members" if cfg.ensemble > 1 else ""
            print(
                f"train: {arrays['train'].size} train / {arrays['val'].size} val "
                f"windows, {model.count_params()} weights{members}, up to "
                f"{cfg.epochs} epochs, {strategy.num_replicas_in_sync} replica(s)"
            )
        return model

    settings = {
        "train": dataclasses.asdict(cfg),
        "seed": params.base.seed,
        "replicas": strategy.num_replicas_in_sync,  # changes the global batch
    }
    fingerprint = resume.fingerprint(settings, INPUTS)
    dirs = {"live": LIVE_DIR, "resume": RESUME_DIR}
    groups = fit_member_groups(
        build,
        cfg,
        params.base.seed,
        arrays,
        bundle,
        dirs,
        fingerprint,
        strategy,
        build_checkpoint=new_model,
    )
    if is_chief(strategy):
        with strategy.scope():
            model = average_groups(groups)
        save_outputs(model, bundle)
        remove_stale_single_task(bundle)


def remove_stale_single_task(bundle: dict) -> None:
    """Delete the checkpoints a killed ablation left for a task no longer
    declared: no ablation stage resumes from them any more. Here, as train is
    the stage that reads every task (an ablation reads its own task only)."""
    folder = RESUME_DIR.parent
    keep = {resume.single_task_dir(folder, t["name"]) for t in bundle["tasks"]}
    for path in resume.remove_stale(folder, resume.SINGLE_TASK_PREFIX, keep):
        print(f"train: removed {path}: no declared task's ablation resumes from it")


def save_outputs(model, bundle: dict) -> None:
    """The model, the preprocessing it was trained with, and its curves (read
    first: a failure to read them must not leave a model behind)."""
    curves = [plots.training_curves(LIVE_DIR, task) for task in bundle["tasks"]]
    save_model(model, OUT_MODEL)
    write_json(OUT_BUNDLE, bundle)
    write_csv(OUT_CURVES, pd.concat(curves, ignore_index=True))
    resume.clear(RESUME_DIR)


def check_weights(weights: dict[str, float], names: list[str]) -> None:
    """params.yaml and the windows on disk must agree on the task list."""
    if set(weights) != set(names):
        raise ConfigError(
            f"train.loss_weights has keys {sorted(weights)} but the windows were "
            f"built for tasks {sorted(names)}; make them equal and rerun"
        )


if __name__ == "__main__":
    run_stage("train", main)
