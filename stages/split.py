"""Stage split: chronological train/val/test window indices with purged boundaries."""

from pathlib import Path

import numpy as np

from mtlstm.config import load_params
from mtlstm.errors import run_stage
from mtlstm.io import load_npy, read_json, write_json, write_npy
from mtlstm.split import SPLITS, row_bounds, split_windows_by_time, time_cuts

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
    # One cut in time for every series: for one series, exactly the row cut.
    stamps = times.view(np.int64)
    parts = split_windows_by_time(ends, stamps, lookback, horizon, cfg.train, cfg.val)
    for name in SPLITS:
        write_npy(OUT / f"{name}.npy", parts[name])
    if "series" in bundle:
        cuts = time_cuts(stamps, cfg.train, cfg.val)
        bounds = {
            "time_bounds": {
                key: str(np.datetime64(t, "ns")) if t < np.iinfo(np.int64).max else None
                for key, t in zip(("val_from", "test_from"), cuts, strict=True)
            },
            "series": len(bundle["series"]["names"]),
        }
    else:
        bounds = {
            "row_bounds": dict(
                zip(
                    ("train_end", "val_end"),
                    row_bounds(n_rows, cfg.train, cfg.val),
                    strict=True,
                )
            )
        }
    summary = {
        **bounds,
        "windows": len(ends),
        "purged": int(len(ends) - sum(p.size for p in parts.values())),
        **{name: describe(parts[name], times, lookback, horizon) for name in SPLITS},
    }
    write_json(OUT / "summary.json", summary)
    counts = ", ".join(f"{n} {parts[n].size}" for n in SPLITS)
    print(f"split: {counts} windows; {summary['purged']} purged at boundaries")


def describe(ends: np.ndarray, times: np.ndarray, lookback: int, horizon: int) -> dict:
    """Count and the time span a split's windows read, inputs and targets included."""
    # Rows are sorted by (series, time): the earliest input and the latest
    # target of any window (for one series, the first and last window's).
    return {
        "windows": int(ends.size),
        "first_input": str(times[ends - lookback + 1].min()),
        "last_target": str(times[ends + horizon].max()),
    }


if __name__ == "__main__":
    run_stage("split", main)
