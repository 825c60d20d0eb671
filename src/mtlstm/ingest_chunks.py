"""Ingest a long Parquet table of many series a chunk of whole series at a time.

With ``ingest.series`` and a Parquet source, ``stream_series`` reads the file
in record batches of about ``CHUNK_ROWS`` rows, cuts them between two series
(a series that runs on past a batch is carried over to the next chunk), runs
the whole-table pipeline (``ingest.ingest_frame``) on each chunk and appends
its rows to the output Parquet files: peak memory is a chunk's, not the
table's (an M5-sized panel, 59 million rows, would need about 34 GB whole).

The output is the whole-table path's, rows sorted by (series, time), segments
numbered on across chunks, the summary's counts added up, when every chunk's
series sort after all of the chunks before: when each series' rows are one run
in the file and the series come in label order, as in a file sorted by
series. Otherwise ``stream_series`` writes nothing and returns None, and the
stage reads the table whole as before (so duplicates, ``ingest.sort`` and
interleaved series keep their meaning). The output files hold one row group
(or more) per chunk: the same content, but not the same bytes as the
whole-table write, except for a source of a single chunk.

An error in the data names its source row and series as before; its counts
("N such values") are those of the chunk it was found in, and the grid-size
limit (``ingest.GRID_PER_ROW``) holds per chunk.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mtlstm import ingest
from mtlstm.config import Ingest
from mtlstm.errors import ConfigError, DataError
from mtlstm.io import atomic_path

# Rows read per chunk (whole series are kept together, so a chunk is about
# this size): about 0.6 KB of memory per row at peak, so about 0.6 GB.
CHUNK_ROWS = 1_000_000


class _OutOfOrder(Exception):
    """A chunk holds a series that does not sort after every earlier chunk's."""


def streamable(path: Path, cfg: Ingest) -> bool:
    """Whether ``stream_series`` may take this source: many series, Parquet (a
    CSV file is read whole: its values are checked as text, row by row)."""
    return bool(cfg.series) and path.suffix.lower() == ".parquet"


def stream_series(
    path: Path,
    cfg: Ingest,
    timezone: str,
    out_table: Path,
    out_filled: Path,
    chunk_rows: int = CHUNK_ROWS,
) -> dict | None:
    """Ingest ``path`` chunk by chunk into ``out_table`` and ``out_filled``;
    the ``ingest_frame`` counts of the whole table, or None (and nothing
    written) where the series are not in one run each, in label order."""
    try:
        with contextlib.ExitStack() as stack:
            tables = _Appender(stack.enter_context(atomic_path(out_table, ".parquet")))
            filled = _Appender(stack.enter_context(atomic_path(out_filled, ".parquet")))
            # Registered last, closed first: the files are whole before the move.
            stack.callback(filled.close)
            stack.callback(tables.close)
            counts = _stream(path, cfg, timezone, chunk_rows, tables, filled)
            if counts is None:  # no rows: the whole-table path says so
                raise _OutOfOrder
            return counts
    except _OutOfOrder:
        return None


def check(cfg: Ingest, timezone: str, root: Path) -> tuple[list[str], list[str]]:
    """``mtlstm check`` of the source as the stage reads it: its problems and
    warnings (``ingest.check_file``'s contract).

    A Parquet panel over a chunk whose series run in label order is checked
    by the stage's own streamed ingest (outputs discarded), a chunk of whole
    series at a time, so the check needs no more memory than the stage (a
    table too big to read whole is checked too); a problem is then the
    stage's error, as the stage words it. Any other source goes to
    ``ingest.check_file``, which reads it whole and lists every bad column."""
    try:
        path = ingest.resolve_source(cfg.source, root)
        counts = _streamed_counts(path, cfg, timezone)
    except (ConfigError, DataError) as exc:
        return [str(exc)], []
    if counts is None:
        return ingest.check_file(path, cfg, timezone)
    warning = ingest.fill_warning(counts["gaps"], counts["rows_out"], cfg.freq)
    return [], [warning] if warning else []


def _streamed_counts(path: Path, cfg: Ingest, timezone: str) -> dict | None:
    """``stream_series`` of ``path`` into a discarded folder: its counts, or
    None where the source is read whole (not streamable, not over a chunk,
    or its series not in one run each in label order)."""
    # A file of one chunk is read whole, as before: no more memory than a
    # chunk, and the check lists every bad column (a chunk raises its first).
    if not streamable(path, cfg) or _rows(path) <= CHUNK_ROWS:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        return stream_series(
            path,
            cfg,
            timezone,
            out / "table.parquet",
            out / "filled.parquet",
            # The module's value when called, not the default's when defined.
            chunk_rows=CHUNK_ROWS,
        )


def _rows(path: Path) -> int:
    """The Parquet file's row count; 0 where it is not Parquet (read whole,
    ``ingest.check_file`` says so as the stage does)."""
    try:
        return pq.read_metadata(path).num_rows
    except pa.ArrowException:
        return 0


