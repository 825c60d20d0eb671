"""Stage window: scale features on the training range, encode targets, index windows.

Writes data/windows/: scaled.npy (N x F float32), targets.npz (one value per row
and task), ends.npy (end row of every complete window), times.npy (UTC ns) and
preprocess.json (scalers, encoders, schema). Never an N x T x F array.
With ingest.series also series.npy (int32 series code per row, an index into
preprocess.json's ``series.names``). Scalers see only the rows of the training
time range (``mtlstm.split.row_splits``: one time cut for every series).
The table is streamed (fit one column at a time, transform in chunks), so the
peak memory stays near a few vectors per row, whatever the number of columns.
"""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mtlstm import static, window
from mtlstm.config import load_params
from mtlstm.errors import DataError, run_stage
from mtlstm.io import npy_rows, read_json, write_json, write_npy, write_npz
from mtlstm.split import filled_targets, row_splits

IN_TABLE = Path("data/ingested.parquet")
IN_SCHEMA = Path("data/ingest_schema.json")
IN_FILLED = Path("data/ingest_filled.parquet")
OUT = Path("data/windows")
# Rows per chunk of the transform pass: big enough that per-chunk overheads
# vanish, small enough that a chunk's float64 columns stay near 100 MB.
CHUNK_ROWS = 1 << 20


