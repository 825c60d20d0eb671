"""Forecast from new data with a trained model and its preprocessing bundle.

New input passes exactly the checks ingest applies (same reader, same grid and
fill policy, recorded in the bundle), then the bundle's scalers and encoders.
``forecast_frame`` is also what evaluate writes, so both agree row for row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mtlstm import grid, ingest
from mtlstm.config import Ingest, parse
from mtlstm.errors import DataError


def read_input(
    path: Path, bundle: dict[str, Any], allow_partial_last_step: bool = False
) -> tuple[pd.DataFrame, str | None]:
    """Read and grid a CSV/Parquet like the training source, or fail clearly.

    Returns the table and a note when an incomplete last grid step was dropped.
    """
    if not path.is_file():
        raise DataError(f"{path}: input file not found")
    schema = {**bundle["ingest"], "source": str(path)}
    cfg = parse(Ingest, schema, "preprocess.json ingest")
    src = ingest.read_table(path, cfg, label=str(path))
    typed, _ = ingest.order_rows(ingest.coerce(src, cfg), src, cfg.sort, cfg.duplicates)
    gridded, counts = ingest.to_grid_counted(typed, cfg, bundle["timezone"])
    note, complete = None, complete_step_rows(counts)
    if not allow_partial_last_step and counts[-1] < complete:
        note = (
            f"the last grid step ({_iso(pd.DatetimeIndex(gridded['time'][-1:]))[0]}) "
            f"holds {counts[-1]} source row(s), fewer than a complete step's "
            f"{complete:g}: dropped it (pass --allow-partial-last-step to "
            "forecast from it anyway)"
        )
        gridded = gridded.iloc[:-1]
    table, _ = ingest.fill_gaps(gridded, cfg)
    return ingest.restore_kinds(table, cfg), note


def complete_step_rows(counts: np.ndarray) -> float:
    """Source rows of a complete grid step: the median of the non-empty steps
    before the last (0 when there are none). A last step holding fewer ends
    inside the step, so its mean, sum or last value comes from part of it."""
    earlier = counts[:-1][counts[:-1] > 0]
    return float(np.median(earlier)) if earlier.size else 0.0


def origins(segment: np.ndarray, lookback: int, label: str) -> np.ndarray:
    """Every row that closes a complete lookback inside one segment."""
    if len(segment) < lookback:
        raise DataError(
            f"{label}: {len(segment)} row(s) after gridding, but one forecast needs "
            f"a full lookback of {lookback} rows; supply more history"
        )
    ends = np.arange(lookback - 1, len(segment), dtype=np.int64)
    ends = ends[segment[ends - lookback + 1] == segment[ends]]
    if ends.size == 0:
        raise DataError(f"{label}: no {lookback} consecutive rows between gaps")
    return ends


def forecast_frame(
    bundle: dict[str, Any],
    times: pd.Series,
    ends: np.ndarray,
    outputs: dict[str, np.ndarray],
) -> pd.DataFrame:
    """One row per forecast origin: every task's forecast in original units, its
    target time, and per-class probabilities for classification tasks."""
    freq, zone = bundle["ingest"]["freq"], bundle["timezone"]
    origin = pd.DatetimeIndex(times)[ends]
    frame = {"origin": _iso(origin)}
    for spec in bundle["tasks"]:
        name = spec["name"]
        out = np.asarray(outputs[name], dtype=np.float64)
        frame[f"{name}_time"] = _iso(grid.shift(origin, spec["horizon"], freq, zone))
        if spec["type"] == "regression":
            frame[name] = out[:, 0] * spec["std"] + spec["mean"]
            continue
        frame[name] = np.asarray(spec["classes"])[np.argmax(out, axis=1)]
        for i, label in enumerate(spec["classes"]):
            frame[f"{name}_p_{label}"] = out[:, i]
    return pd.DataFrame(frame)


def _iso(stamps: pd.DatetimeIndex) -> np.ndarray:
    """UTC instants as ISO 8601 text with a Z."""
    return stamps.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy()
