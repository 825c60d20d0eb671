"""Lazy windows with tf.data: batches are gathered from the ``N x F`` matrix.

Only window *end rows* flow through the pipeline; each batch gathers its
``batch x lookback x F`` block at once with one ``tf.gather``, so memory holds the
scaled matrix once, never ``N x T x F``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf


def make_dataset(
    scaled: np.ndarray,
    targets: dict[str, np.ndarray],
    ends: np.ndarray,
    bundle: dict[str, Any],
    batch_size: int,
    shuffle_seed: int | None = None,
    epochs: tuple[int, int] = (0, 1),
) -> tf.data.Dataset:
    """Yield ``(x, {task: y})`` batches, in order, or, given a seed, one shuffled
    pass per epoch in ``range(*epochs)``.

    Epoch ``k``'s order depends only on ``(seed, k)``: a run resumed at epoch ``k``
    sees exactly the batches an uninterrupted run would. Fit it with
    ``steps_per_epoch=steps_per_epoch(len(ends), batch_size)``.
    """
    windows = _window_gatherer(scaled, bundle["lookback"])
    heads = {
        t["name"]: (tf.constant(targets[t["name"]]), t["horizon"], t["type"])
        for t in bundle["tasks"]
    }

    def gather(end: tf.Tensor) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        x = windows(end)
        ys = {}
        for name, (values, horizon, kind) in heads.items():
            y = tf.gather(values, end + horizon)
            ys[name] = y[:, None] if kind == "regression" else y
        return x, ys

    if shuffle_seed is None:
        ds = _end_batches(ends, batch_size)
    else:
        ds = _shuffled_epochs(ends, batch_size, shuffle_seed, epochs)
    return ds.map(gather).prefetch(tf.data.AUTOTUNE)


def steps_per_epoch(n_windows: int, batch_size: int) -> int:
    return -(-n_windows // batch_size)


def _end_batches(ends: np.ndarray, batch_size: int) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices(np.asarray(ends, dtype=np.int64))
    return ds.batch(batch_size)


def _shuffled_epochs(
    ends: np.ndarray, batch_size: int, seed: int, epochs: tuple[int, int]
) -> tf.data.Dataset:
    all_ends = tf.constant(np.asarray(ends, dtype=np.int64))

    def one_epoch(epoch: tf.Tensor) -> tf.data.Dataset:
        key = tf.stack([tf.constant(seed, tf.int64), epoch])
        order = tf.random.experimental.stateless_shuffle(all_ends, seed=key)
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    return tf.data.Dataset.range(*epochs).flat_map(one_epoch)


def make_input_dataset(
    scaled: np.ndarray, ends: np.ndarray, lookback: int, batch_size: int
) -> tf.data.Dataset:
    """Yield input batches only, in order: for forecasting past the last row."""
    windows = _window_gatherer(scaled, lookback)
    ds = _end_batches(ends, batch_size)
    return ds.map(windows).prefetch(tf.data.AUTOTUNE)


def _window_gatherer(scaled: np.ndarray, lookback: int):
    """A function from a batch of end rows to its ``batch x lookback x F`` block."""
    matrix = tf.constant(scaled, dtype=tf.float32)
    offsets = tf.range(-lookback + 1, 1, dtype=tf.int64)

    def windows(end: tf.Tensor) -> tf.Tensor:
        return tf.gather(matrix, end[:, None] + offsets[None, :])

    return windows
