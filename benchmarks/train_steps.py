"""Helper (not a benchmark): a capped run of the train stage in the current dir.

Same loading, model and lazy datasets as stages/train.py, but ``model.fit`` stops
after ``--steps`` batches (the stage has no step cap) and validates on
``--val-steps`` batches. Prints one JSON line with its timings.
"""

from __future__ import annotations

import time

START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from mtlstm.config import load_params  # noqa: E402
from mtlstm.dataset import make_dataset  # noqa: E402
from mtlstm.io import load_npy, load_npz, read_json  # noqa: E402
from mtlstm.model import make_model, training_class_weights  # noqa: E402
from mtlstm.tf_setup import make_deterministic  # noqa: E402

WINDOWS, SPLIT = Path("data/windows"), Path("data/split")


class StepClock(keras.callbacks.Callback):
    """Wall-clock time at the end of every training batch."""

    def __init__(self) -> None:
        super().__init__()
        self.begin, self.ends = 0.0, []

    def on_train_begin(self, logs: Any = None) -> None:
        self.begin = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.ends.append(time.perf_counter())


def load() -> tuple[Any, dict[str, Any], dict[str, Any]]:
    params = load_params()
    bundle = read_json(WINDOWS / "preprocess.json")
    arrays = {
        "scaled": load_npy(WINDOWS / "scaled.npy", mmap=True),
        # Mapped as the stage maps them: read whole, they would add 8 bytes a
        # row (0.47 GB at M5 size) to the peak RSS the benchmarks report.
        "targets": load_npz(WINDOWS / "targets.npz", mmap=True),
        "train": load_npy(SPLIT / "train.npy"),
        "val": load_npy(SPLIT / "val.npy"),
    }
    return params, bundle, arrays


def first_batch_s(ds: Any) -> float:
    """Latency of the pipeline's first batch alone (shuffle buffer fill)."""
    start = time.perf_counter()
    next(iter(ds))
    return time.perf_counter() - start


def build(params: Any, bundle: dict[str, Any], arrays: dict[str, Any]) -> tuple:
    """The stage's model and its lazy train/val datasets."""
    cfg = params.train
    make_deterministic(params.base.seed)
    targets = arrays["targets"]
    # The stage's own model (make_model: uncertainty weighting, task losses,
    # balanced class weights from the training labels), not a bare trunk.
    weights = training_class_weights(cfg, bundle, targets, arrays["train"])
    model = make_model(cfg, bundle, arrays["scaled"].shape[1], weights)
    seeds = {"train": params.base.seed, "val": None}
    # As training.fit: the arrays as loaded (memory maps), never copied whole.
    datasets = {
        split: make_dataset(
            arrays["scaled"],
            targets,
            arrays[split],
            bundle,
            cfg.batch_size,
            shuffle_seed=seed,
        )
        for split, seed in seeds.items()
    }
    return model, datasets


def n_batches(windows: int, batch_size: int) -> int:
    return -(-windows // batch_size)


def main(steps: int, val_steps: int) -> dict[str, Any]:
    imported = time.perf_counter()
    params, bundle, arrays = load()
    model, datasets = build(params, bundle, arrays)
    probe = first_batch_s(datasets["train"])
    batch = params.train.batch_size
    steps = min(steps, n_batches(arrays["train"].size, batch))
    clock = StepClock()
    model.fit(
        datasets["train"],
        epochs=1,
        steps_per_epoch=steps,
        verbose=0,
        validation_data=datasets["val"],
        validation_steps=min(val_steps, n_batches(arrays["val"].size, batch)),
        callbacks=[clock],
        shuffle=False,  # as the stage: make_dataset already shuffles
    )
    done = time.perf_counter()
    steady = (clock.ends[-1] - clock.ends[0]) / max(1, len(clock.ends) - 1)
    return {
        "import_s": imported - START,
        "setup_s": clock.begin - imported - probe,
        "pipeline_first_batch_s": probe,
        "first_step_s": clock.ends[0] - clock.begin,
        "fit_s": done - clock.begin,
        "steps": steps,
        "batch_size": batch,
        "train_windows": int(arrays["train"].size),
        "steady_samples_per_s": batch / steady if steady > 0 else None,
        "total_s": done - START,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--val-steps", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps(main(args.steps, args.val_steps)), flush=True)
