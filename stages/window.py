"""Stage window: scale features on the training range, encode targets, index windows.

Writes data/windows/: scaled.npy (N x F float32), targets.npz (one value per row
and task), ends.npy (end row of every complete window), times.npy (UTC ns) and
preprocess.json (scalers, encoders, schema). Never an N x T x F array.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from mtlstm import window
from mtlstm.config import load_params
from mtlstm.errors import DataError, run_stage
from mtlstm.io import read_json, write_json, write_npy, write_npz
from mtlstm.split import filled_targets, row_bounds

IN_TABLE = Path("data/ingested.parquet")
IN_SCHEMA = Path("data/ingest_schema.json")
IN_FILLED = Path("data/ingest_filled.parquet")
OUT = Path("data/windows")


def main() -> None:
    params = load_params()
    table = read_table(IN_TABLE)
    check_declared(table, params)
    train_end, _ = row_bounds(len(table), params.split.train, params.split.val)
    if train_end < 2:
        raise DataError(f"{IN_TABLE}: only {len(table)} rows; too few to train on")
    bundle = window.fit(
        table.iloc[:train_end], params.features, params.tasks, params.window.lookback
    )
    labels = window.targets(table, bundle)
    window.check_classes_seen(labels, bundle, train_end)
    ends = window.window_ends(
        table["segment"].to_numpy(), bundle["lookback"], bundle["max_horizon"]
    )
    scaled = window.transform(table, bundle)
    filled = count_filled_targets(table, ends, bundle, params)
    bundle["n_rows"] = len(table)
    bundle["ingest"] = read_json(IN_SCHEMA)
    write_npy(OUT / "scaled.npy", scaled)
    write_npz(OUT / "targets.npz", labels)
    write_npy(OUT / "ends.npy", ends)
    write_npy(
        OUT / "times.npy", table["time"].to_numpy("datetime64[ns]").view(np.int64)
    )
    write_json(OUT / "preprocess.json", bundle)
    write_json(OUT / "filled_targets.json", filled)
    print(
        f"window: {scaled.shape[0]} rows x {scaled.shape[1]} features, "
        f"{ends.size} windows of {bundle['lookback']} steps; scaler fitted on rows "
        f"0..{train_end - 1} (until {bundle['fit_until']})"
    )
    note_filled_targets(filled)


def count_filled_targets(table, ends, bundle, params) -> dict:
    """Per task and split, the windows whose target value ingest filled in
    (ingest.max_fill, ingest.missing)."""
    filled = pd.read_parquet(IN_FILLED)
    if len(filled) != len(table):
        raise DataError(
            f"{IN_FILLED}: {len(filled)} rows but {IN_TABLE} has {len(table)}; "
            "rerun ingest (dvc repro ingest)"
        )
    masks = {c: filled[c].to_numpy(bool) for c in filled.columns}
    targets = {name: (t.target, t.horizon) for name, t in params.tasks.items()}
    return filled_targets(
        masks,
        targets,
        ends,
        len(table),
        bundle["lookback"],
        bundle["max_horizon"],
        params.split.train,
        params.split.val,
    )


def note_filled_targets(counts: dict) -> None:
    """Say so when validation or test windows are scored on a filled target."""
    scored = {t: c["val"] + c["test"] for t, c in counts.items()}
    if any(scored.values()):
        print(
            "window: note: targets filled by ingest, scored as if observed "
            "(val/test windows): "
            + ", ".join(
                f"{t} {counts[t]['val']}/{counts[t]['test']}"
                for t, n in scored.items()
                if n
            )
            + f" (see {OUT / 'filled_targets.json'})"
        )


def read_table(path: Path) -> pd.DataFrame:
    """The ingested table, read at a peak near its own size."""
    # pre_buffer=False: no copy of the whole file in memory before decoding.
    # self_destruct + split_blocks: each Arrow column is freed once converted,
    # so the Arrow table and the frame are never both whole.
    table = pd.read_parquet(
        path,
        pre_buffer=False,
        to_pandas_kwargs={"self_destruct": True, "split_blocks": True},
    )
    # Arrow's allocator keeps freed buffers for reuse that never comes (about
    # twice the table): hand them back before transform needs memory.
    pa.default_memory_pool().release_unused()
    return table


def check_declared(table: pd.DataFrame, params) -> None:
    needed = set(params.features.columns) | {t.target for t in params.tasks.values()}
    missing = sorted(needed - set(table.columns))
    if missing:
        raise DataError(
            f"{IN_TABLE}: lacks column(s) {', '.join(missing)} named in "
            "features/tasks; declare them in ingest.columns and rerun"
        )


if __name__ == "__main__":
    run_stage("window", main)
