"""Choose train.* defaults on the VALIDATION split: multi-task vs single-task vs HGB.

Needs the windows and splits of the current params.yaml (`dvc repro split`; `make
search` runs both). For every candidate below (train.* overrides of params.yaml)
it trains the multi-task model and, per task, the single-task model with the same
trunk, heads and budget (as the ablation stage does), and scores all of them on
the validation windows in original units. The baselines stage's gradient
boosting on lag features (its iterations and, for classification, its class
weighting chosen on the validation split, which flatters it) is scored on the
same windows. The test split is never read.

    python scripts/search.py                     # every candidate
    python scripts/search.py --only old_defaults,task_ratio_temp_w0.1 --trace
    python scripts/search.py --only params --seeds 42,1,2   # + mean over seeds

One seed's ranking can be noise (on the French example the validation macro-F1
of one setting moves by about 0.02 from seed to seed): `--seeds` trains every
candidate (and its single-task models) once per seed and adds a row of the means.

Writes search/results.json (and search/trace-<name>.csv, <name>@seed<N> with
--seeds, with --trace: per epoch, every task's validation loss and score) and
prints a Markdown table. Scores are deterministic (seeded, op determinism), so
the table is reproducible.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from mtlstm import metrics
from mtlstm import tasks as task_shape
from mtlstm.config import Train, load_params

WINDOWS = Path("data/windows")
SPLIT = Path("data/split")
OUT = Path("search")
# What every run reads (load_data): the runs in one --out folder share them.
DATA_FILES = [
    *(WINDOWS / name for name in ("preprocess.json", "scaled.npy", "targets.npz")),
    *(SPLIT / f"{name}.npy" for name in ("train", "val")),
]

# name -> train.* overrides of params.yaml (the default data's tasks). Which
# levers these are and what they gave on the validation split is written up in
# the README ("How the defaults were chosen").
# Each sets every lever searched, so none depends on the defaults it chose.
OFF = {
    "lr_schedule": "constant",
    "ema_momentum": 0.0,
    "head_units": 0,
    "task_lstm": 0,
    "class_weighting": "none",
    "focal_gamma": 0.0,
}
OLD = {**OFF, "selection": "total", "loss_weights": {"demand": 1.0, "temp_class": 1.0}}
RATIO = {**OFF, "selection": "task_ratio"}


def _temp_weight(weight: float) -> dict[str, Any]:
    return {"loss_weights": {"demand": 1.0, "temp_class": weight}}


CANDIDATES: dict[str, dict[str, Any]] = {
    "params": {},  # params.yaml as it is, for any data set (e.g. an example's)
    "old_defaults": OLD,
    "task_ratio": {**OLD, **RATIO},
    "task_ratio_cosine": {**OLD, **RATIO, "lr_schedule": "cosine"},
    "task_ratio_temp_w0.3": {**RATIO, **_temp_weight(0.3)},
    "task_ratio_temp_w0.1": {**RATIO, **_temp_weight(0.1)},  # the new defaults
    "task_ratio_temp_w0.03": {**RATIO, **_temp_weight(0.03)},
    "total_temp_w0.1": {**OFF, "selection": "total", **_temp_weight(0.1)},
    "task_ratio_temp_w0.1_ema": {**RATIO, **_temp_weight(0.1), "ema_momentum": 0.99},
    "task_ratio_temp_w0.1_head16": {**RATIO, **_temp_weight(0.1), "head_units": 16},
    # The classification loss on top of params.yaml, for any data set:
    "params_class_balanced": {"class_weighting": "balanced", "focal_gamma": 0.0},
    "params_focal2": {"class_weighting": "none", "focal_gamma": 2.0},
    "params_balanced_focal2": {"class_weighting": "balanced", "focal_gamma": 2.0},
    # Time per model on top of params.yaml (make repro's 6-minute budget):
    "params_bs512": {"batch_size": 512},
    "params_bs512_lr0.006": {"batch_size": 512, "learning_rate": 0.006},
    "params_patience3": {"patience": 3},
    "params_layers48_24": {"layers": [48, 24]},
    "params_layers32_16": {"layers": [32, 16]},
    "params_layers64": {"layers": [64]},
    "params_layers64_32": {"layers": [64, 32]},
    "params_layers64_32_ckpt5": {"layers": [64, 32], "checkpoint_average": 5},
    # Capacity and regularisation on top of params.yaml (the French example's
    # train.* are the default data's, not tuned on its own validation split):
    "params_dropout0.3": {"dropout": 0.3},
    "params_bs64": {"batch_size": 64},
    "params_patience10": {"patience": 10},
    # Upward (the rounds above only measured smaller trunks) and without dropout:
    "params_layers128": {"layers": [128]},
    "params_dropout0": {"dropout": 0.0},
    # Twice the epoch cap (the Warsaw example's runs stop at or near 40):
    "params_epochs80": {"epochs": 80},
    # Smoother training on top of params.yaml (the French example's validation
    # macro-F1 moves by about 0.04 from one epoch to the next):
    "params_ema0.99": {"ema_momentum": 0.99},
    "params_lr0.002": {"learning_rate": 0.002},
    # Half the step with twice the epochs (Warsaw's lr0.002 runs end at the cap):
    "params_lr0.002_epochs80": {"learning_rate": 0.002, "epochs": 80},
    "params_head16": {"head_units": 16},
    # Each task's own LSTM layer over the shared trunk's sequence (README, "How
    # the defaults were chosen", sixteenth round).
    "params_task_lstm32": {"task_lstm": 32},
    "params_task_lstm32_class_w0.3": {
        "task_lstm": 32,
        "loss_weights": ("classification", 0.3),
    },
    # A seed ensemble on top of params.yaml (N x the training time):
    "params_ensemble3": {"ensemble": 3},
    "params_ensemble5": {"ensemble": 5},
    # Both levers that moved Warsaw's no2 towards the booster, together:
    "params_lr0.002_ensemble3": {"learning_rate": 0.002, "ensemble": 3},
    # A checkpoint ensemble on top of params.yaml (no extra training):
    "params_ckpt3": {"checkpoint_average": 3},
    "params_ckpt5": {"checkpoint_average": 5},
    # Ordinal heads (train.ordinal) for every binned classification task:
    "params_ordinal": {"ordinal": "binned"},
    "params_ordinal_ckpt5": {"ordinal": "binned", "checkpoint_average": 5},
    # The regression loss matched to the scored error (MAE instead of MSE) for
    # every regression task, on top of params.yaml:
    "params_mae_loss": {"losses": "regression_mae"},
    "params_mae_loss_ckpt5": {"losses": "regression_mae", "checkpoint_average": 5},
    # Every classification task's loss weight on top of params.yaml (the
    # regression tasks keep theirs): 0.1 was chosen on the default data with
    # the first round's settings, before one layer, the five-epoch average and
    # balanced class weights; these re-measure it with today's:
    "params_class_w0.3": {"loss_weights": ("classification", 0.3)},
    "params_class_w1": {"loss_weights": ("classification", 1.0)},
    # ... and below it, where France's class task rose as the weight fell:
    "params_class_w0.03": {"loss_weights": ("classification", 0.03)},
    "params_class_w0.01": {"loss_weights": ("classification", 0.01)},
}
PRIMARY = {"regression": "mae", "classification": "macro_f1"}


def resolved(
    overrides: dict[str, Any],
    tasks: dict[str, Any],
    loss_weights: dict[str, float] | None = None,
) -> dict[str, Any]:
    """``overrides`` with ``ordinal: "binned"`` replaced by the names of the
    params' classification tasks that have bins (ordered classes),
    ``losses: "regression_mae"`` by an ``mae`` loss for every regression task,
    and ``loss_weights: (type, w)`` by the params' ``loss_weights`` with every
    task of that type weighted ``w``."""
    if overrides.get("ordinal") == "binned":
        binned = [name for name, task in tasks.items() if task.bins is not None]
        overrides = {**overrides, "ordinal": binned}
    if overrides.get("losses") == "regression_mae":
        regression = {n: "mae" for n, t in tasks.items() if t.type == "regression"}
        overrides = {**overrides, "losses": regression}
    if isinstance(overrides.get("loss_weights"), tuple):
        kind, weight = overrides["loss_weights"]
        weights = dict(loss_weights or {})
        weights.update({n: weight for n, t in tasks.items() if t.type == kind})
        overrides = {**overrides, "loss_weights": weights}
    return overrides


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--only", default="", help="comma-separated candidate names")
    parser.add_argument("--no-single", action="store_true", help="skip single-task")
    parser.add_argument("--trace", action="store_true", help="per-epoch val curves")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument(
        "--label", default="", help="record the (one) candidate under this name"
    )
    parser.add_argument(
        "--seeds",
        default="",
        help="comma-separated seeds (default base.seed): every candidate is "
        "trained once per seed, and the table adds the mean over the seeds",
    )
    args = parser.parse_args(argv)
    # The params* candidates (on top of any params.yaml) run only when named.
    default = [n for n in CANDIDATES if not n.startswith("params")]
    names = [n for n in args.only.split(",") if n] or default
    unknown = sorted(set(names) - set(CANDIDATES))
    if unknown:
        sys.exit(f"search: unknown candidate(s) {unknown}; known: {list(CANDIDATES)}")
    if args.label and len(names) != 1:
        sys.exit("search: --label names one candidate; give one with --only")
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s]
    except ValueError:
        sys.exit(f"search: --seeds takes comma-separated integers, got {args.seeds!r}")
    params = load_params(args.params)
    seeds = seeds or [params.base.seed]
    data = load_data()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    check_same_data(out, results)
    if "hgb_lag" not in results:
        results["hgb_lag"] = hgb_reference(data, params.base.seed)
    traces: list[dict[str, Any]] = []
    # Keys added to train.* after a run was recorded take their (off) defaults.
    unset = budget(Train(loss_weights={}))
    base = params.base.seed  # the seed of runs recorded before --seeds
    single_cache = {
        _single_key(task, {**unset, **e["budget"]}, e.get("seed", base)): run
        for e in results.values()
        if "budget" in e
        for task, run in e.get("single_task", {}).items()
    }
    for name, seed in [(n, s) for n in names for s in seeds]:
        overrides = resolved(CANDIDATES[name], params.tasks, params.train.loss_weights)
        cfg = dataclasses.replace(params.train, **overrides)
        about = overrides or "params.yaml as is"
        print(f"search: {name}, seed {seed}: {about}", flush=True)
        candidate = args.label or name
        # One seed, the params' own: the label alone (as recorded before --seeds).
        alone = seeds == [params.base.seed]
        label = candidate if alone else f"{candidate}@seed{seed}"
        entry = {
            "overrides": overrides,
            "budget": budget(cfg),
            "seed": seed,
            "candidate": candidate,
        }
        entry["multi_task"] = train_and_score(cfg, seed, data, None, name)
        traces += entry["multi_task"].pop("trace")
        results[label] = entry  # kept even if the single-task runs are cut short
        results_path.write_text(json.dumps(results, indent=2) + "\n")
        if not args.no_single:
            entry["single_task"] = {}
            for task in data["bundle"]["tasks"]:
                # Single-task models depend on the budget keys only (as the
                # ablation stage): reuse an identical earlier run.
                key = _single_key(task["name"], budget(cfg), seed)
                if key not in single_cache:
                    run = train_and_score(cfg, seed, data, task["name"], name)
                    traces += run.pop("trace")
                    single_cache[key] = run
                entry["single_task"][task["name"]] = single_cache[key]
        results[label] = entry
        results_path.write_text(json.dumps(results, indent=2) + "\n")
        if args.trace:
            import pandas as pd

            pd.DataFrame(traces).to_csv(out / f"trace-{label}.csv", index=False)
            traces = []
    print(table(results, data["bundle"], params.base.seed))


def check_same_data(out: Path, results: dict[str, Any]) -> None:
    """``out``'s recorded runs must be on today's windows and splits: the
    gradient boosting row and the single-task runs are reused from them (keyed
    by the train.* budget and seed only), so after a `dvc repro split` on
    other data or features a new candidate was compared with baselines and
    single-task models of the old data. ``out/data.sha256`` records the digest
    of the files every run reads; a folder without one (recorded before it
    existed) is taken as it is."""
    from mtlstm import resume

    stamp = resume.fingerprint({}, DATA_FILES)
    path = out / "data.sha256"
    if results and path.is_file() and path.read_text().strip() != stamp:
        raise SystemExit(
            f"search: {out / 'results.json'} holds runs on other windows or splits "
            f"than {WINDOWS} and {SPLIT} hold now ({path} differs), whose baseline "
            "and single-task runs would be reused; give --out a new folder, or "
            f"delete {out}"
        )
    path.write_text(stamp + "\n")


def _single_key(task: str, budget: dict[str, Any], seed: int) -> str:
    return json.dumps([task, budget, seed], sort_keys=True)


def budget(cfg: Any) -> dict[str, Any]:
    """The train.* keys a single-task model depends on (config.TRAIN_BUDGET)."""
    from mtlstm.config import TRAIN_BUDGET

    return {k.split(".")[1]: getattr(cfg, k.split(".")[1]) for k in TRAIN_BUDGET}


def load_data() -> dict[str, Any]:
    from mtlstm.io import load_npy, load_npz, load_series, read_json

    bundle = read_json(WINDOWS / "preprocess.json")
    return {
        "bundle": bundle,
        "series_rows": load_series(WINDOWS, bundle),  # None for one series
        "scaled": load_npy(WINDOWS / "scaled.npy"),
        "targets": load_npz(WINDOWS / "targets.npz"),
        "train": load_npy(SPLIT / "train.npy"),
        "val": load_npy(SPLIT / "val.npy"),
    }


def train_and_score(
    cfg: Any, seed: int, data: dict[str, Any], single: str | None, label: str
) -> dict[str, Any]:
    """Train like the train stage (or, given ``single``, the ablation stage) and
    score on the validation windows; also return a per-epoch trace."""
    import keras

    from mtlstm.dataset import make_input_dataset
    from mtlstm.model import (
        average_groups,
        embeds_series,
        make_model,
        make_single_task_model,
        training_class_weights,
    )
    from mtlstm.training import fit_member_groups

    bundle = data["bundle"]
    if single is not None:
        bundle = {
            **bundle,
            "tasks": [t for t in bundle["tasks"] if t["name"] == single],
        }
    n_features = data["scaled"].shape[1]
    weights = training_class_weights(cfg, bundle, data["targets"], data["train"])
    make = make_model if single is None else make_single_task_model
    # The series codes feed an embedding only when the model has one.
    embedded = data.get("series_rows") if embeds_series(cfg) else None
    val_ds = make_input_dataset(
        data["scaled"],
        data["val"],
        bundle,
        1024,
        embedded,
    )
    trace: list[dict[str, Any]] = []
    who = single or "multi_task"

    class Trace(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            scores = _scores(self.model.predict(val_ds, verbose=0), bundle, data)
            row = {"candidate": label, "model": who, "epoch": epoch + 1}
            for k, v in (logs or {}).items():
                if k.startswith("val_") and k.endswith("_loss"):
                    row[k] = float(v)
            for task, key in PRIMARY_KEY.items():
                row[f"{task}_{key}"] = scores[task][key]
            trace.append(row)

    PRIMARY_KEY = {t["name"]: PRIMARY[t["type"]] for t in bundle["tasks"]}
    arrays = {k: data[k] for k in ("scaled", "targets", "train", "val")}
    if embedded is not None:
        arrays["series"] = embedded
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {"live": None, "resume": Path(tmp) / "resume"}
        # train.ensemble > 1: the trace runs on through every member's epochs.
        groups = fit_member_groups(
            lambda _: make(cfg, bundle, n_features, weights),
            cfg,
            seed,
            arrays,
            bundle,
            dirs,
            "search",
            extra=[Trace()],
            label="search",
        )
        model = average_groups(groups)
    seconds = time.perf_counter() - start
    scores = _scores(model.predict(val_ds, verbose=0), bundle, data)
    print(f"search: {label} {who}: {scores} ({seconds:.0f} s)", flush=True)
    return {"val": scores, "epochs": len(trace), "seconds": seconds, "trace": trace}


def _scores(outputs: Any, bundle: dict, data: dict) -> dict[str, dict[str, float]]:
    if not isinstance(outputs, dict):  # a one-head model may return the array
        outputs = {bundle["tasks"][0]["name"]: outputs}
    rows, ends = data.get("series_rows"), np.asarray(data["val"], np.int64)
    scores = metrics.score_outputs(bundle, data["targets"], ends, outputs, rows)
    at_end = metrics.window_series(rows, ends)
    decided = metrics.model_decisions(bundle, outputs, at_end)
    for spec in bundle["tasks"]:
        if spec["type"] == "classification":
            name = spec["name"]
            actual = metrics.actuals(spec, data["targets"][name], ends, rows)
            proba = metrics.model_output(outputs[name], spec, at_end)
            scores[name] |= class_f1(spec, actual, proba, decided.get(name))
            scores[name] |= binned_regression_f1(spec, actual, outputs, bundle, at_end)
    scores |= decided_by_single_task(outputs, bundle, data, at_end)
    return scores


def decided_by_single_task(
    outputs: dict, bundle: dict, data: dict, at_end: Any
) -> dict[str, dict[str, float]]:
    """For a single-task regression model: the accuracy and macro-F1 of every
    class task whose ``decide_by`` names it, as evaluate decides the single-task
    side of such a task (its own single-task head is not what is compared)."""
    from sklearn.metrics import accuracy_score, f1_score

    if len(bundle["tasks"]) != 1 or bundle["tasks"][0]["type"] != "regression":
        return {}
    source = bundle["tasks"][0]
    forecast = metrics.model_output(outputs[source["name"]], source, at_end)
    ends, rows = np.asarray(data["val"], np.int64), data.get("series_rows")
    out = {}
    for spec in data["bundle"]["tasks"]:
        if task_shape.decided_by(spec) == source["name"]:
            actual = metrics.actuals(spec, data["targets"][spec["name"]], ends, rows)
            named = task_shape.bin_index(spec, forecast).ravel()
            out[spec["name"]] = {
                "accuracy": float(accuracy_score(actual.ravel(), named)),
                "macro_f1": float(f1_score(actual.ravel(), named, average="macro")),
            }
    return out


def binned_regression_f1(
    spec: dict, actual: np.ndarray, outputs: dict, bundle: dict, at_end: Any
) -> dict[str, float]:
    """``macro_f1_from_<task>``: the macro-F1 of a binned classification task
    decided by binning a regression task's forecast of the same target and
    horizon (a diagnostic: does the regression head place the value among the
    bins better than the class head?)."""
    from sklearn.metrics import f1_score

    found = {}
    for reg in bundle["tasks"]:
        same = (reg["target"], reg["horizon"]) == (spec["target"], spec["horizon"])
        if reg["type"] != "regression" or "bins" not in spec or not same:
            continue
        forecast = metrics.model_output(outputs[reg["name"]], reg, at_end)
        decided = np.searchsorted(np.asarray(spec["bins"]), forecast, side="right")
        # Over the classes present, like metrics.classification_scores.
        found[f"macro_f1_from_{reg['name']}"] = float(
            f1_score(actual.ravel(), decided.ravel(), average="macro")
        )
    return found


def class_f1(
    spec: dict, actual: np.ndarray, proba: np.ndarray, decided: Any = None
) -> dict[str, float]:
    """``f1_<class>`` of every class (``metrics.per_class_rows``): where a
    macro-F1 difference comes from (a rare class moves it by whole windows)."""
    rows = metrics.per_class_rows(spec, actual, {"model": proba}, {"model": decided})
    return {f"f1_{r['class']}": r["f1"] for r in rows}


def hgb_reference(data: dict[str, Any], seed: int) -> dict[str, dict[str, float]]:
    """The baselines stage's gradient boosting on lag features (iterations and,
    for classification, the class weighting chosen on the validation windows,
    which flatters it), scored on the same validation windows."""
    from mtlstm.baselines import decide_hgb

    bundle, out = data["bundle"], {}
    val, rows = np.asarray(data["val"], np.int64), data.get("series_rows")
    outputs: dict[str, dict] = {}
    observed: dict[str, np.ndarray] = {}
    for spec in bundle["tasks"]:
        forecast = hgb_val_forecast(spec, data, seed)
        actual = metrics.actuals(spec, data["targets"][spec["name"]], val, rows)
        outputs[spec["name"]], observed[spec["name"]] = {"hgb_lag": forecast}, actual
        out[spec["name"]] = metrics.score_task(spec, actual, forecast)
        if spec["type"] == "classification":
            out[spec["name"]] |= class_f1(spec, actual, forecast)
    for spec in bundle["tasks"]:  # decide_by: binning, where validation prefers it
        if task_shape.decided_by(spec) is None:
            continue
        _, labels = decide_hgb(spec, {"val": outputs}, {"val": observed})
        if labels is not None:
            name, decided = spec["name"], labels["val"]
            forecast, actual = outputs[name]["hgb_lag"], observed[name]
            out[name] = metrics.score_task(spec, actual, forecast, decided)
            out[name] |= class_f1(spec, actual, forecast, decided)
    return out


def hgb_val_forecast(spec: dict, data: dict[str, Any], seed: int) -> np.ndarray:
    """The baselines stage's gradient boosting fit for ``spec`` (iterations and
    class weighting chosen on the validation windows): its forecasts of the
    validation windows (class probabilities for a classification task)."""
    from mtlstm.baselines import (
        choose_lag_model,
        known_future_columns,
        lag_model_forecast,
    )

    bundle, rows = data["bundle"], data.get("series_rows")
    splits = {k: np.asarray(data[k], np.int64) for k in ("train", "val")}
    series = data["targets"][spec["name"]]
    args = (series, data["scaled"], splits, bundle["lookback"], seed, rows)
    fit = choose_lag_model(spec, *args, known_future_columns(bundle))
    # The lag model alone: task_forecasts would also build the seasonal naive
    # forecast, at its default season of 24, and fail for a step beyond it.
    forecast = lag_model_forecast(
        spec, series, data["scaled"], fit, splits["val"], bundle["lookback"], rows
    )
    return task_shape.squeezed(spec, forecast)


def table(results: dict[str, Any], bundle: dict, base_seed: int | None = None) -> str:
    """One row per recorded run, then per candidate trained with several seeds
    (``--seeds``) a row of the means over its seeds, each seed once.
    ``base_seed``: the seed of runs recorded before ``--seeds`` (no ``seed``)."""
    tasks = [(t["name"], PRIMARY[t["type"]]) for t in bundle["tasks"]]
    head = ["candidate"]
    for name, key in tasks:
        head += [f"{name} {key} MTL", "single-task", "MTL vs single"]
    head += ["MTL epochs", "MTL s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    hgb = results.get("hgb_lag", {})
    row = ["HGB-lag (baselines stage, val-chosen)"]
    for name, key in tasks:
        row += [f"{hgb[name][key]:.4g}" if name in hgb else "-", "", ""]
    lines.append("| " + " | ".join([*row, "", ""]) + " |")
    # A decide_by class task is decided by its regression task's single-task
    # model (decided_by_single_task), as evaluate does; any other by its own.
    sides = {t["name"]: task_shape.decided_by(t) or t["name"] for t in bundle["tasks"]}
    runs = {
        c: _run_scores(e, tasks, sides) for c, e in results.items() if c != "hgb_lag"
    }
    # Per candidate its runs by seed: one recorded alone (labelled by the
    # candidate) and again by --seeds with the same seed (<name>@seed<N>) is
    # one training of that seed, which the mean must not count twice; the
    # later record stands for it.
    groups: dict[str, dict[Any, str]] = {}
    for cand, entry in results.items():
        if cand != "hgb_lag":
            seed = entry.get("seed", base_seed)
            groups.setdefault(entry.get("candidate", cand), {})[seed] = cand
    means = {
        f"{group} (mean of {len(members)} seeds)": _mean_scores(
            [runs[m] for m in members.values()]
        )
        for group, members in groups.items()
        if len(members) > 1
    }
    for label, scores in {**runs, **means}.items():
        lines.append("| " + " | ".join(_row(label, scores, tasks)) + " |")
    return "\n".join(lines)


def _run_scores(
    entry: dict[str, Any], tasks: list[tuple[str, str]], sides: dict[str, str]
) -> dict:
    """Per task the multi-task and single-task primary scores (None if not run;
    the single-task one from the run named by ``sides``), and the multi-task
    model's epochs and seconds."""
    mt, st = entry["multi_task"], entry.get("single_task", {})
    out: dict[str, Any] = {"epochs": mt["epochs"], "seconds": mt["seconds"]}
    for name, key in tasks:
        single = st.get(sides[name], {}).get("val", {}).get(name, {}).get(key)
        out[name] = (mt["val"][name][key], single)
    return out


def _mean_scores(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in runs[0]:
        values = [r[field] for r in runs]
        if field in ("epochs", "seconds"):
            out[field] = float(np.mean(values))
            continue
        singles = [s for _, s in values]
        out[field] = (
            float(np.mean([m for m, _ in values])),
            None if None in singles else float(np.mean(singles)),
        )
    return out


def _row(label: str, scores: dict[str, Any], tasks: list[tuple[str, str]]) -> list:
    row = [label]
    for name, key in tasks:
        m, s = scores[name]
        # > 0: the multi-task model is better (MAE lower, F1 higher).
        rel = (
            "-" if s is None else f"{(s - m) / s if key == 'mae' else (m - s) / s:+.1%}"
        )
        row += [f"{m:.4g}", "-" if s is None else f"{s:.4g}", rel]
    return [*row, f"{scores['epochs']:.3g}", f"{scores['seconds']:.0f}"]


if __name__ == "__main__":
    main()
