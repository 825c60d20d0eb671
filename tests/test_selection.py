"""train.selection (mtlstm.selection): which epoch is kept and when training stops.

The callbacks run on a real tiny Keras model; the per-epoch validation losses
are hand-written sequences, so the expected epoch is worked out by hand.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
from test_training_logs import BUNDLE, TASK, _arrays, _KillAfterEpoch, _Killed

from mtlstm.config import Train
from mtlstm.model import build_model, compile_model
from mtlstm.resume import EpochCheckpoint
from mtlstm.selection import TaskRatioStopping, make_stopper, ratio_scores
from mtlstm.tf_setup import make_deterministic
from mtlstm.training import fit

TASKS = [
    {"name": "a", "type": "regression", "horizon": 1},
    {"name": "b", "type": "regression", "horizon": 1},
]


def _model(tasks=TASKS) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = build_model(2, 3, tasks, [4], 0.0)
    compile_model(model, tasks, {t["name"]: 1.0 for t in tasks}, 0.01)
    return model


def _run(stopper, model, losses, first=0, checkpoint=None):
    """Feed ``losses`` (per epoch: {task: val loss}) as fit would; each epoch's
    weights are set to that epoch's number, so the kept epoch can be read back.
    Returns the epochs run before the stopper stopped training."""
    callbacks = [stopper] + ([checkpoint] if checkpoint else [])
    for cb in callbacks:
        cb.set_model(model)
    model.stop_training = False
    for cb in callbacks:
        cb.on_train_begin()
    ran = []
    for epoch in range(first, len(losses)):
        model.set_weights([np.full_like(w, epoch) for w in model.get_weights()])
        logs = {f"val_{k}_loss": v for k, v in losses[epoch].items()}
        logs["val_loss"] = sum(losses[epoch].values())
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs)
        ran.append(epoch)
        if model.stop_training:
            break
    for cb in callbacks:
        cb.on_train_end()
    return ran


def _kept_epoch(model) -> int:
    return int(model.get_weights()[0].flat[0])


def test_ratio_scores_by_hand():
    history = [[2.0, 1.0], [1.0, 2.0], [1.5, 1.1]]
    # best per task: 1.0 and 1.0; means: (2+1)/2, (1+2)/2, (1.5+1.1)/2
    np.testing.assert_allclose(ratio_scores(history), [1.5, 1.5, 1.3])


# Task a improves until epoch 5; task b is best at epoch 1 and then over-fits.
# The summed loss is lowest at epoch 1 (0.5 + 0.10) = 0.60 vs epoch 5's 0.61.
CURVES = [
    {"a": 1.0, "b": 0.20},
    {"a": 0.5, "b": 0.10},
    {"a": 0.45, "b": 0.16},
    {"a": 0.44, "b": 0.18},
    {"a": 0.42, "b": 0.20},
    {"a": 0.40, "b": 0.21},
    {"a": 0.41, "b": 0.22},
    {"a": 0.43, "b": 0.25},
    {"a": 0.45, "b": 0.30},
]


def test_total_stops_on_the_summed_loss_and_keeps_its_best_epoch():
    model = _model()
    ran = _run(make_stopper("total", ["a", "b"], patience=3), model, CURVES)
    # sums: 1.2, .6, .61, .62, .62, .61, .63 -> best epoch 1, stop after 1 + 3
    assert ran[-1] == 4
    assert _kept_epoch(model) == 1


def test_total_under_uncertainty_balancing_follows_the_weighted_total():
    # val_loss (the plain sum) keeps falling; the total the model minimises,
    # val_loss_uncertainty_weighted, is best at epoch 0: that decides.
    from mtlstm.balancing import uncertainty_weighted

    model = uncertainty_weighted(_model())
    compile_model(model, TASKS, {"a": 1.0, "b": 1.0}, 0.01)
    stopper = make_stopper("total", ["a", "b"], patience=2)
    stopper.set_model(model)
    model.stop_training = False
    stopper.on_train_begin()
    assert stopper.monitor == "val_loss_uncertainty_weighted"
    ran = []
    for epoch, weighted in enumerate([-1.0, -0.5, -0.4, -0.3]):
        model.set_weights([np.full_like(w, epoch) for w in model.get_weights()])
        logs = {
            "val_loss": 1.0 - 0.1 * epoch,
            "val_loss_uncertainty_weighted": weighted,
        }
        stopper.on_epoch_end(epoch, logs)
        ran.append(epoch)
        if model.stop_training:
            break
    stopper.on_train_end()
    assert ran == [0, 1, 2]
    assert _kept_epoch(model) == 0
    # A plain model's total is val_loss.
    plain = make_stopper("total", ["a", "b"], patience=2)
    plain.set_model(_model())
    plain.on_train_begin()
    assert plain.monitor == "val_loss"


def test_task_ratio_waits_for_every_task_and_keeps_the_balanced_epoch():
    model = _model()
    ran = _run(make_stopper("task_ratio", ["a", "b"], patience=3), model, CURVES)
    # a improves until epoch 5, then 3 epochs without any task improving: stop
    # at epoch 8. Relative scores (best a 0.40, best b 0.10):
    #   e1: (1.25 + 1.0)/2 = 1.125; e2: (1.125 + 1.6)/2 = 1.3625; e5: (1 + 2.1)/2
    assert ran[-1] == 8
    assert _kept_epoch(model) == 1


def test_task_ratio_prefers_a_later_epoch_good_for_both():
    curves = [dict(c) for c in CURVES]
    curves[5]["b"] = 0.11  # epoch 5: (1 + 1.1)/2 = 1.05 beats epoch 1's 1.125
    model = _model()
    _run(make_stopper("task_ratio", ["a", "b"], patience=3), model, curves)
    assert _kept_epoch(model) == 5


def test_ties_go_to_the_earlier_epoch():
    curves = [{"a": 1.0, "b": 1.0}, {"a": 1.0, "b": 1.0}, {"a": 2.0, "b": 2.0}]
    model = _model()
    ran = _run(make_stopper("task_ratio", ["a", "b"], patience=2), model, curves)
    assert (ran[-1], _kept_epoch(model)) == (2, 0)


@pytest.mark.parametrize("patience", [0, 1, 2, 4])
def test_with_one_task_it_is_plain_early_stopping(patience):
    """So single-task models train identically under either selection."""
    rng = np.random.default_rng(patience)
    curve = [{"a": float(v)} for v in 1 + rng.normal(0, 0.3, 30).cumsum() * 0.1]
    task = [TASKS[0]]
    results = []
    for selection in ("total", "task_ratio"):
        model = _model(task)
        ran = _run(make_stopper(selection, ["a"], patience), model, curve)
        results.append((ran[-1], _kept_epoch(model)))
    assert results[0] == results[1]


def test_a_one_head_model_that_logs_only_val_loss_is_read():
    stopper = TaskRatioStopping(["a"], patience=1)
    assert stopper.task_losses({"val_loss": 0.5}) == [0.5]


def test_missing_task_loss_is_a_clear_error():
    stopper = TaskRatioStopping(["a", "b"], patience=1)
    with pytest.raises(ValueError, match=r"needs 'val_b_loss' in the epoch logs"):
        stopper.task_losses({"val_a_loss": 0.5, "val_loss": 0.5})


def test_unknown_selection_is_refused():
    with pytest.raises(ValueError, match=r"selection must be one of"):
        make_stopper("best", ["a"], 1)


def test_only_pareto_epochs_keep_weights():
    model = _model()
    stopper = make_stopper("task_ratio", ["a", "b"], patience=10)
    _run(stopper, model, CURVES)
    # epoch 1 (best b) and 5 (best a) and 2, 3, 4 (a better than at 1, b worse
    # than at 1, each beaten by no single epoch on both tasks) stay candidates.
    assert sorted(stopper.candidates) == [1, 2, 3, 4, 5]


def test_resumed_run_keeps_the_same_epoch(tmp_path):
    """Killed after epoch 3, resumed from the checkpoint: same stop, same epoch."""
    whole = _model()
    ran_whole = _run(make_stopper("task_ratio", ["a", "b"], 3), whole, CURVES)

    first = _model()
    stopper = make_stopper("task_ratio", ["a", "b"], 3)
    checkpoint = EpochCheckpoint(tmp_path, "fp", stopper)
    _run(stopper, first, CURVES[:4], checkpoint=checkpoint)
    state = checkpoint.state
    assert state["epochs_done"] == 4

    second = _model()
    stopper = make_stopper("task_ratio", ["a", "b"], 3)
    checkpoint = EpochCheckpoint(tmp_path, "fp", stopper, state)
    ran = _run(stopper, second, CURVES, first=4, checkpoint=checkpoint)
    assert ran[-1] == ran_whole[-1]
    assert _kept_epoch(second) == _kept_epoch(whole) == 1
    assert stopper.history == [[c["a"], c["b"]] for c in CURVES]


# A run that diverges after epoch 3: NaN validation losses (and NaN weights)
# from then on. Ratios of the finite epochs (best a 1.0, best b 1.0): e0 1.5,
# e1 1.25 (the best), e2 1.6.
NAN = float("nan")
DIVERGED = [
    {"a": 1.0, "b": 2.0},
    {"a": 1.5, "b": 1.0},
    {"a": 1.4, "b": 1.8},
    *[{"a": NAN, "b": NAN}] * 3,
]


def test_task_ratio_keeps_the_best_finite_epoch_after_a_divergence():
    """A NaN epoch made every ratio NaN, and the epoch kept was the first
    candidate (epoch 0) whatever the losses; total keeps epoch 1 as well."""
    for selection in ("task_ratio", "total"):
        model = _model()
        ran = _run(make_stopper(selection, ["a", "b"], patience=2), model, DIVERGED)
        assert (selection, ran[-1], _kept_epoch(model)) == (selection, 3, 1)
    np.testing.assert_array_equal(
        ratio_scores([[1.0, 2.0], [1.5, 1.0], [NAN, NAN]]), [1.5, 1.25, np.inf]
    )


@pytest.mark.parametrize("selection", ["task_ratio", "total"])
def test_checkpoint_average_leaves_out_diverged_epochs(selection):
    """K = 4 over 3 finite epochs and NaN ones: the 3 finite epochs, best
    first; averaging a NaN epoch's weights made every forecast NaN."""
    from mtlstm.selection import EpochSnapshots

    model = _model()
    stopper = make_stopper(selection, ["a", "b"], patience=2)
    snapshots = EpochSnapshots(stopper)
    callbacks = [stopper, snapshots]
    for cb in callbacks:
        cb.set_model(model)
        cb.on_train_begin()
    for epoch, losses in enumerate(DIVERGED[:5]):
        model.set_weights([np.full_like(w, epoch) for w in model.get_weights()])
        logs = {f"val_{k}_loss": v for k, v in losses.items()}
        logs["val_loss"] = sum(losses.values())
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs)
    # total: e0 3.0, e1 2.5, e2 3.2; task_ratio: 1.5, 1.25, 1.6.
    kept = [int(w[0].flat[0]) for w in snapshots.best(4)]
    assert kept == [1, 0, 2]


