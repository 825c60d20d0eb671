"""Stage split: chronological train/val/test window indices with purged boundaries."""

from pathlib import Path

import numpy as np

from mtlstm.config import load_params
from mtlstm.errors import run_stage
from mtlstm.io import load_npy, read_json, write_json, write_npy
from mtlstm.split import SPLITS, row_bounds, split_windows

WINDOWS = Path("data/windows")
OUT = Path("data/split")


def main() -> None:
    cfg = load_params().split
    bundle = read_json(WINDOWS / "preprocess.json")
    ends = load_npy(WINDOWS / "ends.npy")
    times = load_npy(WINDOWS / "times.npy").view("datetime64[ns]")
    lookback, horizon, n_rows = (
        bundle["lookback"],
        bundle["max_horizon"],
        bundle["n_rows"],
    )
    parts = split_windows(ends, n_rows, lookback, horizon, cfg.train, cfg.val)
    for name in SPLITS:
        write_npy(OUT / f"{name}.npy", parts[name])
    summary = {
        "row_bounds": dict(
            zip(
                ("train_end", "val_end"),
                row_bounds(n_rows, cfg.train, cfg.val),
                strict=True,
            )
        ),
        "windows": len(ends),
        "purged": int(len(ends) - sum(p.size for p in parts.values())),
        **{name: describe(parts[name], times, lookback, horizon) for name in SPLITS},
    }
    write_json(OUT / "summary.json", summary)
    counts = ", ".join(f"{n} {parts[n].size}" for n in SPLITS)
    print(f"split: {counts} windows; {summary['purged']} purged at boundaries")


def describe(ends: np.ndarray, times: np.ndarray, lookback: int, horizon: int) -> dict:
    """Count and the time span a split's windows read, inputs and targets included."""
    return {
        "windows": int(ends.size),
        "first_input": str(times[ends[0] - lookback + 1]),
        "last_target": str(times[ends[-1] + horizon]),
    }


if __name__ == "__main__":
    run_stage("split", main)
