"""Lazy windows with tf.data: batches are gathered from the ``N x F`` matrix.

Only window *end rows* flow through the pipeline; each batch gathers its
``batch x lookback x F`` block at once with one ``tf.gather``, so memory holds the
scaled matrix once, never ``N x T x F``.

Known-future inputs (``features.known_future``, recorded in the bundle as
``known_future``) are gathered the same way: for the window ending at row ``e``,
the bundle's known-future columns of rows ``e + 1 .. e + steps``, a
``batch x steps x K`` block per batch, from the same matrix. With them (or a
series code per row, ``train.series_embedding``) a batch's inputs are a dict by
the model's input names (``features``, ``known_future``, ``series``); without
either they are the window block alone, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from mtlstm import tasks

Matrix = np.ndarray | tf.Tensor


def as_tensor(values: Matrix, dtype: tf.DType | None = None) -> tf.Tensor:
    """``values`` as a tensor; one that already is one is shared, not copied.

    ``tf.constant`` copies a NumPy array: convert the ``N x F`` matrix once and
    pass the tensor to every ``make_dataset`` call (train and val) to hold it
    once, then drop the NumPy array.
    """
    if isinstance(values, tf.Tensor):
        return values if dtype is None else tf.cast(values, dtype)
    return tf.constant(values, dtype=dtype)


def make_dataset(
    scaled: Matrix,
    targets: dict[str, Matrix],
    ends: np.ndarray,
    bundle: dict[str, Any],
    batch_size: int,
    shuffle_seed: int | None = None,
    epochs: tuple[int, int] = (0, 1),
    series: Matrix | None = None,
    per_epoch: int | None = None,
) -> tf.data.Dataset:
    """Yield ``(x, {task: y})`` batches, in order, or, given a seed, one shuffled
    pass per epoch in ``range(*epochs)``; ``per_epoch``: only the first that many
    windows of each epoch's shuffled order (``train.shard: series``, where every
    worker must run the same steps; another epoch drops other windows).

    Epoch ``k``'s order depends only on ``(seed, k)``: a run resumed at epoch ``k``
    sees exactly the batches an uninterrupted run would. Fit it with
    ``steps_per_epoch=steps_per_epoch(len(ends), batch_size)``. ``scaled`` and
    ``targets`` may be NumPy arrays or tensors (see ``as_tensor``). ``series``:
    the series code of every row, when the model embeds it.
    """
    windows = _input_gatherer(
        scaled, bundle["lookback"], bundle.get("known_future"), series
    )
    # Per head: its per-row targets, the steps it forecasts, and whether its
    # batch of targets keeps the step axis (see mtlstm.tasks: every regression
    # head, and classification heads over a range).
    heads = {
        t["name"]: (
            as_tensor(targets[t["name"]]),
            tf.constant(tasks.steps(t)),
            t["type"] == "regression" or tasks.is_range(t),
        )
        for t in bundle["tasks"]
    }

    def gather(end: tf.Tensor) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        x = windows(end)
        ys = {}
        for name, (values, steps, keep_steps) in heads.items():
            # batch x S targets, gathered here: never stored per window.
            y = tf.gather(values, end[:, None] + steps[None, :])
            ys[name] = y if keep_steps else y[:, 0]
        return x, ys

    if shuffle_seed is None:
        ds = _end_batches(ends, batch_size)
    else:
        ds = _shuffled_epochs(ends, batch_size, shuffle_seed, epochs, per_epoch)
    return _gathered(ds, gather)


def input_names(model: Any) -> list[str]:
    """The names of a model's inputs (``features``, ``known_future``, ``series``)."""
    return [t.name for t in model.inputs]


