"""Scale features and encode targets; describe windows by their end rows only.

``fit`` sees only the training time range and returns a JSON-safe *bundle*
(scalers, encoders, feature and task schema, lookback). ``transform`` applies a
bundle to any table, so training, evaluation and prediction share one code path.
Windows are never materialized: a window is the end row ``e`` of the scaled
``N x F`` matrix, its inputs rows ``e - lookback + 1 .. e``.

Many series (``ingest.series``): the bundle holds ``series: {"names": [...]}``
(a row's series code is its name's index there). With ``window.scaling:
per_series`` every numeric input column and regression target also gets
``series_mean`` and ``series_std`` (one per series, on that series' training
rows only); a series without training rows, or constant in them, falls back to
the global training moments (``mean``/``std``, kept for every column) and is
listed in the item's ``series_fallback``. ``series_codes`` maps a table's rows
to codes; ``mtlstm.metrics.original_units`` unscales per series.

``window.scaler: robust`` stores the median and IQR / 1.349 under the same
keys (``mean``/``std``, ``series_mean``/``series_std``; the bundle says
``scaler: robust``), so every reader scales and unscales as before: the IQR of
the normal distribution is 1.349 std, so a well-behaved column gets about the
scale it would have had, while one absurd value, which inflates a std without
bound, moves a median and quartiles by at most one row's rank. A column whose
middle half is one value (IQR 0) but which is not constant keeps its std.

Known-future inputs (``features.known_future``: columns or calendar features
whose values at the target times are known when forecasting) are not stored
again: the bundle's ``known_future`` names their columns of the same matrix,
and the model also reads them at rows ``e + 1 .. e + max_horizon``
(``mtlstm.dataset``), which ``window_ends`` guarantees exist in the segment.
Calendar features qualify (computed from the time); task targets never do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mtlstm import tasks as task_shape
from mtlstm.config import Features, Task
from mtlstm.errors import DataError, quote

CALENDAR_PERIODS = {"hour_of_day": 24.0, "day_of_week": 7.0, "day_of_year": 365.25}
# The interquartile range of a normal distribution, in standard deviations.
IQR_PER_STD = 1.3489795003921634


def fit(
    train_rows: pd.DataFrame,
    features: Features,
    tasks: dict[str, Task],
    lookback: int,
    series: list[str] | None = None,
    scaling: str = "global",
    scaler: str = "standard",
) -> dict[str, Any]:
    """Learn every scaler and encoder from the training time range alone.

    ``train_rows``: a DataFrame, or any reader of its columns by name
    (``rows[c]``, ``c in rows``, ``len(rows)``): the window stage's keeps only
    the last column read, and each item's statistics read its column in a row.
    ``series``: the names of every series of the table (``ingest.series``;
    ``train_rows`` then has a ``series`` column); ``scaling: per_series`` fits
    each numeric column's and regression target's moments per series;
    ``scaler``: standard (mean, std) or robust (median, IQR / 1.349)."""
    if scaling == "per_series" and series is None:
        raise DataError(
            "window.scaling: per_series needs ingest.series (the table has no "
            "series column); set ingest.series or use window.scaling: global"
        )
    codes = (
        series_codes(train_rows, {"series": {"names": series}})
        if scaling == "per_series"
        else None
    )

    def by_series(item: dict[str, Any]) -> dict[str, Any]:
        # Right after the item's own moments: a column is read once for both
        # (the window stage reads the training rows one column at a time).
        if codes is not None and (
            item.get("kind") == "numeric" or item.get("type") == "regression"
        ):
            column = item.get("column", item.get("target"))
            item |= _series_moments(train_rows[column], codes, series, item, scaler)
        return item

    inputs = [by_series(_fit_column(train_rows, c, scaler)) for c in features.columns]
    inputs += [{"calendar": name} for name in features.calendar]
    task_specs = [
        by_series(_fit_task(train_rows, n, t, scaler)) for n, t in tasks.items()
    ]
    names = feature_names({"inputs": inputs, "tasks": task_specs})
    for spec, task in zip(task_specs, tasks.values(), strict=True):
        if task.predict_change:
            spec["change_of"] = _feature_index(inputs, names, spec)
    inputs += [
        {"task_class": s["name"]} for s in task_specs if s["type"] != "regression"
    ]
    bundle: dict[str, Any] = {
        "lookback": lookback,
        "max_horizon": task_shape.max_horizon(task_specs),
        "timezone": features.timezone,
        "fit_rows": len(train_rows),
        "fit_until": str(
            train_rows["time"].iloc[-1] if series is None else train_rows["time"].max()
        ),
        "inputs": inputs,
        "tasks": task_specs,
    }
    if scaler != "standard":  # only when chosen: bundles stay as before
        bundle["scaler"] = scaler
    if series is not None:
        bundle["series"] = {"names": list(series), "scaling": scaling}
    bundle["feature_names"] = feature_names(bundle)
    if features.known_future:  # only when declared: bundles stay as before
        bundle["known_future"] = known_future_spec(
            inputs, features.known_future, bundle["max_horizon"]
        )
    return bundle


def known_future_spec(
    inputs: list[dict[str, Any]], names: list[str], steps: int
) -> dict[str, Any]:
    """Where the known-future inputs sit in the ``N x F`` matrix.

    ``features``: the matrix columns of every name in ``names`` (a numeric or
    boolean column: one; a categorical column: its one-hot block; a calendar
    feature: its sin and cos), in ``names`` order. The model receives these
    columns at rows ``e + 1 .. e + steps`` of the window ending at ``e``
    (``steps``: the largest horizon step of any task), scaled by the same
    training-range scalers as the past inputs (``mtlstm.dataset``)."""
    blocks: dict[str, list[int]] = {}
    col = 0
    for item in inputs:
        if "task_class" in item:  # the last blocks: never known in the future
            break
        width = len(feature_names({"inputs": [item], "tasks": []}))
        key = item.get("calendar", item.get("column"))
        blocks[key] = list(range(col, col + width))
        col += width
    return {
        "names": list(names),
        "features": [i for name in names for i in blocks[name]],
        "steps": int(steps),
    }


def _fit_column(rows: pd.DataFrame, column: str, scaler: str) -> dict[str, Any]:
    values = rows[column]
    if pd.api.types.is_bool_dtype(values):
        return {"column": column, "kind": "boolean"}
    if pd.api.types.is_numeric_dtype(values):
        moments = _moments(values, column, scaler)
        return {"column": column, "kind": "numeric", **moments}
    return {
        "column": column,
        "kind": "categorical",
        "categories": sorted(values.unique()),
    }


def _series_moments(
    values: pd.Series,
    codes: np.ndarray,
    names: list[str],
    item: dict[str, Any],
    scaler: str = "standard",
) -> dict[str, Any]:
    """Per series, the mean and std (robust: median and IQR / 1.349) of its
    training rows; a series without any, or constant in them, gets the global
    moments and is listed in ``series_fallback``."""
    n = len(names)
    x = values.to_numpy("float64")
    count = np.bincount(codes, minlength=n).astype(np.float64)
    total = np.bincount(codes, weights=x, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        # Two passes (deviations from each series' mean), as values.std does.
        dev = x - mean[codes]
        std = np.sqrt(np.bincount(codes, weights=dev * dev, minlength=n) / count)
    if scaler == "robust":
        mean, std = _robust_by_series(x, codes, n, std)
    bad = ~(count > 0) | ~(std > 0) | _constant_by_series(x, codes, n)
    mean[bad], std[bad] = item["mean"], item["std"]
    return {
        "series_mean": mean.tolist(),
        "series_std": std.tolist(),
        "series_fallback": [names[i] for i in np.flatnonzero(bad)],
    }


def _robust_by_series(
    x: np.ndarray, codes: np.ndarray, n: int, std: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per series, the median and IQR / 1.349 (its std where the IQR is 0);
    NaN for a series without values (the caller falls back to the global)."""
    median, scale = np.full(n, np.nan), np.full(n, np.nan)
    order = np.argsort(codes, kind="stable")  # each series' rows, contiguous
    bounds = np.searchsorted(codes[order], np.arange(n + 1))
    for code in range(n):
        rows = order[bounds[code] : bounds[code + 1]]
        if rows.size:
            median[code], scale[code] = _robust(x[rows], std[code])
    return median, scale


