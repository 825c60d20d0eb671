"""Stage evaluate: score the model on the whole test split, in original units.

Writes metrics/evaluate.json ({task: {metric: value}}), metrics/baselines.json
(persistence on the same windows), predictions/test.csv (every test forecast, in
the format of `mtlstm predict`), and plots/{predictions,residuals,confusion}.csv
(one row set per task, faceted by task in dvc plots).
"""

from pathlib import Path

import numpy as np
import pandas as pd

from mtlstm import metrics, plots
from mtlstm.config import load_params
from mtlstm.dataset import make_input_dataset
from mtlstm.errors import run_stage
from mtlstm.io import load_npy, load_npz, read_json, write_csv, write_json
from mtlstm.predict import forecast_frame
from mtlstm.tf_setup import load_model

WINDOWS = Path("data/windows")
SPLIT = Path("data/split")
MODEL = Path("models/model.keras")
OUT_METRICS = Path("metrics/evaluate.json")
OUT_BASELINES = Path("metrics/baselines.json")
OUT_PREDICTIONS = Path("predictions/test.csv")
PLOTS = Path("plots")
PLOT_COLUMNS = {
    "predictions": ["time", "series", "value", "task"],
    "residuals": ["task", "residual"],
    "confusion": ["task", "actual", "predicted"],
}


def main() -> None:
    cfg = load_params().evaluate
    bundle = read_json(WINDOWS / "preprocess.json")
    model = load_model(MODEL, [t["name"] for t in bundle["tasks"]])
    scaled = load_npy(WINDOWS / "scaled.npy")
    targets = load_npz(WINDOWS / "targets.npz")
    ends = load_npy(SPLIT / "test.npy")
    times = pd.to_datetime(load_npy(WINDOWS / "times.npy"), utc=True)
    ds = make_input_dataset(scaled, ends, bundle["lookback"], cfg.batch_size)
    outputs = model.predict(ds, verbose=0)
    frame = forecast_frame(bundle, times, ends, outputs)
    write_csv(OUT_PREDICTIONS, frame)
    scores, baselines, tables = {}, {}, {}
    for spec in bundle["tasks"]:
        name, horizon = spec["name"], spec["horizon"]
        raw = original_units(targets[name], spec)
        actual, output = raw[ends + horizon], to_original(outputs[name], spec)
        scores[name] = metrics.score_task(spec, actual, output)
        baselines[name] = {"persistence": persistence_scores(spec, raw, ends, actual)}
        for kind, table in plot_tables(
            spec, actual, output, times[ends + horizon], cfg.plot_points
        ).items():
            tables.setdefault(kind, []).append(table)
    write_plots(tables)
    write_json(OUT_METRICS, scores)
    write_json(OUT_BASELINES, baselines)
    for name, s in scores.items():
        shown = ", ".join(f"{k} {v:.4g}" for k, v in s.items())
        print(f"evaluate: {name} on {len(ends)} test windows: {shown}")


def original_units(values: np.ndarray, spec: dict) -> np.ndarray:
    if spec["type"] == "regression":
        return values.astype(np.float64) * spec["std"] + spec["mean"]
    return values.astype(np.int64)


def to_original(output: np.ndarray, spec: dict) -> np.ndarray:
    """Regression heads predict the scaled target; classification heads give
    probabilities, which stay probabilities."""
    if spec["type"] == "regression":
        return original_units(output[:, 0], spec)
    return output.astype(np.float64)


def persistence_scores(spec: dict, raw: np.ndarray, ends: np.ndarray, actual) -> dict:
    last = metrics.persistence(raw, ends)
    if spec["type"] == "classification":
        last = metrics.one_hot(last, len(spec["classes"]))
    return metrics.score_task(spec, actual, last)


def plot_tables(spec: dict, actual, output, times, points: int) -> dict:
    """This task's rows for each plot kind (regression or classification)."""
    if spec["type"] == "regression":
        return {
            "predictions": plots.predictions_table(spec, times, actual, output, points),
            "residuals": plots.residuals_table(spec, actual, output),
        }
    return {"confusion": plots.confusion_table(spec, actual, output)}


def write_plots(tables: dict[str, list[pd.DataFrame]]) -> None:
    """One CSV per plot kind; a kind no task produces gets an empty table, so
    the declared outputs always exist."""
    for kind, columns in PLOT_COLUMNS.items():
        frames = tables.get(kind) or [pd.DataFrame(columns=columns)]
        write_csv(PLOTS / f"{kind}.csv", pd.concat(frames, ignore_index=True))


if __name__ == "__main__":
    run_stage("evaluate", main)
