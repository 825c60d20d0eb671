"""train.class_weighting and train.focal_gamma: the classification heads' loss."""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
import pytest

from mtlstm.config import Train
from mtlstm.model import (
    ClassLoss,
    balanced_class_weights,
    make_model,
    make_single_task_model,
    task_losses,
    training_class_weights,
)
from mtlstm.tf_setup import load_model

REG = {"name": "demand", "type": "regression", "horizon": 1}
CLS = {
    "name": "level",
    "type": "classification",
    "horizon": 2,
    "classes": ["low", "mid", "high"],
}
LABELS = np.array([0, 1, 1, 2])
PROBS = np.array(
    [[0.5, 0.25, 0.25], [0.2, 0.6, 0.2], [0.1, 0.8, 0.1], [0.25, 0.25, 0.5]],
    dtype=np.float32,
)


def _cfg(**kw) -> Train:
    base = Train(loss_weights={"demand": 1.0, "level": 1.0}, layers=[4])
    return dataclasses.replace(base, **kw)


def test_unit_weights_and_no_focus_are_keras_sparse_cross_entropy():
    # mean(-ln .5, -ln .6, -ln .8, -ln .5)
    expected = -(2 * math.log(0.5) + math.log(0.6) + math.log(0.8)) / 4
    ours = float(ClassLoss([1.0, 1.0, 1.0])(LABELS, PROBS))
    keras_ce = float(keras.losses.SparseCategoricalCrossentropy()(LABELS, PROBS))
    assert ours == pytest.approx(expected, rel=1e-6)
    assert ours == pytest.approx(keras_ce, rel=1e-6)


def test_weighted_focal_loss_by_hand():
    # -w[y] (1 - p_y)^2 ln p_y with w = [2, 1, 3], averaged over the 4 windows:
    # 2 * .25 * -ln .5, 1 * .16 * -ln .6, 1 * .04 * -ln .8, 3 * .25 * -ln .5
    terms = [
        2 * 0.25 * -math.log(0.5),
        1 * 0.16 * -math.log(0.6),
        1 * 0.04 * -math.log(0.8),
        3 * 0.25 * -math.log(0.5),
    ]
    loss = ClassLoss([2.0, 1.0, 3.0], gamma=2.0)(LABELS, PROBS)
    assert float(loss) == pytest.approx(sum(terms) / 4, rel=1e-6)


def test_class_weights_alone_scale_each_windows_cross_entropy():
    weighted = float(ClassLoss([2.0, 1.0, 3.0])(LABELS, PROBS))
    expected = -(2 * math.log(0.5) + math.log(0.6) + math.log(0.8) + 3 * math.log(0.5))
    assert weighted == pytest.approx(expected / 4, rel=1e-6)


def test_loss_accepts_labels_with_a_trailing_axis():
    flat = float(ClassLoss([2.0, 1.0, 3.0], 1.0)(LABELS, PROBS))
    column = float(ClassLoss([2.0, 1.0, 3.0], 1.0)(LABELS[:, None], PROBS))
    assert flat == column


def test_balanced_weights_by_hand():
    # n = 4, k = 3: class 0 (1 window) 4/3, class 1 (2 windows) 2/3, class 2 4/3
    assert balanced_class_weights(LABELS, 3) == pytest.approx([4 / 3, 2 / 3, 4 / 3])
    # The mean weight over the labels is 1: the loss keeps its scale.
    weights = np.asarray(balanced_class_weights(LABELS, 3))
    assert weights[LABELS].mean() == pytest.approx(1.0)


def test_balanced_weights_give_an_absent_class_one():
    # present k = 2: class 0 (3 windows) 4/6, class 2 (1 window) 4/2
    assert balanced_class_weights([0, 0, 0, 2], 3) == pytest.approx([2 / 3, 1, 2])


@pytest.mark.parametrize("labels", [[0, 3], []], ids=["out-of-range", "empty"])
def test_balanced_weights_reject_labels_that_are_not_class_indices(labels):
    with pytest.raises(ValueError, match=r"labels must be class indices 0\.\.2"):
        balanced_class_weights(labels, 3)


def test_training_class_weights_count_only_the_training_windows_labels():
    # Rows' classes; window end e is labelled by row e + horizon (2).
    rows = np.array([2, 2, 0, 1, 1, 2, 2, 2, 2, 2], dtype=np.int32)
    targets = {"level": rows, "demand": np.zeros(10, np.float32)}
    bundle = {"tasks": [REG, CLS]}
    # ends 0, 1, 2 -> rows 2, 3, 4 -> labels 0, 1, 1: [3/2, 3/4, 1 (absent)];
    # the later (validation) rows, all class 2, must not count.
    weights = training_class_weights(
        _cfg(class_weighting="balanced"), bundle, targets, [0, 1, 2]
    )
    assert weights == {"level": pytest.approx([1.5, 0.75, 1.0])}
    assert training_class_weights(_cfg(), bundle, targets, [0, 1, 2]) == {}


def test_losses_stay_keras_names_when_both_options_are_off():
    cfg = _cfg(losses={"demand": "mae"})
    assert task_losses(cfg, [REG, CLS]) == {"demand": "mae"}


