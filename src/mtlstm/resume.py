"""Resume a killed training run from its last completed epoch.

After every epoch the model (weights and optimizer state) and the early-stopping
state are saved under a directory, each file named for its epoch, and then
``state.json`` is replaced atomically: it is the commit point, so a kill at any
moment leaves either the previous epoch's complete state or the new one. A
fingerprint of the training inputs guards against resuming a different run.
Together with epoch-keyed shuffling (``make_dataset``), a resumed run ends with
the same weights as an uninterrupted one.

DVCLive's files (its curves and ``metrics.json``) are part of the checkpoint,
written after DVCLive has logged the epoch: a resumed run puts them back before
DVCLive continues, so they need not survive in the workspace. (DVC deletes a
stage's outputs before running it; keeping them with ``persist: true`` would
keep ``train`` out of DVC's run cache.)
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import keras
import numpy as np

# Imported for their registered Keras classes, which loading a model needs.
import mtlstm.balancing
import mtlstm.model  # noqa: F401
from mtlstm.io import atomic_path, read_json, write_json

STATE = "state.json"


def fingerprint(settings: dict[str, Any], files: list[Path]) -> str:
    """Digest of the training settings and the bytes of every input file."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for path in files:
        with open(path, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


def load(directory: Path, expected: str) -> tuple[keras.Model | None, dict | None]:
    """The saved model and state if they belong to this run; else start clean."""
    state = _own_state(directory, expected)
    if state is not None:
        model = keras.models.load_model(directory / state["model"], safe_mode=True)
        _set_rng_states(model, state["rng_states"])
        return model, state
    clear(directory)
    return None, None


def saved_epochs(directory: Path, expected: str) -> int:
    """The epochs done by the checkpoint in ``directory`` if it belongs to this
    run (``load`` would resume it), else 0; reads ``state.json`` only."""
    state = _own_state(directory, expected)
    return 0 if state is None else int(state["epochs_done"])


def _own_state(directory: Path, expected: str) -> dict | None:
    """The checkpoint's ``state.json`` if its fingerprint is ``expected``."""
    state_path = Path(directory) / STATE
    if not state_path.is_file():
        return None
    state = read_json(state_path)
    return state if state.get("fingerprint") == expected else None


def restore_live(directory: Path, state: dict, live_dir: Path) -> None:
    """Put back DVCLive's files as they were after the checkpoint's epoch."""
    shutil.rmtree(live_dir, ignore_errors=True)
    if not state.get("live"):
        return
    for name, text in read_json(Path(directory) / state["live"]).items():
        path = Path(live_dir) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))  # byte for byte, line ends too


