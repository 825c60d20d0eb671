"""Lazy windows with tf.data: batches are gathered from the ``N x F`` matrix.

Only batches of *positions* in the list of window end rows flow through the
pipeline; each batch gathers its ``batch x lookback x F`` block at once, so
memory holds the scaled matrix once, never ``N x T x F``.

The gathering is NumPy indexing (``tf.numpy_function``) of the arrays as
given, not ``tf.gather`` from tensors captured by the pipeline: whenever an
iterator is made, tf.data rewrites its graph (always, under op determinism),
and that held one more copy of every captured tensor, the ``N x F`` matrix
included (measured, TF 2.21). So the arrays may be memory maps
(``load_npy(..., mmap=True)``): only the rows the batches touch are read.

Known-future inputs (``features.known_future``, recorded in the bundle as
``known_future``) are gathered the same way: for the window ending at row ``e``,
the bundle's known-future columns of rows ``e + 1 .. e + steps``, a
``batch x steps x K`` block per batch, from the same matrix. With them (or a
series code per row, ``train.series_embedding``) a batch's inputs are a dict by
the model's input names (``features``, ``known_future``, ``series``); without
either they are the window block alone, as before.
"""

from __future__ import annotations

import itertools
import mmap
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from mtlstm import tasks

Matrix = np.ndarray | tf.Tensor
# Batches between two unmappings of the pages read from memory maps: 16 batches
# of 256 random windows map about 0.3 GB; unmapping after every batch cost a
# third of the gathering time (measured, M5-sized panel).
UNMAP_EVERY = 16


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
    ``steps_per_epoch=steps_per_epoch(len(ends), batch_size)``. ``scaled``,
    ``targets`` and ``ends`` may be NumPy arrays (memory maps too) or tensors;
    none is copied whole. ``series``: the series code of every row, when the
    model embeds it.
    """
    inputs, input_spec, sources = _input_gatherer(
        scaled, bundle["lookback"], bundle.get("known_future"), series
    )
    # Per head: its per-row targets, the steps it forecasts, and whether its
    # batch of targets keeps the step axis (see mtlstm.tasks: every regression
    # head, and classification heads over a range).
    heads = {
        t["name"]: (
            _array(targets[t["name"]]),
            tasks.steps(t),
            t["type"] == "regression" or tasks.is_range(t),
        )
        for t in bundle["tasks"]
    }
    spec = (
        input_spec,
        {
            name: tf.TensorSpec([None, steps.size] if keep else [None], values.dtype)
            for name, (values, steps, keep) in heads.items()
        },
    )

    def gather(end: np.ndarray) -> tuple[Any, dict[str, np.ndarray]]:
        ys = {}
        for name, (values, steps, keep_steps) in heads.items():
            # batch x S targets, gathered here: never stored per window.
            y = values[end[:, None] + steps[None, :]]
            ys[name] = y if keep_steps else y[:, 0]
        return inputs(end), ys

    n = len(ends)
    if shuffle_seed is None:
        positions = _position_batches(n, batch_size)
    else:
        positions = _shuffled_epochs(n, batch_size, shuffle_seed, epochs, per_epoch)
    ends = _checked_ends(ends, bundle["lookback"])
    sources += [values for values, _, _ in heads.values()]
    return _gathered(positions, ends, gather, spec, sources)


def input_names(model: Any) -> list[str]:
    """The names of a model's inputs (``features``, ``known_future``, ``series``)."""
    return [t.name for t in model.inputs]