def test_classification_heads_get_the_weighted_focal_loss():
    cfg = _cfg(class_weighting="balanced", focal_gamma=2.0, losses={"demand": "mae"})
    losses = task_losses(cfg, [REG, CLS], {"level": [1.5, 0.75, 1.0]})
    assert losses["demand"] == "mae"
    assert isinstance(losses["level"], ClassLoss)
    assert losses["level"].class_weights == [1.5, 0.75, 1.0]
    assert losses["level"].gamma == 2.0
    focal_only = task_losses(_cfg(focal_gamma=1.0), [REG, CLS])["level"]
    assert (focal_only.class_weights, focal_only.gamma) == ([1.0, 1.0, 1.0], 1.0)


@pytest.mark.parametrize("weights", [None, {}, {"level": [1.0, 2.0]}])
def test_balanced_without_the_training_weights_is_an_error(weights):
    with pytest.raises(ValueError, match=r"no 3 class weights for 'level'"):
        task_losses(_cfg(class_weighting="balanced"), [REG, CLS], weights)


@pytest.mark.parametrize("balancing", ["fixed", "uncertainty"])
def test_compiled_model_trains_on_the_weighted_loss_and_reloads(tmp_path, balancing):
    cfg = _cfg(class_weighting="balanced", focal_gamma=2.0, loss_balancing=balancing)
    bundle = {"tasks": [REG, CLS], "lookback": 3}
    model = make_model(cfg, bundle, 2, {"level": [1.5, 0.75, 1.0]})
    x = np.random.default_rng(0).normal(size=(8, 3, 2)).astype(np.float32)
    y = {"demand": np.zeros((8, 1), np.float32), "level": np.arange(8) % 3}
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    # Reloaded with its compiled loss (as a resumed run does), then for scoring.
    again = keras.models.load_model(path, safe_mode=True)
    assert isinstance(again.loss["level"], ClassLoss)
    assert again.loss["level"].get_config() == model.loss["level"].get_config()
    before = model.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    after = again.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    assert after == pytest.approx(before, rel=1e-6)
    np.testing.assert_array_equal(
        load_model(path, ["demand", "level"]).predict(x, verbose=0)["level"],
        model.predict(x, verbose=0)["level"],
    )


def test_single_task_model_gets_the_same_class_loss():
    cfg = _cfg(class_weighting="balanced", focal_gamma=0.5)
    bundle = {"tasks": [CLS], "lookback": 3}
    model = make_single_task_model(cfg, bundle, 2, {"level": [1.5, 0.75, 1.0]})
    loss = model.loss["level"]
    assert isinstance(loss, ClassLoss)
    assert (loss.class_weights, loss.gamma) == ([1.5, 0.75, 1.0], 0.5)


def test_train_stage_weighs_classes_by_its_training_windows_only(tmp_path, raw_params):
    """stages/train.py compiles the balanced weights of the training windows'
    labels, not of any later window's. The validation and test periods run
    5 degrees hotter, so weights counted with them differ. Catches the stage
    passing more than data/split/train.npy to training_class_weights; it
    runs without data/split/test.npy, so it also catches the stage reading
    the test split (e.g. as its validation windows for early stopping)."""
    import json
    import zipfile

    from conftest import make_project, run_stage_cli, synthetic_table, write_ingested

    raw_params["train"].update(
        layers=[4],
        epochs=1,
        batch_size=64,
        class_weighting="balanced",
        ensemble=1,
        checkpoint_average=1,
    )
    project = make_project(tmp_path, raw_params)
    table = synthetic_table(24 * 20)
    table.loc[24 * 14 :, "Temperature"] += 5.0  # from the first validation row
    table["segment"] = np.zeros(len(table), dtype=np.int32)
    write_ingested(project, table)
    for stage in ("window", "split", "train"):
        if stage == "train":  # training never reads the test split
            (project / "data/split/test.npy").unlink()
        proc = run_stage_cli(stage, project)
        assert proc.returncode == 0, (stage, proc.stderr)
    bundle = json.loads((project / "data/windows/preprocess.json").read_text())
    (task,) = [t for t in bundle["tasks"] if t["type"] == "classification"]
    labels = np.load(project / "data/windows/targets.npz")[task["name"]]
    ends = {s: np.load(project / f"data/split/{s}.npy") for s in ("train", "val")}

    def balanced(windows: np.ndarray) -> np.ndarray:
        counts = np.bincount(labels[windows + task["horizon"]], minlength=3)
        assert np.all(counts > 0), counts
        return counts.sum() / (len(counts) * counts)

    expected = balanced(ends["train"])
    later = balanced(np.concatenate([ends["train"], ends["val"]]))
    assert not np.allclose(expected, later, rtol=1e-3)  # the check has teeth
    with zipfile.ZipFile(project / "models/model.keras") as archive:
        config = json.loads(archive.read("config.json"))
    loss = config["compile_config"]["loss"][task["name"]]
    assert loss["registered_name"] == "mtlstm>ClassLoss"
    np.testing.assert_allclose(loss["config"]["class_weights"], expected, rtol=1e-12)
