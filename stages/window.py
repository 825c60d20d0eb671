"""Stage window: scale features on the training range, encode targets, index windows.

Writes data/windows/: scaled.npy (N x F float32), targets.npz (one value per row
and task), ends.npy (end row of every complete window), times.npy (UTC ns) and
preprocess.json (scalers, encoders, schema). Never an N x T x F array.
With ingest.series also series.npy (int32 series code per row, an index into
preprocess.json's ``series.names``). Scalers see only the rows of the training
time range (``mtlstm.split.row_splits``: one time cut for every series).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from mtlstm import static, window
from mtlstm.config import load_params
from mtlstm.errors import DataError, run_stage
from mtlstm.io import read_json, write_json, write_npy, write_npz
from mtlstm.split import filled_targets, row_splits

IN_TABLE = Path("data/ingested.parquet")
IN_SCHEMA = Path("data/ingest_schema.json")
IN_FILLED = Path("data/ingest_filled.parquet")
OUT = Path("data/windows")


def main() -> None:
    params = load_params()
    table = read_table(IN_TABLE)
    check_declared(table, params)
    times = table["time"].to_numpy("datetime64[ns]").view(np.int64)
    train = row_splits(times, params.split.train, params.split.val) == 0
    train_end = int(train.sum())
    if train_end < 2:
        raise DataError(f"{IN_TABLE}: only {len(table)} rows; too few to train on")
    names = sorted(table["series"].unique()) if "series" in table else None
    if params.window.scaling == "per_series" and names is None:
        raise DataError(
            f"{IN_TABLE}: has no series column, but window.scaling is per_series; "
            "set ingest.series (and rerun ingest) or use window.scaling: global"
        )
    bundle = window.fit(
        table.iloc[:train_end] if names is None else table[train],
        params.features,
        params.tasks,
        params.window.lookback,
        series=names,
        scaling=params.window.scaling,
    )
    bundle |= static.fit(table, train, params.features.static, names)
    labels = window.targets(table, bundle)
    window.check_classes_seen(labels, bundle, train_end if names is None else train)
    ends = window.window_ends(
        table["segment"].to_numpy(), bundle["lookback"], bundle["max_horizon"]
    )
    scaled = window.transform(table, bundle)
    filled = count_filled_targets(table, ends, bundle, params, times)
    bundle["n_rows"] = len(table)
    bundle["ingest"] = read_json(IN_SCHEMA)
    write_npy(OUT / "scaled.npy", scaled)
    write_npz(OUT / "targets.npz", labels)
    write_npy(OUT / "ends.npy", ends)
    write_npy(OUT / "times.npy", times)
    if names is not None:
        write_npy(OUT / "series.npy", window.series_codes(table, bundle))
    write_json(OUT / "preprocess.json", bundle)
    write_json(OUT / "filled_targets.json", filled)
    print(
        f"window: {scaled.shape[0]} rows x {scaled.shape[1]} features, "
        f"{ends.size} windows of {bundle['lookback']} steps; scaler fitted on "
        + (
            f"rows 0..{train_end - 1}"
            if names is None
            else f"{train_end} rows of {len(names)} series"
        )
        + f" (until {bundle['fit_until']})"
    )
    if names is not None:
        fallback = sorted(
            {
                n
                for i in [*bundle["inputs"], *bundle["tasks"]]
                for n in i.get("series_fallback", [])
            }
        )
        if fallback:
            print(
                f"window: note: {len(fallback)} series without training rows or "
                "constant in them scaled by the global moments: "
                + ", ".join(fallback[:10])
                + (" ..." if len(fallback) > 10 else "")
            )
    note_filled_targets(filled)


def count_filled_targets(table, ends, bundle, params, times=None) -> dict:
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
        times if "series" in table else None,
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