def _stream(
    path: Path,
    cfg: Ingest,
    timezone: str,
    chunk_rows: int,
    tables: _Appender,
    filled: _Appender,
) -> dict | None:
    counts: dict | None = None
    last_series = None
    for src in chunks(path, cfg, chunk_rows, timezone):
        table, part, marks = ingest.ingest_frame(src, cfg, timezone)
        del src
        names = table["series"]  # sorted: the chunk's first and last label
        if last_series is not None and not names.iloc[0] > last_series:
            raise _OutOfOrder
        last_series = names.iloc[-1]
        if counts is not None:  # segments go on from the chunks before
            segments = counts["gaps"]["segments"]
            table["segment"] = (table["segment"] + segments).astype("int32")
        counts = part if counts is None else ingest.add_counts(counts, part)
        tables.write(table)
        filled.write(pd.DataFrame(marks))
        del table, marks
        pa.default_memory_pool().release_unused()
    return counts


def chunks(
    path: Path, cfg: Ingest, chunk_rows: int, timezone: str = "UTC"
) -> Iterator[ingest.Source]:
    """The source's rows in chunks of whole series of about ``chunk_rows`` rows
    (a series longer than that is one chunk), each naming its rows by their
    row in the file. ``timezone``: ``features.timezone``."""
    wanted = ingest.source_columns(cfg)
    ingest.require_parquet_columns(path, wanted, cfg.source)
    file = pq.ParquetFile(path, pre_buffer=False)
    floats = _ints_with_nulls(file, wanted)
    dates = _zone_less_dates(file, cfg, timezone)
    carry: pd.DataFrame | None = None
    offset = 0
    for batch in file.iter_batches(batch_size=chunk_rows, columns=wanted):
        frame = _as_read_whole(batch.to_pandas(), floats)
        del batch
        if carry is not None:
            frame = pd.concat([carry, frame], ignore_index=True)
        # The file's last rows end their series: no cut (a file of one chunk
        # is written as the whole-table path writes it, byte for byte).
        last = offset + len(frame) == file.metadata.num_rows
        cut = len(frame) if last else _last_run_start(frame, cfg.series)
        carry = frame.iloc[cut:].reset_index(drop=True)
        head = [frame.iloc[:cut].reset_index(drop=True)]
        del frame
        if cut:  # pop: while the chunk is ingested, this frame holds no reference
            yield ingest.Source(head.pop(), cfg.source, 0, offset, dates=dates)
            offset += cut
    if carry is not None and len(carry):
        yield ingest.Source(carry, cfg.source, 0, offset, dates=dates)


def _zone_less_dates(file: pq.ParquetFile, cfg: Ingest, timezone: str) -> bool | None:
    """``ingest.zone_less_dates`` of the whole file's time column where it
    decides how zone-less timestamps read (a grid of local days, no
    ``ingest.source_timezone``), else None. Decided per chunk, a chunk of
    midnights read as local days and one of clock times as UTC: a file the
    whole-table read refuses as ambiguous was accepted, read two ways."""
    if cfg.source_timezone is not None or ingest.days_zone(cfg, timezone) == "UTC":
        return None
    batches = file.iter_batches(columns=[cfg.time_column])
    return all(ingest.zone_less_dates(b.column(0).to_pandas()) for b in batches)


def _ints_with_nulls(file: pq.ParquetFile, names: list[str]) -> list[str]:
    """The integer columns of ``names`` with a null anywhere in the file: read
    whole, pandas makes each float64, but a batch without a null stays int64,
    and a categorical value would read "3" there and "3.0" in the whole table."""
    schema = file.schema_arrow
    return [
        name
        for name in names
        if pa.types.is_integer(schema.field(name).type) and _has_null(file, name)
    ]


def _has_null(file: pq.ParquetFile, name: str) -> bool:
    """Whether column ``name`` holds a null: from the row groups' statistics,
    or, where a writer left them out, from the column read batch by batch."""
    meta = file.metadata
    paths = [meta.schema.column(i).path for i in range(meta.num_columns)]
    column = paths.index(name)
    stats = [
        meta.row_group(i).column(column).statistics for i in range(meta.num_row_groups)
    ]
    if all(s is not None and s.has_null_count for s in stats):
        return any(s.null_count for s in stats)
    return any(b.column(0).null_count for b in file.iter_batches(columns=[name]))


def _as_read_whole(frame: pd.DataFrame, floats: list[str]) -> pd.DataFrame:
    """A batch's frame with the column types of the file read whole: the
    ``floats`` columns (``_ints_with_nulls``) float64 where the batch held no
    null (a nullable ``Int64`` of the file's pandas metadata stays as it is)."""
    for name in floats:
        if isinstance(frame[name].dtype, np.dtype) and frame[name].dtype.kind in "iu":
            frame[name] = frame[name].astype("float64")
    return frame


def _last_run_start(frame: pd.DataFrame, ids: list[str]) -> int:
    """Where the run of rows with the last row's id values starts (ids compared
    as read: a missing id is a run of its own, for the chunk to report)."""
    same = np.ones(len(frame), dtype=bool)
    for name in ids:
        values = frame[name]
        last = values.iloc[-1]
        same &= (values.isna() if pd.isna(last) else values == last).to_numpy()
    other = np.flatnonzero(~same)
    return int(other[-1]) + 1 if other.size else 0


class _Appender:
    """A Parquet file written one frame at a time, as ``io.write_parquet``
    writes one frame (the same bytes for a single frame)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer: pq.ParquetWriter | None = None

    def write(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self.writer is None:
            self.writer = pq.ParquetWriter(
                self.path, table.schema, compression="snappy"
            )
        elif not table.schema.equals(self.writer.schema):
            # A chunk whose types pandas inferred otherwise (the columns are the
            # pipeline's, so only a representation differs): the file's types.
            table = table.cast(self.writer.schema)
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
