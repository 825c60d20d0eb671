"""A task's shape: the steps ahead its head forecasts and, for regression, its
quantiles. Defined here once; every other module reads it through these
functions (config validates with them, window stores the shape in the bundle,
the dataset gathers targets, the model sizes the heads, baselines, metrics,
evaluate and predict index forecasts by step and quantile).

In ``params.yaml``:

- ``horizon: 3``: one step, the value 3 grid steps after the forecast origin;
- ``horizon: [1, 24]``: every step from 1 to 24 inclusive, forecast at once by
  one head (direct multi-output);
- ``quantiles: [0.1, 0.5, 0.9]`` (regression only): one forecast per quantile
  and step, trained with the pinball loss; 0.5 must be listed (the median is the
  point forecast) and pairs ``q, 1 - q`` make central intervals (0.1 and 0.9:
  the 80% interval).

A window ending at row ``e`` has target rows ``e + steps(spec)`` (``n x S``,
``S = 1`` for a scalar horizon). Targets are never stored per window: they are
gathered from the per-row target arrays on the fly (``gather``). A window is
usable only if every row from its first input to ``e + max_horizon`` lies in one
segment of consecutive grid rows (``mtlstm.window.window_ends``) and one split
range (``mtlstm.split``); a long gap, a split boundary and the end of the data
all drop the windows whose targets would cross them, and a boundary between two
series can be one more such break.

Forecast arrays, everywhere after the model ("with steps"): point forecasts and
actuals ``n x S``, class probabilities ``n x S x C``, quantiles ``n x S x Q``.
The heads output: regression ``n x S`` (``n x 1`` for a scalar horizon), with
quantiles ``n x S x Q``; classification ``n x C`` for a scalar horizon, else
``n x S x C``. A scalar horizon keeps every file byte for byte as it was before
ranges existed (``squeezed`` gives that stored form).

How a binned class task is decided: by default the most probable class of its
head (argmax). With ``decide_by: <regression task>`` (same target, same
horizon) it is the bin of that task's forecast instead, for every forecaster
that has one (the model, the single-task models, gradient boosting where
validation prefers it; ``decisions``). The head is still trained and still
gives the class probabilities (log-loss); only the class named changes.

Pure NumPy: no TensorFlow, so config and every stage can import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mtlstm.errors import ConfigError, quote

MAX_STEPS = 10_000  # a sanity cap on a horizon's last step
MEDIAN = 0.5
# Quantile levels q and 1 - q pair into a central interval when they sum to 1
# within this tolerance (0.1 + 0.9 is 0.9999999999999999 in floating point).
PAIR_TOLERANCE = 1e-9


# --- params.yaml: validation ---------------------------------------------------


def check_decide_by(key: str, task: Any, source: Any) -> None:
    """Validate ``decide_by`` of class task ``task`` (``key``: its params key),
    naming ``source`` (that task's params, or None when no task has the name)."""
    name = task.decide_by
    if task.type != "classification":
        raise ConfigError(f"{key}.decide_by: only for classification tasks")
    if task.bins is None:
        raise ConfigError(
            f"{key}.decide_by: only for a task with bins (its class is the bin of "
            "the regression forecast); remove decide_by"
        )
    if source is None or source.type != "regression":
        raise ConfigError(
            f"{key}.decide_by: {quote(name)} is not a regression task; name the "
            f"regression task that forecasts {quote(task.target)}"
        )
    if (source.target, source.horizon) != (task.target, task.horizon):
        raise ConfigError(
            f"{key}.decide_by: task {name!r} forecasts {quote(source.target)} at "
            f"horizon {source.horizon}, this task {quote(task.target)} at horizon "
            f"{task.horizon}; they must be the same target and horizon"
        )


def check(key: str, task_type: str, horizon: Any, quantiles: Any) -> None:
    """Validate a task's ``horizon`` and ``quantiles``; ConfigError naming the key."""
    last = bounds(horizon, f"{key}.horizon")[1]
    if last > MAX_STEPS:
        raise ConfigError(f"{key}.horizon: at most {MAX_STEPS} steps ahead, got {last}")
    if quantiles is None:
        return
    if task_type != "regression":
        raise ConfigError(f"{key}.quantiles: only for regression tasks")
    qs = list(quantiles)
    if not qs or any(not 0 < q < 1 for q in qs) or qs != sorted(set(qs)):
        raise ConfigError(
            f"{key}.quantiles: list levels strictly between 0 and 1 in increasing "
            f"order without repeats, e.g. [0.1, 0.5, 0.9]; got {quote(qs)}"
        )
    if MEDIAN not in qs:
        raise ConfigError(
            f"{key}.quantiles: must include 0.5 (the median is the point forecast "
            f"scored by MAE); got {quote(qs)}"
        )


def bounds(horizon: Any, key: str = "horizon") -> tuple[int, int]:
    """``(first, last)`` step of a horizon: ``h`` is ``(h, h)``, ``[a, b]`` is
    ``(a, b)``."""
    if isinstance(horizon, list | tuple):
        ok = len(horizon) == 2 and all(
            isinstance(h, int | np.integer) and not isinstance(h, bool) for h in horizon
        )
        if not ok or not 1 <= horizon[0] <= horizon[1]:
            raise ConfigError(
                f"{key}: a range is [first, last] with 1 <= first <= last, e.g. "
                f"[1, 24]; got {quote(horizon)}"
            )
        return int(horizon[0]), int(horizon[1])
    if horizon <= 0:
        raise ConfigError(f"{key}: must be >= 1, got {horizon}")
    return int(horizon), int(horizon)


# --- the shape of one task (a bundle spec or anything with those keys) -------


def is_range(spec: dict[str, Any]) -> bool:
    """Whether the horizon was given as a range (its heads have a step axis)."""
    return isinstance(spec["horizon"], list | tuple)


def steps(spec: dict[str, Any]) -> np.ndarray:
    """Every step ahead the task forecasts, ascending (``int64``)."""
    first, last = bounds(spec["horizon"])
    return np.arange(first, last + 1, dtype=np.int64)


def n_steps(spec: dict[str, Any]) -> int:
    first, last = bounds(spec["horizon"])
    return last - first + 1


def last_step(spec: dict[str, Any]) -> int:
    return bounds(spec["horizon"])[1]


def max_horizon(specs: Sequence[dict[str, Any]]) -> int:
    """How far past its end row every window needs data: the tasks' last step."""
    return max(last_step(s) for s in specs)


def quantiles(spec: dict[str, Any]) -> list[float] | None:
    """The task's quantile levels, or None for a point (or class) forecast."""
    qs = spec.get("quantiles")
    return None if qs is None else [float(q) for q in qs]


def median_index(spec: dict[str, Any]) -> int:
    return quantiles(spec).index(MEDIAN)  # type: ignore[union-attr]


def intervals(spec: dict[str, Any]) -> list[tuple[int, int, float]]:
    """Central intervals ``(lower index, upper index, level)``, widest first:
    every pair of levels ``q < 0.5`` and ``1 - q`` both listed."""
    qs = quantiles(spec) or []
    out = []
    for i, q in enumerate(qs):
        if q >= MEDIAN:
            break
        for j in range(len(qs) - 1, i, -1):
            if abs(q + qs[j] - 1.0) <= PAIR_TOLERANCE:
                out.append((i, j, round(qs[j] - q, 12)))
    return out


def level_name(level: float) -> str:
    """An interval's name in metric keys: 0.8 -> "80", 0.95 -> "95"."""
    return f"{100 * level:g}".replace(".", "_")


def quantile_name(q: float) -> str:
    """A quantile's column name in forecast CSVs: 0.1 -> "q0.1"."""
    return f"q{q:g}"


def describe(spec: dict[str, Any]) -> str:
    """How far ahead, in words: "1 step ahead", "steps 1-24 ahead"."""
    first, last = bounds(spec["horizon"])
    if is_range(spec):
        return f"steps {first}-{last} ahead"
    return f"{first} {'step' if first == 1 else 'steps'} ahead"


# --- arrays -----------------------------------------------------------------


def target_rows(ends: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """``n x S`` rows of the targets of the windows ending at ``ends``."""
    return np.asarray(ends, np.int64)[:, None] + steps(spec)[None, :]


def gather(per_row: np.ndarray, ends: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """``n x S`` targets of the windows ending at ``ends``, gathered from the
    one-value-per-row array (never stored per window)."""
    return np.asarray(per_row)[target_rows(ends, spec)]


def with_steps(spec: dict[str, Any], values: np.ndarray) -> np.ndarray:
    """A point forecast (``n x S``) or class probabilities (``n x S x C``) with
    the step axis, from a head's output or the stored (``squeezed``) form."""
    values = np.asarray(values)
    if spec["type"] == "regression":
        return values.reshape(len(values), n_steps(spec))
    return values.reshape(len(values), n_steps(spec), len(spec["classes"]))


def squeezed(spec: dict[str, Any], values: np.ndarray) -> np.ndarray:
    """The stored form of a ``with_steps`` array: a scalar-horizon task drops the
    step axis (``n``, or ``n x C``), as files held before ranges existed."""
    values = np.asarray(values)
    if is_range(spec):
        return values
    return values.reshape((len(values), *values.shape[2:]))


def at_step(spec: dict[str, Any], step: int) -> dict[str, Any]:
    """The one-step task forecasting ``step`` ahead (a per-step baseline's view)."""
    return {**spec, "horizon": int(step)}


# --- class decisions ----------------------------------------------------------


def bin_index(spec: dict[str, Any], values: np.ndarray) -> np.ndarray:
    """The class (bin) of each value: ``bins`` are the edges, a value on an edge
    belongs to the upper class (as the targets are binned in mtlstm.window)."""
    edges = np.asarray(spec["bins"], dtype=np.float64)
    return np.searchsorted(edges, np.asarray(values, np.float64), side="right")


def decided_by(spec: dict[str, Any]) -> str | None:
    """The regression task whose forecast decides this class task, or None."""
    return spec.get("decide_by")


def decisions(
    specs: Sequence[dict[str, Any]], forecasts: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """``{class task: n x S classes}`` for each task with ``decide_by`` whose
    regression task is in ``forecasts`` (point forecasts with steps, original
    units); a task left out is decided by its head's argmax."""
    return {
        spec["name"]: bin_index(spec, forecasts[decided_by(spec)])
        for spec in specs
        if decided_by(spec) in forecasts
    }


def classes_of(proba: np.ndarray, decided: np.ndarray | None = None) -> np.ndarray:
    """The class named by a forecast: ``decided`` where given, else the most
    probable class (argmax over the last axis of ``proba``)."""
    if decided is not None:
        return np.asarray(decided, np.int64).reshape(np.shape(proba)[:-1])
    return np.argmax(proba, axis=-1)
