"""train.checkpoint_average: each model is the mean of its run's K best epochs
by the selection rule (mtlstm.selection.EpochSnapshots), saved as one model."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import write_params
from test_ensemble import _cfg, _fit, _predict

from mtlstm.config import load_params
from mtlstm.errors import ConfigError
from mtlstm.selection import EpochSnapshots, TaskRatioStopping, TotalStopping

# --- config -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, r"train\.checkpoint_average: must be >= 1 \(1: the best epoch; K"),
        (-1, r"train\.checkpoint_average: must be >= 1 .*got -1"),
        (1.5, r"train\.checkpoint_average: expected an integer, got 1\.5"),
        ("2", r"train\.checkpoint_average: expected an integer"),
    ],
)
def test_checkpoint_average_must_be_a_positive_integer(
    tmp_path, raw_params, value, message
):
    raw_params["train"]["checkpoint_average"] = value
    with pytest.raises(ConfigError, match=message):
        load_params(write_params(tmp_path, raw_params))


def test_checkpoint_average_defaults_to_the_best_epoch(tmp_path, raw_params):
    raw_params["train"].pop("checkpoint_average", None)
    assert load_params(write_params(tmp_path, raw_params)).train.checkpoint_average == 1


# --- ranking, oracles from hand-made epoch logs ---------------------------------


def _tiny_model() -> keras.Model:
    inputs = keras.Input((1,))
    return keras.Model(inputs, keras.layers.Dense(1)(inputs))


def _run(snapshots: EpochSnapshots, logs: list[dict], first: int = 0) -> list:
    """Feed epoch logs; the weights of epoch e are all e (to tell them apart)."""
    model = _tiny_model()
    snapshots.set_model(model)
    snapshots.on_train_begin()
    for epoch, log in enumerate(logs[first:], start=first):
        model.set_weights([np.full_like(w, epoch) for w in model.get_weights()])
        snapshots.on_epoch_end(epoch, log)
    return model.get_weights()


def test_task_ratio_ranks_by_the_mean_loss_relative_to_each_tasks_best():
    stopper = TaskRatioStopping(["a", "b"], patience=3)
    logs = [
        {"val_a_loss": 2.0, "val_b_loss": 1.0},  # ratios 2.0, 1.0 -> 1.5
        {"val_a_loss": 1.0, "val_b_loss": 2.0},  # 1.0, 2.0 -> 1.5 (tie, later)
        {"val_a_loss": 1.2, "val_b_loss": 1.2},  # 1.2, 1.2 -> 1.2 (best)
        {"val_a_loss": 1.5, "val_b_loss": 1.5},  # 1.5, 1.5 -> 1.5 (tie, latest)
    ]
    snapshots = EpochSnapshots(stopper)
    _run(snapshots, logs)
    assert snapshots.ranked() == [2, 0, 1, 3]
    best = snapshots.best(2)
    assert [float(w[0].ravel()[0]) for w in best] == [2.0, 0.0]
    assert len(snapshots.best(10)) == 4  # fewer epochs than asked: all of them


def test_total_ranks_by_the_monitored_total():
    stopper = TotalStopping(patience=3)
    stopper.monitor = "val_loss"
    logs = [{"val_loss": v} for v in (3.0, 1.0, 2.0, 1.0)]
    snapshots = EpochSnapshots(stopper)
    _run(snapshots, logs)
    assert snapshots.ranked() == [1, 3, 2, 0]


def test_snapshots_written_each_epoch_are_read_back_on_resume(tmp_path):
    stopper = TotalStopping(patience=3)
    stopper.monitor = "val_loss"
    logs = [{"val_loss": v} for v in (3.0, 1.0, 2.0, 0.5)]
    whole = EpochSnapshots(stopper, tmp_path)
    _run(whole, logs[:2])  # "killed" after epoch 2
    assert sorted(p.name for p in (tmp_path / ".snapshots").iterdir()) == [
        "epoch-0.npz",
        "epoch-1.npz",
    ]
    resumed = EpochSnapshots(stopper, tmp_path, first=2)
    _run(resumed, logs, first=2)
    uninterrupted = EpochSnapshots(stopper)
    _run(uninterrupted, logs)
    assert resumed.ranked() == uninterrupted.ranked() == [3, 1, 2, 0]
    for ours, theirs in zip(resumed.best(4), uninterrupted.best(4), strict=True):
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_array_equal(a, b)


def test_a_missing_snapshot_stops_the_resumed_run_with_the_fix(tmp_path):
    stopper = TotalStopping(patience=3)
    snapshots = EpochSnapshots(stopper, tmp_path, first=1)
    snapshots.set_model(_tiny_model())
    with pytest.raises(
        RuntimeError,
        match=r"checkpoint_average: the weights of epoch 1, needed to resume after "
        r"epoch 1, are missing .*delete the resume folder",
    ):
        snapshots.on_train_begin()


# --- training and averaging ---------------------------------------------------


def test_the_saved_model_averages_the_k_best_epochs_of_the_run(tmp_path):
    """K = 2 over a 3-epoch run: the first model is the run's kept (best) epoch,
    exactly the model of checkpoint_average 1; the second holds another
    epoch's weights; the averaged model's heads are their mean."""
    from mtlstm.model import average_models

    members, bundle, arrays = _fit(_cfg(epochs=3, checkpoint_average=2), tmp_path, "k2")
    alone, _, _ = _fit(_cfg(epochs=3), tmp_path, "k1")
    assert len(members) == 2 and len(alone) == 1
    for ours, theirs in zip(members[0].weights, alone[0].weights, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert any(
        not np.array_equal(a.numpy(), b.numpy())
        for a, b in zip(members[0].weights, members[1].weights, strict=True)
    )
    both = [_predict(m, bundle, arrays) for m in members]
    averaged = _predict(average_models(members), bundle, arrays)
    for name, out in averaged.items():
        np.testing.assert_allclose(
            out, (both[0][name] + both[1][name]) / 2, rtol=1e-5, atol=1e-6
        )


def test_checkpoint_average_composes_with_an_ensemble(tmp_path):
    members, _, _ = _fit(
        _cfg(epochs=2, ensemble=2, checkpoint_average=2), tmp_path, "both"
    )
    assert len(members) == 4


def test_a_rerun_resumes_the_snapshots_too(tmp_path, capsys):
    """Killed after training, before saving: the rerun restores the kept model
    and every snapshot from the resume folder, the same members as before."""
    cfg = _cfg(epochs=3, checkpoint_average=3)
    first, _, _ = _fit(cfg, tmp_path, "resume")
    capsys.readouterr()
    again, _, _ = _fit(cfg, tmp_path, "resume")
    assert "train: resuming after epoch 3 of 3" in capsys.readouterr().out
    assert len(first) == len(again) == 3
    for old, new in zip(first, again, strict=True):
        for a, b in zip(old.weights, new.weights, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_rerun_of_an_early_stopped_run_resumes_its_snapshots(tmp_path, capsys):
    """Stopped early (epoch 2 of 6), killed before saving: the rerun reads
    back the snapshots of the epochs the run trained, not of all 6 (there are
    only 2), and gives the same members as before."""
    import json

    # learning rate 0: every epoch has the same validation loss, so patience 1
    # stops the run after its second epoch.
    cfg = _cfg(epochs=6, patience=1, learning_rate=0.0, checkpoint_average=2)
    first, _, _ = _fit(cfg, tmp_path, "stopped")
    state = json.loads((tmp_path / "stopped" / "state.json").read_text())
    assert state["stopped"] and state["epochs_done"] == 2
    again, _, _ = _fit(cfg, tmp_path, "stopped")
    assert len(first) == len(again) == 2
    for old, new in zip(first, again, strict=True):
        for a, b in zip(old.weights, new.weights, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


class _StopFirstRunAfterTwoEpochs(keras.callbacks.Callback):
    """Early stopping for the first member only: its run keeps 2 epochs, fewer
    than K = 3 (as patience 1 can stop a run), while the next member runs on."""

    def __init__(self) -> None:
        super().__init__()
        self.first = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.first = self.first or self.model
        if self.model is self.first and epoch == 1:
            self.model.stop_training = True


def test_members_with_fewer_epochs_than_k_weigh_as_much_as_the_others(tmp_path):
    """ensemble 2, checkpoint_average 3, member 1 stopped after 2 epochs: the
    saved model is the mean of the two members' means (1/2 each), not the mean
    of the 5 models, which gave member 1 weight 2/5."""
    from test_ensemble import _data

    from mtlstm.model import average_groups, make_model
    from mtlstm.tf_setup import load_model, save_model
    from mtlstm.training import fit_member_groups

    cfg = _cfg(epochs=4, patience=10, ensemble=2, checkpoint_average=3)
    bundle, arrays = _data()
    n_features = arrays["scaled"].shape[1]
    groups = fit_member_groups(
        lambda _: make_model(cfg, bundle, n_features),
        cfg,
        7,
        arrays,
        bundle,
        {"live": None, "resume": tmp_path / "resume"},
        "test",
        extra=[_StopFirstRunAfterTwoEpochs()],
    )
    assert [len(group) for group in groups] == [2, 3]
    outputs = [[_predict(m, bundle, arrays) for m in group] for group in groups]
    path = tmp_path / "model.keras"
    save_model(average_groups(groups), path)
    # Saved and loaded as the train stage and evaluate do (safe mode).
    got = _predict(load_model(path, ["demand", "temp_class"]), bundle, arrays)
    for name, out in got.items():
        means = [np.mean([o[name] for o in group], axis=0) for group in outputs]
        np.testing.assert_allclose(out, np.mean(means, axis=0), rtol=1e-5, atol=1e-6)


def test_groups_of_one_size_are_one_flat_mean(tmp_path):
    """Equal groups (every run kept K epochs): the model of one flat mean, as
    the train stage saved before, so its bytes do not change."""
    from mtlstm.model import average_groups, average_models
    from mtlstm.tf_setup import save_model

    members, _, _ = _fit(
        _cfg(epochs=2, ensemble=2, checkpoint_average=2), tmp_path, "both"
    )
    save_model(average_models(members), tmp_path / "flat.keras")
    save_model(average_groups([members[:2], members[2:]]), tmp_path / "groups.keras")
    flat, groups = (tmp_path / "flat.keras"), (tmp_path / "groups.keras")
    assert groups.read_bytes() == flat.read_bytes()
