"""Stage baselines: reference forecasters on exactly the model's test windows.

Persistence, seasonal naive and gradient boosting on lag features (regression;
with quantiles also the naive interval); majority class, persistence and
gradient boosting (classification), each per step of a horizon range. Fitted on
the train split; the boosting iterations (early stopping) and, for
classification, the class weighting are chosen on the validation split. The
test split is only forecast and scored. Its own stage, so a loss-weight change
never refits them. Writes:

- metrics/baselines.json: test scores, {task: {baseline: {metric: value}}};
- metrics/baselines_val.json: per task the same on validation ("val") and what
  validation chose for gradient boosting ("hgb_lag");
- predictions/baselines.npz: every test forecast, for evaluate's intervals:
  "ends" (the test windows' end rows) and "<task>.<baseline>" (original units,
  or class probabilities; n, or n x steps for a horizon range, see
  mtlstm.tasks), and for a task with quantiles "<task>.naive_interval.quantiles"
  (n x steps x quantiles); for a class task with decide_by where validation
  chose to bin gradient boosting's regression forecast, "<task>.hgb_lag.decided"
  (the classes it names; mtlstm.baselines.decide_hgb).

A panel (data/windows/series.npy, written when ingest.series is declared):
seasonal naive looks one season back within each series only, the naive
interval takes each series' own residual quantiles, and the lag model is one
global booster per task with the series code as a feature (mtlstm.baselines);
every score still pools all series (evaluate breaks them down per series).
"""

from pathlib import Path

import pandas as pd

from mtlstm.baselines import run_baselines, series_positions
from mtlstm.config import load_params
from mtlstm.errors import run_stage
from mtlstm.io import (
    load_npy,
    load_npz,
    load_series,
    read_json,
    write_json,
    write_npz,
)
from mtlstm.metrics import PRIMARY

WINDOWS = Path("data/windows")
SPLIT = Path("data/split")
OUT = Path("metrics/baselines.json")
OUT_VAL = Path("metrics/baselines_val.json")
OUT_FORECASTS = Path("predictions/baselines.npz")


def main() -> None:
    params = load_params()
    bundle = read_json(WINDOWS / "preprocess.json")
    splits = {n: load_npy(SPLIT / f"{n}.npy") for n in ("train", "val", "test")}
    times = pd.to_datetime(load_npy(WINDOWS / "times.npy"), utc=True)
    codes = load_series(WINDOWS, bundle)  # a panel's per-row series codes
    # Grid steps since the first row (of each series): the seasonal value is
    # one season earlier in time, which after a dropped long gap is not one
    # season earlier in rows.
    positions = series_positions(
        times, codes, bundle["ingest"]["freq"], bundle["timezone"]
    )
    run = run_baselines(
        bundle,
        load_npy(WINDOWS / "scaled.npy"),
        load_npz(WINDOWS / "targets.npz"),
        splits,
        season=params.baselines.season,
        seed=params.base.seed,
        positions=positions,
        codes=codes,
    )
    forecasts = {
        f"{task}.{name}": output
        for task, by_name in run.forecasts.items()
        for name, output in by_name.items()
    }
    forecasts |= {
        f"{task}.{name}.quantiles": levels
        for task, by_name in run.quantiles.items()
        for name, levels in by_name.items()
    }
    forecasts |= {f"{task}.hgb_lag.decided": v for task, v in run.decided.items()}
    write_npz(OUT_FORECASTS, {"ends": splits["test"], **forecasts})
    write_json(
        OUT_VAL,
        {
            task: {
                "val": run.val[task],
                "hgb_lag": run.hgb[task].summary() | run.decisions.get(task, {}),
            }
            for task in run.val
        },
    )
    write_json(OUT, run.test)
    for spec in bundle["tasks"]:
        report(spec, run)


def _distinct(choice: str | list[str]) -> str:
    """A booster's choice, or a horizon range's distinct per-step choices."""
    return ", ".join(sorted(set(choice))) if isinstance(choice, list) else choice


def report(spec: dict, run) -> None:
    """One line per task and split, and a warning where boosting does not beat
    persistence on validation (a weak baseline flatters the model)."""
    task, key = spec["name"], PRIMARY[spec["type"]]
    fit = run.hgb[task].summary()
    if "steps" in fit:  # one booster per step of a horizon range
        n_iter = f"{min(fit['n_iter'])}..{max(fit['n_iter'])} (per step)"
    else:
        n_iter = str(fit["n_iter"])
    chosen = f"hgb_lag {n_iter} of max {fit['max_iter']} iterations"
    for choice in ("class_weight", "target", "loss"):
        if choice in fit:
            chosen += f", {choice} {_distinct(fit[choice])}"
    if "known_future_columns" in fit:
        chosen += f", {fit['known_future_columns']} known-future column(s)"
    if task in run.decisions:
        chosen += f", class named by {run.decisions[task]['decision']}"
    print(f"baselines: {task}: {chosen} (chosen on validation)")
    for split, scores in (("val", run.val[task]), ("test", run.test[task])):
        shown = ", ".join(f"{name} {s[key]:.4g}" for name, s in scores.items())
        print(f"baselines: {task}: {split} {key}: {shown}")
    val = run.val[task]
    if val["hgb_lag"][key] >= val["persistence"][key]:
        print(
            f"baselines: warning: {task}: gradient boosting's validation {key} "
            f"{val['hgb_lag'][key]:.4g} is no better than persistence's "
            f"{val['persistence'][key]:.4g}"
        )


if __name__ == "__main__":
    run_stage("baselines", main)
