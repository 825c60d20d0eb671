"""train.ensemble: N models seeded base.seed, base.seed + 1, ... saved as one
model whose every head is the mean of the members' heads."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import synthetic_table, two_tasks, write_params

from mtlstm import resume, window
from mtlstm.config import Features, Train, load_params
from mtlstm.errors import ConfigError

TASKS = two_tasks([1, 2])
FEATURES = Features(
    columns=["Demand", "Temperature", "Holiday"],
    calendar=["hour_of_day"],
    timezone="UTC",
    known_future=["hour_of_day"],
)
ROWS, LOOKBACK = 96, 6


# --- config -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, r"train\.ensemble: must be >= 1 \(1: one model; N: the mean of N"),
        (-2, r"train\.ensemble: must be >= 1 .*got -2"),
        (2.5, r"train\.ensemble: expected an integer, got 2\.5"),
        (True, r"train\.ensemble: expected an integer, got True"),
        ("3", r"train\.ensemble: expected an integer"),
    ],
)
def test_ensemble_must_be_a_positive_integer(tmp_path, raw_params, value, message):
    raw_params["train"]["ensemble"] = value
    with pytest.raises(ConfigError, match=message):
        load_params(write_params(tmp_path, raw_params))


def test_ensemble_defaults_to_one_model(tmp_path, raw_params):
    raw_params["train"].pop("ensemble", None)
    assert load_params(write_params(tmp_path, raw_params)).train.ensemble == 1
    raw_params["train"]["ensemble"] = 3
    assert load_params(write_params(tmp_path, raw_params)).train.ensemble == 3


# --- training and averaging ---------------------------------------------------


def _data() -> tuple[dict, dict]:
    table = synthetic_table(ROWS)
    bundle = window.fit(table, FEATURES, TASKS, LOOKBACK)
    bundle |= {"n_rows": ROWS, "series": {"names": ["a", "b"]}}
    arrays = {
        "scaled": window.transform(table, bundle),
        "targets": window.targets(table, bundle),
        "train": np.arange(LOOKBACK - 1, 70),
        "val": np.arange(70, ROWS - 2),
        "series": np.repeat(np.array([0, 1], np.int32), ROWS // 2),
    }
    return bundle, arrays


def _cfg(**kw) -> Train:
    base = {
        "loss_weights": {"demand": 1.0, "temp_class": 0.5},
        # Every input and a custom model class: known-future, series embedding
        # and the uncertainty-weighted model must all survive the averaging.
        "loss_balancing": "uncertainty",
        "series_embedding": 2,
        "layers": [4],
        "dropout": 0.1,
        "epochs": 2,
        "batch_size": 16,
        "learning_rate": 0.01,
    }
    return Train(**{**base, **kw})


def _fit(cfg: Train, tmp_path, name: str, seed: int = 7) -> tuple[list, dict, dict]:
    from mtlstm.model import make_model
    from mtlstm.training import fit_members

    bundle, arrays = _data()
    n_features = arrays["scaled"].shape[1]
    dirs = {"live": None, "resume": tmp_path / name}
    members = fit_members(
        lambda _: make_model(cfg, bundle, n_features),
        cfg,
        seed,
        arrays,
        bundle,
        dirs,
        "test",
    )
    return members, bundle, arrays


def _predict(model, bundle: dict, arrays: dict) -> dict[str, np.ndarray]:
    from mtlstm.dataset import make_input_dataset

    ds = make_input_dataset(
        arrays["scaled"], arrays["val"], bundle, 8, arrays["series"]
    )
    return model.predict(ds, verbose=0)


def test_saved_ensemble_outputs_the_mean_of_its_members(tmp_path):
    from mtlstm.dataset import input_names
    from mtlstm.model import average_models
    from mtlstm.tf_setup import load_model, save_model

    members, bundle, arrays = _fit(_cfg(ensemble=2), tmp_path, "resume")
    assert len(members) == 2
    path = tmp_path / "model.keras"
    save_model(average_models(members), path)
    model = load_model(path, ["demand", "temp_class"])  # safe mode, heads checked
    assert input_names(model) == ["features", "known_future", "series"]
    got = _predict(model, bundle, arrays)
    each = [_predict(m, bundle, arrays) for m in members]
    for name in ("demand", "temp_class"):
        # The oracle: the plain mean of the two members' outputs, per head.
        expected = (each[0][name] + each[1][name]) / 2
        np.testing.assert_allclose(got[name], expected, rtol=1e-6, atol=1e-7)
        # Seeds base.seed and base.seed + 1: two different models.
        assert not np.allclose(each[0][name], each[1][name])
    assert got["demand"].shape == (len(arrays["val"]), 2)
    # Classification heads output probabilities: their mean is one too.
    np.testing.assert_allclose(got["temp_class"].sum(axis=-1), 1.0, rtol=1e-6)
    # The saved file is reproducible: same members, same bytes.
    again = tmp_path / "again.keras"
    save_model(average_models(members), again)
    assert again.read_bytes() == path.read_bytes()
    # Member 1 checkpoints inside member 0's folder: one clear removes both.
    assert (tmp_path / "resume" / ".member-1" / "state.json").is_file()
    resume.clear(tmp_path / "resume")
    assert not (tmp_path / "resume").exists()


def test_ensemble_of_one_is_the_single_model_unchanged(tmp_path):
    """ensemble: 1 trains exactly what train did before: the model itself,
    not wrapped, with the weights of make_deterministic(seed) + make_model +
    fit."""
    from mtlstm.model import average_models, make_model
    from mtlstm.tf_setup import make_deterministic
    from mtlstm.training import fit

    cfg = _cfg()
    members, bundle, arrays = _fit(cfg, tmp_path, "one")
    assert len(members) == 1
    assert average_models(members) is members[0]
    make_deterministic(7)
    bundle, arrays = _data()
    model = make_model(cfg, bundle, arrays["scaled"].shape[1])
    dirs = {"live": None, "resume": tmp_path / "plain"}
    model, _ = fit(model, cfg, 7, arrays, bundle, dirs, "test")
    for ours, theirs in zip(members[0].weights, model.weights, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_member_i_is_the_model_of_seed_plus_i(tmp_path):
    """Member 1 of an ensemble seeded 7 is the single model seeded 8."""
    members, _, _ = _fit(_cfg(ensemble=2), tmp_path, "two")
    alone, _, _ = _fit(_cfg(), tmp_path, "alone", seed=8)
    for ours, theirs in zip(members[1].weights, alone[0].weights, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_a_rerun_restores_every_finished_member_from_its_checkpoint(tmp_path, capsys):
    """A run killed after training, before saving: each member resumes from
    its own checkpoint (member 1's under member 0's folder) with its weights."""
    first, _, _ = _fit(_cfg(ensemble=2), tmp_path, "resume")
    capsys.readouterr()
    again, _, _ = _fit(_cfg(ensemble=2), tmp_path, "resume")
    out = capsys.readouterr().out
    assert out.count("resuming after epoch 2 of 2") == 2, out
    for member in ("train member 1/2", "train member 2/2"):  # each by its name
        assert f"{member}: resuming after epoch 2 of 2" in out
    for old, new in zip(first, again, strict=True):
        for a, b in zip(old.weights, new.weights, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