def _live_files(live_dir: Path) -> dict[str, str]:
    """Every file DVCLive wrote under ``live_dir``, by relative path."""
    root = Path(live_dir)
    if not root.is_dir():
        return {}
    return {
        path.relative_to(root).as_posix(): path.read_bytes().decode("utf-8")
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _rng_states(model: keras.Model) -> dict[str, list[int]]:
    """Dropout's random state: a saved model does not carry it, and without it
    a resumed run would draw other dropout masks than an uninterrupted one."""
    return {
        layer.name: layer.seed_generator.state.numpy().tolist()
        for layer in model.layers
        if getattr(layer, "seed_generator", None) is not None
    }


def _set_rng_states(model: keras.Model, states: dict[str, list[int]]) -> None:
    for name, value in states.items():
        model.get_layer(name).seed_generator.state.assign(np.asarray(value, "int64"))


def clear(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


# The ablation stage's checkpoints: one folder per task, beside the model.
SINGLE_TASK_PREFIX = ".resume-single-"


def single_task_dir(folder: Path, task: str) -> Path:
    """Where the single-task model of ``task`` (ablation@task) checkpoints."""
    return Path(folder) / f"{SINGLE_TASK_PREFIX}{task}"


def remove_stale(folder: Path, prefix: str, keep: set[Path]) -> list[Path]:
    """Delete the checkpoint folders ``folder/<prefix>*`` not in ``keep``;
    return them, sorted.

    A finished run clears its own folder, so only a killed run leaves one, and
    its fingerprint makes a rerun ignore it if the run changed. But a folder
    that no declared run reads any more (its task or backtest removed or
    renamed) would stay forever. ``keep`` is built from the declared names
    rather than parsed from folder names, so a name that extends another
    (task ``a_b`` beside ``a``) is never mistaken for it."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = sorted(p for p in folder.glob(f"{prefix}*") if p.is_dir() and p not in keep)
    for path in stale:
        shutil.rmtree(path)
    return stale


class EpochCheckpoint(keras.callbacks.Callback):
    """Save what a resumed run needs after each epoch; restore early stopping."""

    def __init__(
        self,
        directory: Path,
        fingerprint: str,
        stopper: keras.callbacks.EarlyStopping,
        state: dict | None = None,
        writer: bool = True,
        live_dir: Path | None = None,
    ) -> None:
        """``live_dir``: DVCLive's folder, saved with each epoch (its callback
        must come before this one, so that the epoch is logged)."""
        super().__init__()
        self.directory, self.fingerprint = Path(directory), fingerprint
        self.stopper, self.state, self.writer = stopper, state, writer
        self.live_dir = None if live_dir is None else Path(live_dir)

    def on_train_begin(self, logs: dict | None = None) -> None:
        # EarlyStopping.on_train_begin has just reset itself; put back its past.
        if not self.state:
            return
        s = self.state["early_stopping"]
        if hasattr(self.stopper, "load_resume_state"):  # mtlstm.selection
            with np.load(self.directory / s["best_weights"]) as saved:
                self.stopper.load_resume_state(s, {k: saved[k] for k in saved.files})
            return
        self.stopper.wait, self.stopper.best = s["wait"], s["best"]
        self.stopper.best_epoch = s["best_epoch"]
        if s["best_weights"]:
            with np.load(self.directory / s["best_weights"]) as saved:
                self.stopper.best_weights = [saved[f"w{i}"] for i in range(len(saved))]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self.writer:  # a non-chief worker of a distributed run
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        model_name = f"epoch-{epoch}.keras"
        with atomic_path(self.directory / model_name, suffix=".keras") as tmp:
            self.model.save(tmp)
        early_stopping = self._stopper_state(epoch)
        live = None
        if self.live_dir is not None:
            live = f"live-{epoch}.json"
            write_json(self.directory / live, _live_files(self.live_dir))
        self.state = {
            "fingerprint": self.fingerprint,
            "epochs_done": epoch + 1,
            "stopped": bool(self.model.stop_training),
            "rng_states": _rng_states(self.model),
            "model": model_name,
            "early_stopping": early_stopping,
            "live": live,
        }
        write_json(self.directory / STATE, self.state)
        self._remove_stale()

    def _stopper_state(self, epoch: int) -> dict[str, Any]:
        """The stopper's state as JSON, its kept weights in ``best-<epoch>.npz``."""
        if hasattr(self.stopper, "resume_state"):  # mtlstm.selection
            meta, arrays = self.stopper.resume_state()
            return {**meta, "best_weights": self._save_arrays(epoch, arrays)}
        weights = self.stopper.best_weights
        arrays = {f"w{i}": np.asarray(w) for i, w in enumerate(weights or [])}
        return {
            "wait": int(self.stopper.wait),
            "best": None if self.stopper.best is None else float(self.stopper.best),
            "best_epoch": int(self.stopper.best_epoch),
            "best_weights": self._save_arrays(epoch, arrays) if weights else None,
        }

    def _save_arrays(self, epoch: int, arrays: dict[str, np.ndarray]) -> str:
        name = f"best-{epoch}.npz"
        with atomic_path(self.directory / name, suffix=".npz") as tmp:
            np.savez(tmp, **arrays)
        return name

    def _remove_stale(self) -> None:
        keep = {
            STATE,
            self.state["model"],
            self.state["early_stopping"]["best_weights"],
            self.state["live"],
        }
        for path in self.directory.iterdir():
            if path.name not in keep and not path.name.startswith("."):
                path.unlink(missing_ok=True)