def main() -> None:
    params = load_params()
    # The table is never held whole: fitting reads one column of the training
    # rows at a time (TrainingRows), the transform runs chunk by chunk and
    # scaled.npy is written as it goes; only per-row vectors (times, series
    # codes, targets, window ends) are whole. Every step is the in-memory one
    # applied to fewer rows, so the output bytes do not depend on the chunking.
    source = pq.ParquetFile(IN_TABLE, pre_buffer=False)
    columns = source.schema_arrow.names
    check_declared(columns, params)
    n_rows = source.metadata.num_rows
    times = read_times(source)
    train = row_splits(times, params.split.train, params.split.val) == 0
    train_end = int(train.sum())
    if train_end < 2:
        raise DataError(f"{IN_TABLE}: only {n_rows} rows; too few to train on")
    names, codes = read_series(IN_TABLE) if "series" in columns else (None, None)
    if params.window.scaling == "per_series" and names is None:
        raise DataError(
            f"{IN_TABLE}: has no series column, but window.scaling is per_series; "
            "set ingest.series (and rerun ingest) or use window.scaling: global"
        )
    bundle = window.fit(
        TrainingRows(source, train, names, codes),
        params.features,
        params.tasks,
        params.window.lookback,
        series=names,
        scaling=params.window.scaling,
        scaler=params.window.scaler,
    )
    bundle |= static.fit(
        static_table(source, params.features.static, times, names, codes),
        train,
        params.features.static,
        names,
    )
    pa.default_memory_pool().release_unused()
    n_features = len(bundle["feature_names"])
    with npy_rows(OUT / "scaled.npy", (n_rows, n_features), np.float32) as append:
        labels = scale_chunks(source, bundle, names, codes, append, CHUNK_ROWS)
        window.check_classes_seen(labels, bundle, train_end if names is None else train)
        del train
        ends = window.window_ends(
            read_column(source, "segment"), bundle["lookback"], bundle["max_horizon"]
        )
        filled = count_filled_targets(
            n_rows, ends, bundle, params, times if names is not None else None
        )
    bundle["n_rows"] = n_rows
    bundle["ingest"] = read_json(IN_SCHEMA)
    write_npz(OUT / "targets.npz", labels)
    del labels
    write_npy(OUT / "ends.npy", ends)
    write_npy(OUT / "times.npy", times)
    if names is not None:
        write_npy(OUT / "series.npy", codes)
    write_json(OUT / "preprocess.json", bundle)
    write_json(OUT / "filled_targets.json", filled)
    print(
        f"window: {n_rows} rows x {n_features} features, "
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


def read_times(source: pq.ParquetFile) -> np.ndarray:
    """The time column as int64 UTC nanoseconds."""
    column = source.read(columns=["time"]).column("time")
    column = column.cast(pa.timestamp("ns", tz=column.type.tz))
    return column.cast(pa.int64()).to_numpy()


def read_column(source: pq.ParquetFile, name: str) -> np.ndarray:
    return source.read(columns=[name]).column(name).to_numpy()


def read_series(path: Path) -> tuple[list[str], np.ndarray]:
    """The sorted distinct series names and each row's code (int32) in them,
    read dictionary-encoded: never a Python string per row."""
    column = pq.ParquetFile(path, read_dictionary=["series"], pre_buffer=False)
    chunks = column.read(columns=["series"]).column("series").chunks
    used = [c.dictionary.take(pa.array(np.unique(c.indices))) for c in chunks]
    names = sorted({name for u in used for name in u.to_pylist()})
    index = pd.Index(names)
    codes = [
        index.get_indexer(c.dictionary.to_pylist()).astype(np.int32)[
            c.indices.to_numpy()
        ]
        for c in chunks
    ]
    return names, np.concatenate(codes) if codes else np.empty(0, np.int32)


class TrainingRows:
    """The training-range rows of the ingested table as ``window.fit`` reads
    them (``rows[column]``, ``len``, ``in``), one column at a time: the
    training table is never whole in memory."""

    def __init__(
        self,
        source: pq.ParquetFile,
        mask: np.ndarray,
        names: list[str] | None,
        codes: np.ndarray | None,
    ) -> None:
        self.source, self.names, self.codes = source, names, codes
        self.mask, self.keep = mask, pa.array(mask)
        self.last: tuple[str, pd.Series] | None = None  # fit reads a column twice

    def __len__(self) -> int:
        return int(self.mask.sum())

    def __contains__(self, column: str) -> bool:
        return column in self.source.schema_arrow.names

    def __getitem__(self, column: str) -> pd.Series:
        if column == "series" and self.names is not None:
            return series_column(self.codes[self.mask], self.names)
        if self.last is None or self.last[0] != column:
            self.last = None  # the previous column goes before the next is read
            values = self.source.read(columns=[column]).column(column)
            self.last = (column, values.filter(self.keep).to_pandas().rename(column))
        return self.last[1]


def static_table(
    source: pq.ParquetFile,
    columns: list[str],
    times: np.ndarray,
    names: list[str] | None,
    codes: np.ndarray | None,
) -> pd.DataFrame:
    """What ``static.fit`` reads (time, series, the static columns) for every
    row; empty without features.static, so nothing is read for nothing."""
    if not columns:
        return pd.DataFrame()
    frame = {"time": pd.to_datetime(times, utc=True)}
    if names is not None:
        frame["series"] = series_column(codes, names)
    for column in columns:
        frame[column] = source.read(columns=[column]).column(column).to_pandas()
    return pd.DataFrame(frame)


def series_column(codes: np.ndarray, names: list[str]) -> pd.Series:
    """A series column built from codes (``window.series_codes`` maps it back
    through its categories, without a string per row)."""
    return pd.Series(pd.Categorical.from_codes(codes, names), name="series")


def scale_chunks(
    source: pq.ParquetFile,
    bundle: dict,
    names: list[str] | None,
    codes: np.ndarray | None,
    append,
    chunk_rows: int,
) -> dict[str, np.ndarray]:
    """Transform the table ``chunk_rows`` rows at a time, handing each chunk's
    scaled rows to ``append``; returns every row's targets (``window.targets``)."""
    n_rows = source.metadata.num_rows
    dtypes = {"regression": np.float32}  # classes: int32 indices
    labels = {
        t["name"]: np.empty(n_rows, dtypes.get(t["type"], np.int32))
        for t in bundle["tasks"]
    }
    start = 0
    for chunk in table_chunks(source, bundle, chunk_rows):
        stop = start + len(chunk)
        if names is not None:
            chunk["series"] = pd.Categorical.from_codes(codes[start:stop], names)
        for name, values in window.targets(chunk, bundle).items():
            labels[name][start:stop] = values
        append(window.transform(chunk, bundle))
        start = stop
    return labels


def table_chunks(
    source: pq.ParquetFile, bundle: dict, chunk_rows: int
) -> Iterator[pd.DataFrame]:
    """The columns transform and targets read, ``chunk_rows`` rows at a time."""
    wanted = ["time"]
    for item in [*bundle["inputs"], *bundle["tasks"]]:
        column = item.get("column", item.get("target"))
        if column is not None and column not in wanted:
            wanted.append(column)
    for batch in source.iter_batches(batch_size=chunk_rows, columns=wanted):
        yield batch.to_pandas()


def count_filled_targets(
    n_rows: int, ends: np.ndarray, bundle: dict, params, times=None
) -> dict:
    """Per task and split, the windows whose target value ingest filled in
    (ingest.max_fill, ingest.missing). ``times``: with many series, each row's
    int64 time (the splits are cut in time)."""
    source = pq.ParquetFile(IN_FILLED)
    if source.metadata.num_rows != n_rows:
        raise DataError(
            f"{IN_FILLED}: {source.metadata.num_rows} rows but {IN_TABLE} has "
            f"{n_rows}; rerun ingest (dvc repro ingest)"
        )
    targets = {name: (t.target, t.horizon) for name, t in params.tasks.items()}
    # Only the target columns' flags are read: the others are never counted.
    wanted = sorted({c for c, _ in targets.values()} & set(source.schema_arrow.names))
    masks = {c: read_column(source, c).astype(bool, copy=False) for c in wanted}
    return filled_targets(
        masks,
        targets,
        ends,
        n_rows,
        bundle["lookback"],
        bundle["max_horizon"],
        params.split.train,
        params.split.val,
        times,
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


def check_declared(columns: list[str], params) -> None:
    needed = set(params.features.columns) | {t.target for t in params.tasks.values()}
    missing = sorted(needed - set(columns))
    if missing:
        raise DataError(
            f"{IN_TABLE}: lacks column(s) {', '.join(missing)} named in "
            "features/tasks; declare them in ingest.columns and rerun"
        )


if __name__ == "__main__":
    run_stage("window", main)