def _robust(x: np.ndarray, std: float) -> tuple[float, float]:
    low, median, high = np.nanquantile(x, [0.25, 0.5, 0.75])
    iqr = float(high - low)
    return float(median), iqr / IQR_PER_STD if iqr > 0 else float(std)


def _constant_by_series(x: np.ndarray, codes: np.ndarray, n: int) -> np.ndarray:
    """Per series, whether all its values are equal (True for one without any).

    Tested on the values, not by ``std > 0``: the std of a repeated value is a
    rounding residue whenever their mean does not round back to it (seven rows
    of 2.99: mean 2.9899999999999998, std 4.4e-16), and scaling by it would blow
    any later value up to about 1e15."""
    reference = np.zeros(n)
    reference[codes] = x  # some value of each series: which one does not matter
    return np.bincount(codes, weights=x != reference[codes], minlength=n) == 0


def series_codes(table: pd.DataFrame, bundle: dict[str, Any]) -> np.ndarray:
    """Each row's series code (int32): its index in ``bundle["series"]["names"]``;
    a series the bundle does not know is a DataError naming it."""
    names = bundle["series"]["names"]
    if "series" not in table:
        raise DataError(
            "the table has no series column, but the model was trained on many "
            "series (ingest.series); give each row its series id column(s)"
        )
    codes = pd.Index(names).get_indexer(table["series"])
    if (codes < 0).any():
        row = int(np.flatnonzero(codes < 0)[0])
        raise DataError(
            f"series {quote(table['series'].iloc[row])} was not among the series "
            f"the preprocessing was fitted on ({len(names)} series); forecast only "
            "known series, or retrain with it"
        )
    return codes.astype(np.int32)


