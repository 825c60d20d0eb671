"""Static per-series attributes: categorical columns constant within each series.

A panel's series often carry attributes that never change over time (a store's
type, a region's country). Fed per time step as one-hot inputs they would repeat
the same block at every step of every window; ``features.static`` lists them
instead, and the model embeds each one (``train.static_embedding`` dimensions,
``mtlstm.model``) from the window's series code through the table built here.

The window stage checks on the whole table that each listed column takes one
value per series (a ``DataError`` names the column, the series and two
differing values with their times) and records per column in the bundle, as
``static``::

    [{"column": "store_type", "categories": ["a", "b"], "codes": [0, 1, 1]}, ...]

``categories``: the values the series hold in the training time range, sorted
(the categorical encoder of ``mtlstm.window``); ``codes``: each series' value as
an index into them, in the order of ``bundle["series"]["names"]``. A series
whose value no series holds in the training time range (it starts later) is a
``DataError``, as an unseen category of an input column is: its embedding could
never be learned, and the model would use a random vector for it. Without
``features.static`` the bundle has no ``static`` key (bundles stay as before).

``mtlstm predict`` uses the codes stored with the model (they are constants of
the model, from the bundle it was trained with) and checks that the input's
attributes still match them (``check_input``). Pure NumPy/pandas: no TensorFlow
(the model side is ``mtlstm.model.static_shapes``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mtlstm.errors import DataError, quote
from mtlstm.window import series_codes


def fit(
    table: pd.DataFrame,
    train: np.ndarray,
    columns: list[str],
    names: list[str] | None,
) -> dict[str, Any]:
    """``{"static": [...]}`` to merge into the bundle (``{}`` when ``columns``
    is empty): per column its training categories and every series' code.

    ``table``: every row (``series`` and the listed columns), ``train``: the
    boolean mask of its training rows, ``names``: the series (code order); a
    series without rows in ``table`` gets code 0 (no window reads it)."""
    if not columns:
        return {}
    if names is None:
        raise DataError(
            "features.static: static attributes take one value per series, but "
            "the table has no series column; set ingest.series and rerun ingest"
        )
    codes = _series_codes(table, names)
    train = np.asarray(train, dtype=bool)
    return {"static": [_fit_column(table, c, codes, names, train) for c in columns]}


def _fit_column(
    table: pd.DataFrame,
    column: str,
    codes: np.ndarray,
    names: list[str],
    train: np.ndarray,
) -> dict[str, Any]:
    values = series_values(table, column, codes, names)
    categories = sorted(pd.unique(table[column].to_numpy()[train]).tolist())
    index = pd.Index(categories).get_indexer(values)
    # A series without any row in ``table`` (a backtest fold ends before it
    # starts; ``names`` are the whole table's) has no window to embed here: any
    # valid code serves, and its value is unknown, not unseen.
    index[[v is None for v in values]] = 0
    if (index < 0).any():
        k = int(np.flatnonzero(index < 0)[0])
        raise DataError(
            f"features.static: series {quote(names[k])} has {column} "
            f"{quote(values[k])}, which no series holds in the training time range "
            f"(seen: {quote(categories)}), so its embedding could not be learned; "
            "move split.train later, drop that series, or drop "
            f"{quote(column)} from features.static"
        )
    return {"column": column, "categories": categories, "codes": index.tolist()}


def series_values(
    table: pd.DataFrame, column: str, codes: np.ndarray, names: list[str]
) -> list[Any]:
    """The one value of ``column`` in each series (``None`` for a series
    without rows), or a DataError naming the series, two differing values and
    their times, or an empty value."""
    values = table[column]
    empty = values.isna().to_numpy()
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise DataError(
            f"features.static: column {quote(column)} is empty in series "
            f"{quote(names[codes[row]])} at {_time(table, row)}; a static attribute "
            "needs its value on every row (fix the data, or drop it from "
            "features.static)"
        )
    # First row of each series; a row differs when its value is not its
    # series' first value (one vectorized pass, whatever the row order).
    present, first = np.unique(codes, return_index=True)
    first_of = np.full(len(names), -1, dtype=np.int64)
    first_of[present] = first
    factor, _ = pd.factorize(values)
    differs = np.flatnonzero(factor != factor[first_of[codes]])
    if differs.size:
        row = int(differs[0])
        head = int(first_of[codes[row]])
        varying = np.unique(codes[differs]).size
        raise DataError(
            f"features.static: column {quote(column)} is not constant within "
            f"series {quote(names[codes[row]])}: {quote(values.iloc[head])} at "
            f"{_time(table, head)} but {quote(values.iloc[row])} at "
            f"{_time(table, row)} ({varying} series vary); a static attribute "
            "takes one value per series: fix the data, or list the column in "
            "features.columns (a per-step input) instead of features.static"
        )
    return [values.iloc[f] if f >= 0 else None for f in first_of.tolist()]


def check_input(table: pd.DataFrame, bundle: dict[str, Any], label: str) -> None:
    """Each input series' static attributes must be the ones the model was
    trained with (``bundle["static"]``): the model embeds the stored codes, so
    a changed value would silently be forecast with the old one."""
    static = bundle.get("static")
    if not static:
        return
    names = bundle["series"]["names"]
    codes = _series_codes(table, names)
    seen = np.unique(codes)
    for item in static:
        if item["column"] not in table:
            raise DataError(
                f"{label}: lacks the static attribute column {quote(item['column'])} "
                "the model was trained with (features.static); add it"
            )
        values = series_values(table, item["column"], codes, names)
        for k in seen.tolist():
            stored = item["categories"][item["codes"][k]]
            if values[k] != stored:
                raise DataError(
                    f"{label}: series {quote(names[k])} has {item['column']} "
                    f"{quote(values[k])}, but the model was trained with "
                    f"{quote(stored)} for it (features.static; stored in "
                    "preprocess.json); retrain on data with the new value, or "
                    "correct the input"
                )


def _series_codes(table: pd.DataFrame, names: list[str]) -> np.ndarray:
    return series_codes(table, {"series": {"names": list(names)}})


def _time(table: pd.DataFrame, row: int) -> str:
    return str(table["time"].iloc[row]) if "time" in table else f"row {row}"
