"""Seeded, deterministic TensorFlow, and safe loading of a trained model."""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf

# Imported for their registered Keras classes, which loading a model needs.
from mtlstm import balancing, model  # noqa: F401
from mtlstm.errors import DataError


def make_deterministic(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and demand deterministic kernels, so the
    same params and data give bit-identical weights and metrics."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def load_model(path: str | Path, task_names: list[str]) -> keras.Model:
    """Load a ``.keras`` file in safe mode and check it has one head per task."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: model file not found; run the train stage first")
    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a damaged archive
        raise DataError(
            f"{path}: cannot be loaded as a Keras model ({type(exc).__name__}: "
            f"{exc}); the file is corrupt or truncated, rerun `dvc repro -f train`"
        ) from None
    heads = sorted(model.output_names)
    if heads != sorted(task_names):
        raise DataError(
            f"{path}: model heads {heads} do not match the declared tasks "
            f"{sorted(task_names)}; retrain with `dvc repro train`"
        )
    return model
