"""Quiet, seeded, deterministic TensorFlow. Import this before TensorFlow."""

from __future__ import annotations

import os

# TensorFlow prints several lines of C++ start-up logs unless told before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402


def make_deterministic(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and demand deterministic kernels, so the
    same params and data give bit-identical weights and metrics."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