def steps_per_epoch(n_windows: int, batch_size: int) -> int:
    return -(-n_windows // batch_size)


def _gathered(ds: tf.data.Dataset, gather: Callable) -> tf.data.Dataset:
    # Gathers run in parallel, but deterministic=True keeps the batches in their
    # order: the same seed still yields the same sequence, and resuming works.
    ds = ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def _end_batches(ends: np.ndarray, batch_size: int) -> tf.data.Dataset:
    return _batched(tf.constant(np.asarray(ends, dtype=np.int64)), batch_size)


def _batched(rows: tf.Tensor, batch_size: int) -> tf.data.Dataset:
    """Consecutive ``batch_size`` slices of the 1-D ``rows``, the last one short:
    the batches ``Dataset.batch`` makes, without batching element by element."""
    n = int(rows.shape[0])
    full = n // batch_size * batch_size
    whole = tf.reshape(rows[:full], [-1, batch_size])
    rest = tf.data.Dataset.from_tensors(rows[full:]).take(int(full < n))
    # Concatenated even when empty: every batch then has shape [None], as from
    # Dataset.batch, whether or not batch_size divides n.
    return tf.data.Dataset.from_tensor_slices(whole).concatenate(rest)


def _shuffled_epochs(
    ends: np.ndarray,
    batch_size: int,
    seed: int,
    epochs: tuple[int, int],
    per_epoch: int | None = None,
) -> tf.data.Dataset:
    all_ends = tf.constant(np.asarray(ends, dtype=np.int64))

    def one_epoch(epoch: tf.Tensor) -> tf.data.Dataset:
        key = tf.stack([tf.constant(seed, tf.int64), epoch])
        order = tf.random.experimental.stateless_shuffle(all_ends, seed=key)
        if per_epoch is not None:
            order = order[:per_epoch]
        return _batched(order, batch_size)

    return tf.data.Dataset.range(*epochs).flat_map(one_epoch)


def make_input_dataset(
    scaled: Matrix,
    ends: np.ndarray,
    bundle: dict[str, Any],
    batch_size: int,
    series: Matrix | None = None,
) -> tf.data.Dataset:
    """Yield input batches only, in order: for forecasting past the last row.

    The bundle gives the ``lookback`` and any ``known_future`` inputs (their
    columns are read at rows ``e + 1 .. e + steps``, which must exist);
    ``series``: per-row codes, for a model that embeds the series."""
    known_future = bundle.get("known_future")
    windows = _input_gatherer(scaled, bundle["lookback"], known_future, series)
    return _gathered(_end_batches(ends, batch_size), windows)


def _input_gatherer(
    scaled: Matrix,
    lookback: int,
    known_future: dict[str, Any] | None,
    series: Matrix | None,
) -> Callable:
    """From a batch of end rows to the model's inputs: the window block, or a
    dict of it and the known-future block and/or the series codes."""
    matrix = as_tensor(scaled, tf.float32)
    windows = _window_gatherer(matrix, lookback)
    if not known_future and series is None:
        return windows
    extra: dict[str, Callable] = {}
    if known_future:
        extra["known_future"] = _future_gatherer(matrix, known_future)
    if series is not None:
        codes = as_tensor(series, tf.int32)
        extra["series"] = lambda end: tf.gather(codes, end)

    def inputs(end: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"features": windows(end)} | {k: f(end) for k, f in extra.items()}

    return inputs


def _future_gatherer(matrix: tf.Tensor, known_future: dict[str, Any]) -> Callable:
    """A function from a batch of end rows to its ``batch x steps x K`` block:
    the known-future columns at rows ``e + 1 .. e + steps``."""
    offsets = tf.range(1, int(known_future["steps"]) + 1, dtype=tf.int64)
    columns = tf.constant(known_future["features"], dtype=tf.int64)

    def future(end: tf.Tensor) -> tf.Tensor:
        rows = tf.gather(matrix, end[:, None] + offsets[None, :])
        return tf.gather(rows, columns, axis=2)

    return future


def _window_gatherer(scaled: Matrix, lookback: int) -> Callable:
    """A function from a batch of end rows to its ``batch x lookback x F`` block."""
    matrix = as_tensor(scaled, tf.float32)
    offsets = tf.range(-lookback + 1, 1, dtype=tf.int64)

    def windows(end: tf.Tensor) -> tf.Tensor:
        return tf.gather(matrix, end[:, None] + offsets[None, :])

    return windows