def _scale_by(item: dict[str, Any], table: pd.DataFrame, bundle: dict[str, Any]):
    """The mean and std to scale ``item``'s column with: floats, or one per row
    (``series_mean`` / ``series_std`` indexed by each row's series code)."""
    if "series_mean" not in item:
        return item["mean"], item["std"]
    codes = series_codes(table, bundle)
    return (
        np.asarray(item["series_mean"], np.float64)[codes],
        np.asarray(item["series_std"], np.float64)[codes],
    )


def _feature_index(
    inputs: list[dict[str, Any]], names: list[str], spec: dict[str, Any]
) -> int:
    """Column of the feature matrix that holds the task's own scaled target."""
    numeric = {i.get("column") for i in inputs if i.get("kind") == "numeric"}
    if spec["target"] not in numeric:
        raise DataError(
            f"tasks.{spec['name']}.predict_change: the target {spec['target']!r} "
            "must also be an input; add it to features.columns"
        )
    return names.index(spec["target"])


def _moments(
    values: pd.Series, column: str, scaler: str = "standard"
) -> dict[str, float]:
    """The column's center and scale, under the keys ``mean`` and ``std``:
    its mean and std, or (``scaler: robust``) its median and IQR / 1.349."""
    mean, std = float(values.mean()), float(values.std(ddof=0))
    # Equal extremes, not only std == 0: the std of a repeated value can be a
    # rounding residue (seven rows of 2.99: 4.4e-16; see _constant_by_series).
    low = float(values.min())
    if not (std > 0 and low < float(values.max())):
        raise DataError(
            f"column {column!r} is constant ({low}) in the training time range, so it "
            "cannot be scaled; drop it from features.columns or use more data"
        )
    if scaler == "robust":
        mean, std = _robust(values.to_numpy("float64"), std)
    return {"mean": mean, "std": std}


def _fit_task(
    rows: pd.DataFrame, name: str, task: Task, scaler: str = "standard"
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name,
        "type": task.type,
        "target": task.target,
        "horizon": task.horizon,
        "unit": task.unit,
    }
    if task.quantiles is not None:  # only when declared: bundles stay as before
        spec["quantiles"] = list(task.quantiles)
    if task.decide_by is not None:  # likewise
        spec["decide_by"] = task.decide_by
    if task.type == "regression":
        return {**spec, **_moments(rows[task.target], task.target, scaler)}
    spec |= {"classes": list(task.classes or []), "bins": task.bins}
    seen = np.unique(class_index(rows[task.target], spec))
    if seen.size < 2:
        raise DataError(
            f"tasks.{name}: the training time range holds only class "
            f"{spec['classes'][int(seen[0])]!r}; a classifier needs at least two "
            f"(adjust tasks.{name}.bins/classes or split.train)"
        )
    return spec


def class_index(values: pd.Series, spec: dict[str, Any]) -> np.ndarray:
    """Class of each row: the bin of a numeric value, or a declared label's index."""
    if spec["bins"] is not None:
        return task_shape.bin_index(spec, values.to_numpy("float64"))
    lookup = {label: i for i, label in enumerate(spec["classes"])}
    codes = values.map(lookup)
    if codes.isna().any():
        row = int(np.flatnonzero(codes.isna().to_numpy())[0])
        raise DataError(
            f"tasks.{spec['name']}: column {spec['target']!r} holds "
            f"{quote(values.iloc[row])}, which is not among the declared classes "
            f"{spec['classes']}; add it to tasks.{spec['name']}.classes"
        )
    return codes.to_numpy("int64")


