"""Would refitting on the most recent windows help? Nested inside the training
windows, scored on the VALIDATION windows (the test split is never read).

The training windows are cut like the project's own split: the first 70/85 are
``train'``, the last 15/85 ``val'`` (the ``horizon`` windows at the cut left
out of ``train'``, so no ``train'`` target lies in ``val'``). Then, for the
model (params.yaml's train.* as they are) and for the baselines stage's
gradient boosting:

- early stop: fitted on ``train'``, epochs or boosting iterations chosen on ``val'``;
- refit: a fresh fit on ``train'`` + ``val'`` for that many epochs (the model:
  its last epoch's weights, same seed) or iterations (boosting: same settings).

Both are scored on the validation windows, which neither has seen. Run in a
project folder after `dvc repro split`:

    python scripts/refit_nested.py 42 1 2     # seeds of the model; an example:
                                              # python ../../../scripts/...

Prints one JSON line for gradient boosting, then one per seed (README:
"Refit on the training and validation windows").
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import search  # scripts/search.py: the same data and scores

from mtlstm import metrics
from mtlstm import tasks as task_shape
from mtlstm.config import load_params

INNER_TRAIN = 0.70 / 0.85  # the project's train : val proportions, within train


def inner_split(train: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """``train'`` and ``val'`` window ends: the first and last parts of the
    (time-ordered) training windows, ``horizon`` windows left out between."""
    train = np.asarray(train, np.int64)
    cut = round(len(train) * INNER_TRAIN)
    return train[: max(cut - horizon, 0)], train[cut:]


def hgb(data: dict[str, Any], inner: tuple, seed: int) -> dict[str, Any]:
    from sklearn.base import clone

    from mtlstm.baselines import (
        _hgb_data,
        choose_lag_model,
        known_future_columns,
        lag_model_forecast,
    )

    bundle, rows = data["bundle"], data.get("series_rows")
    val, both = np.asarray(data["val"], np.int64), np.asarray(data["train"], np.int64)
    out: dict[str, Any] = {}
    for spec in bundle["tasks"]:
        if task_shape.is_range(spec):
            continue  # one booster per step: not measured here
        series = data["targets"][spec["name"]]
        splits = {"train": inner[0], "val": inner[1]}
        args = (series, data["scaled"], splits, bundle["lookback"], seed, rows)
        fit = choose_lag_model(spec, *args, known_future_columns(bundle))
        refit = clone(fit.model).set_params(max_iter=fit.n_iter, early_stopping=False)
        x, y = _hgb_data(
            spec,
            series,
            data["scaled"],
            both,
            bundle["lookback"],
            rows,
            fit.known_columns,
            fit.target,  # the level or its change, as validation chose
        )
        fits = {
            "early_stop": fit,
            "refit": dataclasses.replace(fit, model=refit.fit(x, y)),
        }
        actual = metrics.actuals(spec, series, val, rows)
        scores = {}
        for mode, chosen in fits.items():
            # The lag model alone (task_forecasts' seasonal naive would fail
            # for a horizon beyond its default season of 24).
            forecast = lag_model_forecast(
                spec, series, data["scaled"], chosen, val, bundle["lookback"], rows
            )
            scores[mode] = _primary(spec, metrics.score_task(spec, actual, forecast))
        out[spec["name"]] = {**scores, "iterations": fit.n_iter}
    return out


def model(data: dict[str, Any], inner: tuple, cfg: Any, seed: int) -> dict[str, Any]:
    import mtlstm.training as training
    from mtlstm.dataset import make_dataset, make_input_dataset, steps_per_epoch
    from mtlstm.model import (
        average_groups,
        average_models,
        make_model,
        training_class_weights,
    )
    from mtlstm.tf_setup import make_deterministic

    bundle = data["bundle"]
    if data.get("series_rows") is not None:
        raise SystemExit("refit_nested.py: one series only (no series embedding)")
    # The train stage records no chosen epoch: wrap the stopper to read it.
    stoppers = []
    make_stopper = training.make_stopper

    def recorded(*args: Any) -> Any:
        stoppers.append(make_stopper(*args))
        return stoppers[-1]

    training.make_stopper = recorded
    n_features = data["scaled"].shape[1]
    arrays = {
        "scaled": data["scaled"],
        "targets": data["targets"],
        "train": inner[0],
        "val": inner[1],
    }
    weights = training_class_weights(cfg, bundle, data["targets"], inner[0])
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {"live": None, "resume": Path(tmp) / "resume"}
        groups = training.fit_member_groups(
            lambda _: make_model(cfg, bundle, n_features, weights),
            cfg,
            seed,
            arrays,
            bundle,
            dirs,
            "refit_nested",
            label="early stop",
        )
    training.make_stopper = make_stopper
    epochs = int(stoppers[0].best_epoch) + 1
    val_ds = make_input_dataset(data["scaled"], data["val"], bundle, 1024)
    early = search._scores(
        average_groups(groups).predict(val_ds, verbose=0), bundle, data
    )
    both = np.asarray(data["train"], np.int64)
    make_deterministic(seed)
    fresh = make_model(
        cfg,
        bundle,
        n_features,
        training_class_weights(cfg, bundle, data["targets"], both),
    )
    steps = steps_per_epoch(len(both), cfg.batch_size)
    fresh.fit(
        make_dataset(
            data["scaled"],
            data["targets"],
            both,
            bundle,
            cfg.batch_size,
            seed,
            (0, epochs),
        ),
        epochs=epochs,
        steps_per_epoch=steps,
        # The cosine and the weight average of the early-stopped fit: the
        # refit trains its first ``epochs`` epochs as that fit did.
        callbacks=training.schedule_callbacks(fresh, cfg, steps),
        shuffle=False,  # make_dataset shuffles, keyed by (seed, epoch)
        verbose=0,
    )
    refit = search._scores(
        average_models([fresh]).predict(val_ds, verbose=0), bundle, data
    )
    by_task = {t["name"]: t for t in bundle["tasks"]}
    return {
        "epochs": epochs,
        "early_stop": {
            n: _primary(by_task[n], s) for n, s in early.items() if n in by_task
        },
        "refit": {n: _primary(by_task[n], s) for n, s in refit.items() if n in by_task},
    }


def _primary(spec: dict, scores: dict[str, float]) -> float:
    return round(float(scores[search.PRIMARY[spec["type"]]]), 4)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="refit_nested.py", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "seeds", nargs="*", type=int, help="seeds of the model (default base.seed)"
    )
    seeds = parser.parse_args(argv).seeds  # checked before any data is read
    params = load_params()
    data = search.load_data()
    horizon = max(int(np.max(task_shape.steps(t))) for t in data["bundle"]["tasks"])
    inner = inner_split(data["train"], horizon)
    sizes = [len(inner[0]), len(inner[1]), len(data["val"])]
    print(f"refit_nested: train' {sizes[0]}, val' {sizes[1]}, val {sizes[2]} windows")
    print(json.dumps({"hgb_lag": hgb(data, inner, params.base.seed)}), flush=True)
    cfg = params.train
    if cfg.ensemble != 1 or cfg.checkpoint_average != 1:
        # The refit is one model's last epoch: compare like with like.
        cfg = dataclasses.replace(cfg, ensemble=1, checkpoint_average=1)
        print("refit_nested: ensemble and checkpoint_average set to 1 for both fits")
    for seed in seeds or [params.base.seed]:
        print(json.dumps({"seed": seed, **model(data, inner, cfg, seed)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
