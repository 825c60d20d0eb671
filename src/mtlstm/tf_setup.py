"""Seeded, deterministic TensorFlow, and safe loading of a trained model."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

# Imported for their registered Keras classes, which loading a model needs.
import mtlstm.balancing
import mtlstm.model  # noqa: F401
from mtlstm.errors import DataError, shorten
from mtlstm.io import atomic_path


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
        reason = shorten(" ".join(str(exc).split()), 200)
        if _refused_by_safe_mode(exc):
            raise DataError(
                f"{path}: refused: the model holds code or objects that Keras safe "
                f"mode will not load ({type(exc).__name__}: {reason}); this pipeline "
                "never saves such a model, so the file was not produced by it. Do "
                "not load it with safe_mode=False; rebuild with `dvc repro -f train`"
            ) from None
        raise DataError(
            f"{path}: cannot be loaded as a Keras model ({type(exc).__name__}: "
            f"{reason}); the file is corrupt or truncated, rerun `dvc repro -f train`"
        ) from None
    heads = sorted(model.output_names)
    if heads != sorted(task_names):
        raise DataError(
            f"{path}: model heads {heads} do not match the declared tasks "
            f"{sorted(task_names)}; retrain with `dvc repro train`"
        )
    return model


# What Keras says when safe mode refuses a config entry: a Python lambda or a
# Lambda layer ("arbitrary code execution"), a function or class outside Keras
# and this package ("Could not locate", "not a KerasSaveable", "Could not
# deserialize"), a non-modeling Keras API ("disallowed").
SAFE_MODE_REFUSALS = (
    "safe_mode",
    "arbitrary code",
    "Could not locate",
    "Could not deserialize",
    "KerasSaveable",
    "disallowed",
)


def _refused_by_safe_mode(exc: Exception) -> bool:
    text = str(exc)
    return isinstance(exc, ValueError | TypeError) and any(
        marker in text for marker in SAFE_MODE_REFUSALS
    )


# Keras stamps the save time into a .keras archive and tags shared objects
# (dtype policy, initializers) with their memory address. A fresh model and the
# same model restored from a checkpoint share those objects differently, so the
# tags are dropped altogether: the same weights and architecture give the same
# bytes in any process and after a resume, so dvc.lock stays stable. The shared
# objects are stateless configuration; loading rebuilds one per use.
FIXED_DATE = "1980-01-01@00:00:00"


def save_model(model: keras.Model, path: str | Path) -> None:
    """Save atomically, with the archive's save time and entry dates fixed."""
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)
        _normalize_archive(tmp)


def _normalize_archive(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        entries = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in entries:
            if info.filename == "metadata.json":
                meta = json.loads(data)
                meta["date_saved"] = FIXED_DATE
                data = json.dumps(meta).encode()
            elif info.filename == "config.json":
                data = json.dumps(_drop_shared_ids(json.loads(data))).encode()
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = info.compress_type
            archive.writestr(fixed, data)


def _drop_shared_ids(node: Any) -> Any:
    """The config without ``shared_object_id`` keys (an ``id()`` per object)."""
    if isinstance(node, list):
        return [_drop_shared_ids(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {
        key: _drop_shared_ids(value)
        for key, value in node.items()
        if key != "shared_object_id"
    }
