"""Stage baselines: reference forecasters on exactly the model's test windows.

Persistence, seasonal naive and gradient boosting on lag features (regression);
majority class, persistence and gradient boosting (classification). Fitted on
the train split only. Writes metrics/baselines.json ({task: {baseline: {metric:
value}}}). Its own stage, so a loss-weight change never refits them.
"""

from pathlib import Path

import pandas as pd

from mtlstm import grid
from mtlstm.baselines import score_baselines
from mtlstm.config import load_params
from mtlstm.errors import run_stage
from mtlstm.io import load_npy, load_npz, read_json, write_json

WINDOWS = Path("data/windows")
SPLIT = Path("data/split")
OUT = Path("metrics/baselines.json")


def main() -> None:
    params = load_params()
    bundle = read_json(WINDOWS / "preprocess.json")
    splits = {name: load_npy(SPLIT / f"{name}.npy") for name in ("train", "test")}
    times = pd.to_datetime(load_npy(WINDOWS / "times.npy"), utc=True)
    # Grid steps since the first row: the seasonal value is one season earlier
    # in time, which after a dropped long gap is not one season earlier in rows.
    positions = grid.positions(times, bundle["ingest"]["freq"], bundle["timezone"])
    scores = score_baselines(
        bundle,
        load_npy(WINDOWS / "scaled.npy"),
        load_npz(WINDOWS / "targets.npz"),
        splits,
        season=params.baselines.season,
        seed=params.base.seed,
        positions=positions,
    )
    write_json(OUT, scores)
    for task, by_name in scores.items():
        shown = ", ".join(
            f"{name} {next(iter(s.values())):.4g}" for name, s in by_name.items()
        )
        print(f"baselines: {task}: {shown}")


if __name__ == "__main__":
    run_stage("baselines", main)
