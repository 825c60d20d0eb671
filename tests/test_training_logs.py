"""Training logs name each task's loss and metrics, whatever the number of heads."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from mtlstm import plots
from mtlstm.config import Train
from mtlstm.model import build_model, compile_model
from mtlstm.tf_setup import make_deterministic
from mtlstm.training import fit

TASK = {"name": "demand", "type": "regression", "horizon": 1, "target": "Demand"}
BUNDLE = {"lookback": 3, "tasks": [TASK]}


def _arrays(n: int = 100) -> dict:
    rng = np.random.default_rng(0)
    scaled = rng.normal(size=(n, 2)).astype("float32")
    return {
        "scaled": scaled,
        "targets": {"demand": np.roll(scaled[:, 0], -1).copy()},
        "train": np.arange(2, 70),
        "val": np.arange(72, n - 1),
    }


def test_a_one_head_model_logs_and_plots_its_task_loss(tmp_path):
    # Keras logs only the total `loss` (weight x task loss) for one head; the
    # train stage's curves read `<task>_loss` (a one-task params.yaml crashed
    # train before). The weight is the compiled one: 0.5 here.
    model = build_model(2, 3, [TASK], [4], 0.0)
    compile_model(model, [TASK], {"demand": 0.5}, 0.01)
    cfg = dataclasses.replace(
        Train(loss_weights={"demand": 0.5}), batch_size=16, epochs=2, patience=10
    )
    dirs = {"live": tmp_path / "live", "resume": tmp_path / "resume"}
    model, _ = fit(model, cfg, 0, _arrays(), BUNDLE, dirs, "fp")
    history = model.history.history
    assert history["demand_loss"] == pytest.approx(np.array(history["loss"]) / 0.5)
    assert history["val_demand_loss"] == pytest.approx(
        np.array(history["val_loss"]) / 0.5
    )
    # Its metrics are named by the task too, as with several heads, in the
    # history and in DVCLive's files; no bare `mae` is left.
    assert {"demand_mae", "val_demand_mae"} <= set(history)
    assert not {"mae", "val_mae"} & set(history)
    logged = {p.name for p in (tmp_path / "live").rglob("*.tsv")}
    assert "demand_mae.tsv" in logged and "mae.tsv" not in logged
    curves = plots.training_curves(tmp_path / "live", TASK)
    validation = curves[curves["curve"] == "validation"]
    assert validation["epoch"].tolist() == [1, 2]
    assert validation["loss"].to_numpy() == pytest.approx(history["val_demand_loss"])


class _Killed(Exception):
    pass


class _KillAfterEpoch(keras.callbacks.Callback):
    """Stands for a kill once epoch ``epoch`` is checkpointed (it runs last)."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch == self.epoch:
            raise _Killed


def _live_files(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*.*")}


@pytest.mark.parametrize("killed_after", [0, 1])
def test_a_run_resumed_after_any_epoch_logs_the_same_curves(tmp_path, killed_after):
    """Killed after its first epoch, a run resumed with DVCLive's step 0 again
    (DVCLive reads a saved step 0 as nothing logged): the second epoch
    overwrote step 0 and the curves lost an epoch. The resumed run's files are
    those of an uninterrupted run, whichever epoch it was killed after."""
    cfg = dataclasses.replace(
        Train(loss_weights={"demand": 1.0}), batch_size=16, epochs=3, patience=10
    )

    def run(name: str, extra=None) -> None:
        make_deterministic(0)  # the same initial weights in every run
        model = build_model(2, 3, [TASK], [4], 0.0)
        compile_model(model, [TASK], {"demand": 1.0}, 0.01)
        dirs = {"live": tmp_path / name / "live", "resume": tmp_path / "resume"}
        fit(model, cfg, 0, _arrays(), BUNDLE, dirs, name, extra=extra)

    run("whole")
    with pytest.raises(_Killed):
        run("killed", [_KillAfterEpoch(killed_after)])
    run("killed")
    curves = plots.training_curves(tmp_path / "killed" / "live", TASK)
    assert curves[curves["curve"] == "validation"]["epoch"].tolist() == [1, 2, 3]
    whole, resumed = tmp_path / "whole" / "live", tmp_path / "killed" / "live"
    assert _live_files(resumed) == _live_files(whole)


def test_a_rerun_of_an_early_stopped_run_says_where_it_stopped(tmp_path, capsys):
    """Stopped early after epoch 2 of 6 and rerun from its checkpoint (killed
    before saving): the summary said "epoch 6 of 6", as if all 6 had trained."""
    # learning rate 0: every epoch has the same validation loss, so patience 1
    # stops the run after its second epoch.
    cfg = Train(loss_weights={"demand": 1.0}, learning_rate=0.0)
    cfg = dataclasses.replace(cfg, batch_size=16, epochs=6, patience=1)
    dirs = {"live": None, "resume": tmp_path / "resume"}
    for run in ("first", "rerun"):
        model = build_model(2, 3, [TASK], [4], 0.0)
        compile_model(model, [TASK], {"demand": 1.0}, 0.0)
        fit(model, cfg, 0, _arrays(), BUNDLE, dirs, "fp")
        out = capsys.readouterr().out
        assert "train: epoch 2 of 6 (stopped early)" in out, (run, out)
    assert "resuming after epoch 2 of 6" in out