def feature_names(bundle: dict[str, Any]) -> list[str]:
    names: list[str] = []
    classes = {t["name"]: t.get("classes") for t in bundle["tasks"]}
    for item in bundle["inputs"]:
        if "calendar" in item:
            names += [f"{item['calendar']}_sin", f"{item['calendar']}_cos"]
        elif "task_class" in item:
            names += [f"{item['task_class']}={c}" for c in classes[item["task_class"]]]
        elif item["kind"] == "categorical":
            names += [f"{item['column']}={c}" for c in item["categories"]]
        else:
            names.append(item["column"])
    return names


def transform(table: pd.DataFrame, bundle: dict[str, Any]) -> np.ndarray:
    """The scaled ``N x F`` float32 feature matrix, columns in ``feature_names``."""
    tasks = {t["name"]: t for t in bundle["tasks"]}
    # One preallocated float32 matrix, each block written into its own columns:
    # stacking float64 blocks and casting once held about 3x the result at peak.
    # Casting each float64 block on assignment rounds exactly as astype did.
    out = np.empty((len(table), len(feature_names(bundle))), dtype=np.float32)
    col = 0
    for item in bundle["inputs"]:
        if "calendar" in item:
            times, zone = table["time"], bundle["timezone"]
            col += _write_calendar(out, col, times, item["calendar"], zone)
        elif "task_class" in item:
            spec = tasks[item["task_class"]]
            index = class_index(table[spec["target"]], spec)
            col += _write_one_hot(out, col, index, len(spec["classes"]))
        else:
            col += _write_column(out, col, table, item, bundle)
    return out


def _write_column(
    out: np.ndarray,
    col: int,
    table: pd.DataFrame,
    item: dict[str, Any],
    bundle: dict[str, Any],
) -> int:
    """Write one declared column's block at ``out[:, col:]``; returns its width."""
    values = table[item["column"]]
    if item["kind"] == "boolean":
        out[:, col] = values.to_numpy("float64")
        return 1
    if item["kind"] == "numeric":
        mean, std = _scale_by(item, table, bundle)
        with np.errstate(over="ignore"):  # an overflow is refused just below
            out[:, col] = (values.to_numpy("float64") - mean) / std
        _require_finite(out[:, col], table, item, mean, std)
        return 1
    cats = item["categories"]
    codes = pd.Index(cats).get_indexer(values)
    if (codes < 0).any():
        row = int(np.flatnonzero(codes < 0)[0])
        raise DataError(
            f"column {item['column']!r} holds {quote(values.iloc[row])} at "
            f"{table['time'].iloc[row]}, a category never seen in the training time "
            f"range (seen: {cats}); move that period into training or map it to a "
            "known category"
        )
    return _write_one_hot(out, col, codes, len(cats))


def _require_finite(
    scaled: np.ndarray, table: pd.DataFrame, item: dict, mean: Any, std: Any
) -> None:
    """A value far outside the training range (relative to its tiny spread)
    overflows float32 when scaled: refuse it instead of training on inf.
    ``mean``, ``std``: what it was scaled by (``_scale_by``: floats, or one per
    row under ``window.scaling: per_series``)."""
    bad = np.flatnonzero(~np.isfinite(scaled))
    if bad.size:
        row = int(bad[0])
        column = item.get("column", item.get("target"))  # an input, or a task's
        fix = (
            "drop the column from features.columns"
            if "column" in item
            else f"drop tasks.{item['name']}"
        )
        # The row's own moments: per series, its series' (the global ones
        # in item["mean"]/item["std"] did not scale it).
        center = float(np.broadcast_to(mean, scaled.shape)[row])
        spread = float(np.broadcast_to(std, scaled.shape)[row])
        whose = (
            "the training range's"
            if np.ndim(mean) == 0
            else f"series {quote(table['series'].iloc[row])}'s training rows'"
        )
        raise DataError(
            f"column {column!r} at {table['time'].iloc[row]}: "
            f"{table[column].iloc[row]:.6g} is {bad.size} value(s) beyond "
            f"float32's range (3.4e38) once scaled by {whose} mean "
            f"{center:.6g} and std {spread:.3g}; fix the value or {fix}"
        )


def _write_one_hot(out: np.ndarray, col: int, index: np.ndarray, width: int) -> int:
    """One-hot ``index`` into ``out[:, col:col + width]``; returns ``width``."""
    # Scattering ones avoids the N x width float64 block of np.eye(width)[index].
    out[:, col : col + width] = 0.0
    out[np.arange(len(index)), col + index] = 1.0
    return width


