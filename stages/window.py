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
from mtlstm.split import row_bounds

IN_TABLE = Path("data/ingested.parquet")
IN_SCHEMA = Path("data/ingest_schema.json")
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
    bundle["n_rows"] = len(table)
    bundle["ingest"] = read_json(IN_SCHEMA)
    write_npy(OUT / "scaled.npy", scaled)
    write_npz(OUT / "targets.npz", labels)
    write_npy(OUT / "ends.npy", ends)
    write_npy(
        OUT / "times.npy", table["time"].to_numpy("datetime64[ns]").view(np.int64)
    )
    write_json(OUT / "preprocess.json", bundle)
    print(
        f"window: {scaled.shape[0]} rows x {scaled.shape[1]} features, "
        f"{ends.size} windows of {bundle['lookback']} steps; scaler fitted on rows "
        f"0..{train_end - 1} (until {bundle['fit_until']})"
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
