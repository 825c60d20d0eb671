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
) -> tf.data.Dataset:
    """Yield ``(x, {task: y})`` batches; shuffled (seeded) only if a seed is given."""
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

    ds = tf.data.Dataset.from_tensor_slices(np.asarray(ends, dtype=np.int64))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(ends), seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).map(gather).prefetch(tf.data.AUTOTUNE)


def make_input_dataset(
    scaled: np.ndarray, ends: np.ndarray, lookback: int, batch_size: int
) -> tf.data.Dataset:
    """Yield input batches only, in order: for forecasting past the last row."""
    windows = _window_gatherer(scaled, lookback)
    ds = tf.data.Dataset.from_tensor_slices(np.asarray(ends, dtype=np.int64))
    return ds.batch(batch_size).map(windows).prefetch(tf.data.AUTOTUNE)


def _window_gatherer(scaled: np.ndarray, lookback: int):
    """A function from a batch of end rows to its ``batch x lookback x F`` block."""
    matrix = tf.constant(scaled, dtype=tf.float32)
    offsets = tf.range(-lookback + 1, 1, dtype=tf.int64)

    def windows(end: tf.Tensor) -> tf.Tensor:
        return tf.gather(matrix, end[:, None] + offsets[None, :])

    return windows