def steps_per_epoch(n_windows: int, batch_size: int) -> int:
    return -(-n_windows // batch_size)


def _array(values: Matrix, dtype: Any = None) -> np.ndarray:
    """``values`` as a NumPy array: no copy of an array (or a memory map) that
    already has the dtype, nor of a CPU tensor."""
    return np.asarray(values, dtype=dtype)


def _checked_ends(ends: np.ndarray, lookback: int) -> np.ndarray:
    """The end rows as int64; one before row ``lookback - 1`` is refused: NumPy
    would wrap its negative rows around to the end of the matrix silently."""
    ends = _array(ends, np.int64)
    if ends.size and int(ends.min()) < lookback - 1:
        raise ValueError(
            f"window end row {int(ends.min())} has fewer than lookback={lookback} "
            "rows before it"
        )
    return ends


def _gathered(
    positions: tf.data.Dataset,
    ends: np.ndarray,
    gather: Callable,
    spec: Any,
    sources: list[np.ndarray],
) -> tf.data.Dataset:
    """Map each batch of positions in ``ends`` to ``gather`` of its end rows,
    a NumPy function returning arrays of the structure and dtypes of ``spec``
    from the arrays ``sources``."""
    flat_spec = tf.nest.flatten(spec)
    maps = _memory_maps([ends, *sources])
    _unmap(maps)  # the pages _checked_ends read
    batches = itertools.count(1)

    def numpy_batch(pos: np.ndarray) -> list[np.ndarray]:
        out = tf.nest.flatten(gather(ends[pos]))
        if next(batches) % UNMAP_EVERY == 0:
            _unmap(maps)
        return [
            np.asarray(a, s.dtype.as_numpy_dtype)
            for a, s in zip(out, flat_spec, strict=True)
        ]

    def batch(pos: tf.Tensor) -> Any:
        # stateful=False: the function only reads its arrays, so tf.data may run
        # it in parallel and prefetch (a stateful one would be run serially
        # under op determinism).
        flat = tf.numpy_function(
            numpy_batch, [pos], [s.dtype for s in flat_spec], stateful=False
        )
        for tensor, s in zip(flat, flat_spec, strict=True):
            tensor.set_shape(s.shape)
        return tf.nest.pack_sequence_as(spec, flat)

    # Batches are gathered in parallel, but deterministic=True keeps them in
    # their order: the same seed still yields the same sequence, and resuming
    # works.
    ds = positions.map(batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def _memory_maps(arrays: list[np.ndarray]) -> list[mmap.mmap]:
    """The distinct read-only memory maps (``np.load(..., mmap_mode="r")``)
    under ``arrays``; none where the OS cannot drop mapped pages (no ``madvise``)."""
    if not hasattr(mmap, "MADV_DONTNEED"):
        return []
    maps: dict[int, mmap.mmap] = {}
    for array in arrays:
        base = array
        while isinstance(base, np.ndarray):
            base = base.base
        # Read-only maps only (load_npy's): dropping the pages of a writable
        # copy-on-write map would drop what was written to it.
        if isinstance(base, mmap.mmap) and not array.flags.writeable:
            maps[id(base)] = base
    return list(maps.values())


def _unmap(maps: list[mmap.mmap]) -> None:
    """Unmap the pages read from ``maps``: they stay in the OS page cache, and a
    later batch maps them again, cheaply. Else every page the batches touched
    would count in this process's memory, and the kernel maps 16 at a time: 200
    batches of random windows mapped most of an M5-sized matrix (measured)."""
    for mapped in maps:
        mapped.madvise(mmap.MADV_DONTNEED)


def _position_dtype(n: int) -> tf.DType:
    # int32 halves the per-epoch permutation when it fits (a shuffle's order does
    # not depend on the dtype of what it permutes).
    return tf.int32 if n <= np.iinfo(np.int32).max else tf.int64


def _position_batches(n: int, batch_size: int) -> tf.data.Dataset:
    """Positions ``0 .. n-1`` in consecutive ``batch_size`` slices, the last one
    short, each made when needed: nothing of size ``n`` is held."""
    dtype = _position_dtype(n)

    def one_batch(i: tf.Tensor) -> tf.Tensor:
        start = tf.cast(i, dtype) * batch_size
        return tf.range(start, tf.minimum(start + batch_size, n), dtype=dtype)

    return tf.data.Dataset.range(steps_per_epoch(n, batch_size)).map(one_batch)


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
    n: int,
    batch_size: int,
    seed: int,
    epochs: tuple[int, int],
    per_epoch: int | None = None,
) -> tf.data.Dataset:
    """Per epoch, a permutation of the positions ``0 .. n-1`` keyed by
    ``(seed, epoch)``, in ``batch_size`` slices. Made inside the epoch, not
    captured: the permutation of the positions picks the end rows in the order
    the permutation of the end rows themselves had."""
    dtype = _position_dtype(n)

    def one_epoch(epoch: tf.Tensor) -> tf.data.Dataset:
        key = tf.stack([tf.constant(seed, tf.int64), epoch])
        everything = tf.range(n, dtype=dtype)
        order = tf.random.experimental.stateless_shuffle(everything, seed=key)
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
    lookback = bundle["lookback"]
    inputs, spec, sources = _input_gatherer(scaled, lookback, known_future, series)
    positions = _position_batches(len(ends), batch_size)
    return _gathered(positions, _checked_ends(ends, lookback), inputs, spec, sources)


# Windows appended after every batch's own, their outputs dropped: see
# forecast_windows. 32 covers the widest float32 packet of today's CPUs (16,
# AVX-512) twice over, for the fewest outputs per window (one).
BATCH_TAIL = 32


def forecast_windows(
    model: Any,
    scaled: Matrix,
    ends: np.ndarray,
    bundle: dict[str, Any],
    batch_size: int,
    series: Matrix | None = None,
) -> dict[str, np.ndarray]:
    """The model's outputs for the windows ending at ``ends``, in order.

    A window's forecast must not depend on the windows computed with it
    (evaluate and ``mtlstm predict`` see different windows around the same
    one), but TensorFlow's kernels round differently (1) for different batch
    sizes and (2) at the last few places of a batch, where a vectorised loop
    ends in scalar code (an AMD EPYC with AVX2 did so for a two-class
    softmax). So every batch the model sees holds the same ``batch_size +
    BATCH_TAIL`` windows: ``batch_size`` of its own (the last batch padded
    with copies of the last window) and ``BATCH_TAIL`` copies after them,
    whose outputs are dropped, so that no window of ``ends`` sits at a
    batch's end."""
    ends = np.asarray(ends)
    n = len(ends)
    pad = -n % batch_size
    padded = np.concatenate([ends, np.repeat(ends[-1:], pad)]) if pad else ends
    batches = padded.reshape(-1, batch_size)
    tails = np.repeat(batches[:, -1:], BATCH_TAIL, axis=1)
    seen = np.concatenate([batches, tails], axis=1).reshape(-1)
    ds = make_input_dataset(scaled, seen, bundle, batch_size + BATCH_TAIL, series)
    outputs = model.predict(ds, verbose=0)
    kept = []
    for name, value in outputs.items():
        value = np.asarray(value)
        value = value.reshape(len(batches), batch_size + BATCH_TAIL, *value.shape[1:])
        kept.append((name, value[:, :batch_size].reshape(-1, *value.shape[2:])[:n]))
    return dict(kept)


def _input_gatherer(
    scaled: Matrix,
    lookback: int,
    known_future: dict[str, Any] | None,
    series: Matrix | None,
) -> tuple[Callable, Any, list[np.ndarray]]:
    """From a batch of end rows to the model's inputs: the window block, or a
    dict of it and the known-future block and/or the series codes; the
    ``tf.TensorSpec`` structure of those inputs; and the arrays read."""
    matrix = _array(scaled, np.float32)
    n_features = matrix.shape[1]
    windows = _window_gatherer(matrix, lookback)
    window_spec = tf.TensorSpec([None, lookback, n_features], tf.float32)
    if not known_future and series is None:
        return windows, window_spec, [matrix]
    extra: dict[str, Callable] = {}
    spec = {"features": window_spec}
    if known_future:
        extra["known_future"] = _future_gatherer(matrix, known_future)
        shape = [None, int(known_future["steps"]), len(known_future["features"])]
        spec["known_future"] = tf.TensorSpec(shape, tf.float32)
    if series is not None:
        codes = _array(series, np.int32)
        extra["series"] = lambda end: codes[end]
        spec["series"] = tf.TensorSpec([None], tf.int32)

    def inputs(end: np.ndarray) -> dict[str, np.ndarray]:
        return {"features": windows(end)} | {k: f(end) for k, f in extra.items()}

    return inputs, spec, [matrix] if series is None else [matrix, codes]


def _future_gatherer(matrix: np.ndarray, known_future: dict[str, Any]) -> Callable:
    """A function from a batch of end rows to its ``batch x steps x K`` block:
    the known-future columns at rows ``e + 1 .. e + steps``."""
    offsets = np.arange(1, int(known_future["steps"]) + 1, dtype=np.int64)
    columns = np.asarray(known_future["features"], dtype=np.int64)

    def future(end: np.ndarray) -> np.ndarray:
        return matrix[end[:, None] + offsets[None, :]][:, :, columns]

    return future


def _window_gatherer(matrix: np.ndarray, lookback: int) -> Callable:
    """A function from a batch of end rows to its ``batch x lookback x F`` block."""
    offsets = np.arange(-lookback + 1, 1, dtype=np.int64)

    def windows(end: np.ndarray) -> np.ndarray:
        return matrix[end[:, None] + offsets[None, :]]

    return windows