def _write_calendar(
    out: np.ndarray, col: int, times: pd.Series, name: str, timezone: str
) -> int:
    """Write the sin and cos of a calendar position at ``out[:, col:col + 2]``."""
    local = times.dt.tz_convert(timezone)
    position = {
        "hour_of_day": local.dt.hour + local.dt.minute / 60.0,
        "day_of_week": local.dt.day_of_week,
        "day_of_year": local.dt.day_of_year - 1,
    }[name].to_numpy("float64")
    angle = 2.0 * np.pi * position / CALENDAR_PERIODS[name]
    out[:, col] = np.sin(angle)
    out[:, col + 1] = np.cos(angle)
    return 2


def targets(table: pd.DataFrame, bundle: dict[str, Any]) -> dict[str, np.ndarray]:
    """Per task, one value per *row*: the window ending at ``e`` predicts rows
    ``e + step`` for each step of its horizon (``mtlstm.tasks.gather``).
    Regression targets are scaled, classes are int32 indices."""
    out = {}
    for spec in bundle["tasks"]:
        values = table[spec["target"]]
        if spec["type"] == "regression":
            mean, std = _scale_by(spec, table, bundle)
            with np.errstate(over="ignore"):  # an overflow is refused just below
                scaled = ((values.to_numpy("float64") - mean) / std).astype(np.float32)
            # A target that is not also an input is checked nowhere else: an
            # inf would silently become a NaN loss or score.
            _require_finite(scaled, table, spec, mean, std)
            out[spec["name"]] = scaled
        else:
            out[spec["name"]] = class_index(values, spec).astype(np.int32)
    return out


def check_classes_seen(
    labels: dict[str, np.ndarray], bundle: dict, fit_rows: int | np.ndarray
) -> None:
    """A class that first appears after the training range cannot be learned.

    ``fit_rows``: the training rows, as a count of leading rows or a mask."""
    problems = classes_unseen(labels, bundle, fit_rows)
    if problems:
        name, label, rows = problems[0]
        raise DataError(
            f"tasks.{name}: class {label!r} occurs after the training "
            f"time range ({rows} rows) but never inside it; adjust "
            f"tasks.{name}.bins/classes or split.train"
        )


def classes_unseen(
    labels: dict[str, np.ndarray], bundle: dict, fit_rows: int | np.ndarray
) -> list[tuple[str, str, int]]:
    """Per classification task, the first class that occurs after the
    training rows but never inside them: ``(task, class, rows after)``."""
    if isinstance(fit_rows, np.ndarray):
        train, rest = fit_rows, ~fit_rows
    else:
        train, rest = slice(None, fit_rows), slice(fit_rows, None)
    found = []
    for spec in bundle["tasks"]:
        if spec["type"] == "regression":
            continue
        seen = set(np.unique(labels[spec["name"]][train]).tolist())
        later = labels[spec["name"]][rest]
        unseen = np.flatnonzero(~np.isin(later, list(seen)))
        if unseen.size:
            label = spec["classes"][int(later[unseen[0]])]
            found.append((spec["name"], label, int(unseen.size)))
    return found


def window_ends(segment: np.ndarray, lookback: int, max_horizon: int) -> np.ndarray:
    """End rows of every complete window whose span stays inside one segment.

    A window ending at ``e`` spans rows ``e - lookback + 1 .. e + max_horizon``
    (its inputs and the targets of every step of every task). Segments are runs
    of consecutive grid rows: a new segment starts after a long gap (and can
    start at a new series), so a window whose last target step would cross any
    such break is dropped, like one that would run past the last row."""
    n = len(segment)
    ends = np.arange(lookback - 1, n - max_horizon, dtype=np.int64)
    if ends.size == 0:
        raise DataError(
            f"only {n} rows, but one window needs lookback {lookback} + horizon "
            f"{max_horizon} = {lookback + max_horizon} rows; use more data or shorten "
            "window.lookback / tasks.*.horizon"
        )
    same = segment[ends - lookback + 1] == segment[ends + max_horizon]
    if not same.any():
        # A segment also ends where a series does: in a panel of short series
        # without any gap, filling more would not help; the longest run says so.
        longest = int(np.unique(segment, return_counts=True)[1].max())
        raise DataError(
            f"no window of {lookback + max_horizon} rows fits between the long gaps "
            f"or within one series (the longest run of consecutive rows holds "
            f"{longest}; see data/ingest_summary.json); shorten window.lookback / "
            "tasks.*.horizon, or raise ingest.max_fill to fill more gaps"
        )
    return ends[same]