@pytest.mark.parametrize(
    ("killed_under", "rerun_under"), [("task_ratio", "total"), ("total", "task_ratio")]
)
def test_a_checkpoint_of_the_other_rule_is_not_resumed(
    tmp_path, capsys, killed_under, rerun_under
):
    """The ablation's fingerprint leaves train.selection out (one task trains
    alike under either rule), but a checkpoint holds the stopper's state in its
    rule's format: a single-task run killed under one rule and rerun under the
    other crashed (KeyError 'best' or 'history'). It starts over instead, and
    ends as a fresh run under the new rule."""

    def run(selection: str, name: str, extra=None) -> list[np.ndarray]:
        make_deterministic(0)
        model = build_model(2, 3, [TASK], [4], 0.0)
        compile_model(model, [TASK], {"demand": 1.0}, 0.01)
        cfg = Train(loss_weights={"demand": 1.0}, selection=selection)
        cfg = dataclasses.replace(cfg, batch_size=16, epochs=3, patience=10)
        dirs = {"live": None, "resume": tmp_path / name}
        model, _ = fit(model, cfg, 0, _arrays(), BUNDLE, dirs, "fp", extra=extra)
        return model.get_weights()

    fresh = run(rerun_under, "fresh")
    with pytest.raises(_Killed):
        run(killed_under, "resume", [_KillAfterEpoch(1)])
    capsys.readouterr()
    rerun = run(rerun_under, "resume")
    assert "resuming" not in capsys.readouterr().out
    for a, b in zip(fresh, rerun, strict=True):
        np.testing.assert_array_equal(a, b)
