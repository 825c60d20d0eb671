"""Stage evaluate: score the model on the whole test split, in original units.

Writes metrics/evaluate.json: per task the model's scores, the baselines' (from
the baselines stage), the single-task model's (from ablation) and, against each
of them, the skill on the task's primary error with a 95% circular moving-block
bootstrap interval and a Diebold-Mariano test on the per-window losses
(mtlstm.uncertainty; blocks of baselines.season windows, or of a task's last
step ahead if longer, seeded by base.seed; in a panel, blocks of as many
times carrying every series' windows):
{task: {"skill": {"vs_<reference>": {value, ci_low, ci_high, loss_diff,
dm_stat, dm_p}}}}; a classification task adds "macro_f1_diff": per reference
the model's macro-F1 minus the reference's with its interval from the same
resamples (uncertainty.macro_f1_difference). Scores pool every window and step
of a horizon range; a
range task adds "per_step" (per step, the model's and every reference's
scores), a task with quantiles adds the pinball loss, coverage and width of
each central interval to its scores, and "pinball_skill" (against the naive
interval and the single-task model). Also predictions/test.csv (every test
forecast and its actual, in the format of `mtlstm predict`), metrics/versions.json
(the versions of Python, TensorFlow, Keras, NumPy, pandas, scikit-learn and DVC
that produced the numbers: mtlstm.versions), and
plots/{predictions,residuals,confusion,skill,steps,fan}.csv (one row set per
task, faceted by task in dvc plots; predictions and fan draw one series over
time: in a panel the first series with test windows, named in the label).

Per class (metrics.per_class_rows): metrics/per_class.csv, one row per
classification task, class and forecaster (the model, every baseline, the
single-task model): that class's precision, recall and F1 on the test windows,
where a macro-F1 difference comes from (header only without a classification
task).

Per series (mtlstm.per_series): metrics/per_series.csv, one row per task and
series (data/windows/series.npy; without ingest.series one series, "all"): the
model's, every baseline's and the single-task model's primary error on that
series' test windows, and the model's skill against the best baseline of the
series with its interval; plots/per_series.csv draws that skill.

metrics/scores.json, the DVC metric people compare, summarises evaluate.json
for people and `dvc exp show` (metrics.task_summary): per task the model's
scores, primary error first, its skill against each reference with the bounds
of its 95% interval (skill_low, skill_high), for a classification task its
macro-F1 difference from each likewise (macro_f1_diff, _low, _high), then the
references' scores.

Files of tasks no longer in params.yaml are deleted from metrics/ablation/ and
predictions/single_task/ (no stage owns them any more): this stage depends on
those folders, so DVC would otherwise hash a stale file into dvc.lock that a
fresh checkout does not have.
"""

import functools
import math
from pathlib import Path

import numpy as np
import pandas as pd

from mtlstm import metrics, per_series, plots, tasks, uncertainty
from mtlstm.config import load_params
from mtlstm.dataset import forecast_windows, input_names
from mtlstm.errors import DataError, run_stage
from mtlstm.io import (
    load_npy,
    load_npz,
    load_series,
    read_json,
    remove_stale,
    write_csv,
    write_json,
)
from mtlstm.predict import forecast_frame
from mtlstm.tf_setup import load_model
from mtlstm.versions import versions

WINDOWS = Path("data/windows")
SPLIT = Path("data/split")
MODEL = Path("models/model.keras")
IN_BASELINES = Path("metrics/baselines.json")
IN_ABLATION = Path("metrics/ablation")
IN_BASELINE_FORECASTS = Path("predictions/baselines.npz")
IN_SINGLE_FORECASTS = Path("predictions/single_task")
OUT_METRICS = Path("metrics/evaluate.json")
OUT_VERSIONS = Path("metrics/versions.json")
OUT_SCORES = Path("metrics/scores.json")
OUT_PREDICTIONS = Path("predictions/test.csv")
OUT_PER_SERIES = Path("metrics/per_series.csv")
OUT_PER_CLASS = Path("metrics/per_class.csv")
PLOTS = Path("plots")
PLOT_COLUMNS = {
    "predictions": ["time", "series", "value", "task"],
    "residuals": ["task", "residual"],
    "confusion": ["task", "actual", "predicted"],
    "skill": ["task", "reference", "skill", "ci_low", "ci_high"],
    "steps": ["task", "step", "reference", "error"],
    "fan": ["task", "time", "interval", "lower", "upper", "median", "actual"],
    "per_series": per_series.PLOT_COLUMNS,
}


def main() -> None:
    params = load_params()
    cfg = params.evaluate
    bundle = read_json(WINDOWS / "preprocess.json")
    ends = load_npy(SPLIT / "test.npy")
    season = params.baselines.season
    # A panel's windows are resampled by time, all series together (see
    # mtlstm.uncertainty): the blocks run over the distinct test times.
    stamps = load_npy(WINDOWS / "times.npy")  # every row's time
    positions = uncertainty.time_positions(stamps[ends])
    blocks = {t["name"]: bootstrap_block(season, t) for t in bundle["tasks"]}
    check_bootstrap_length(len(ends), positions, season, max(blocks.values()))
    # Every input is read and checked before anything is written.
    baselines = read_json(IN_BASELINES)
    stored = load_forecasts(IN_BASELINE_FORECASTS, ends)
    references, reference_levels = reference_forecasts(bundle, baselines, stored, ends)
    reference_classes = reference_decisions(bundle, baselines, references, stored)
    model = load_model(MODEL, [t["name"] for t in bundle["tasks"]])
    scaled = load_npy(WINDOWS / "scaled.npy", mmap=True)
    targets = load_npz(WINDOWS / "targets.npz")
    times = pd.to_datetime(stamps, utc=True)
    series_rows = load_series(WINDOWS, bundle)  # a panel's codes, or None
    series_names = bundle["series"]["names"] if series_rows is not None else None
    embedded = series_rows if "series" in input_names(model) else None
    outputs = forecast_windows(model, scaled, ends, bundle, cfg.batch_size, embedded)
    at_end = metrics.window_series(series_rows, ends)
    forecasts = forecast_frame(
        bundle, times, ends, outputs, targets, series=series_rows
    )
    scores = metrics.score_outputs(bundle, targets, ends, outputs, series_rows)
    decided = metrics.model_decisions(bundle, outputs, at_end)  # decide_by tasks
    drawn = plots.drawn_windows(at_end, len(ends))  # one series' windows
    drawn_name = None if at_end is None else series_names[at_end[drawn[0]]]
    report, tables, by_series, by_class = {}, {}, [], []
    for spec in bundle["tasks"]:
        name = spec["name"]
        # Every interval of the task resamples the same way (bootstrap_block).
        resampling = {
            "block": blocks[name],
            "samples": cfg.bootstrap_samples,
            "seed": params.base.seed,
        }
        compare = functools.partial(
            uncertainty.compare, **resampling, positions=positions
        )
        single = single_task_scores(name)
        actual = metrics.actuals(spec, targets[name], ends, series_rows)  # n x steps
        output = metrics.model_output(outputs[name], spec, at_end)
        classes = {"model": decided.get(name), **reference_classes.get(name, {})}
        if classes.get("single_task") is not None:
            # Decided like the model: by the single-task model of decide_by.
            single = metrics.score_task(
                spec, actual, references[name]["single_task"], classes["single_task"]
            )
        model_loss = metrics.window_losses(spec, actual, output)
        ref_losses = {
            ref: metrics.window_losses(spec, actual, forecast)
            for ref, forecast in references[name].items()
        }
        skill = compare(model_loss, ref_losses)
        if spec["type"] == "classification":
            by_class += metrics.per_class_rows(
                spec, actual, {"model": output, **references[name]}, classes
            )
        by_series.append(
            per_series.task_table(
                spec,
                at_end,
                series_names,
                model_loss,
                {ref: ref_losses[ref] for ref in baselines[name]},
                ref_losses.get("single_task"),
                **resampling,
            )
        )
        report[name] = metrics.task_report(
            spec, scores[name], baselines[name], single, json_safe(skill)
        )
        if spec["type"] == "classification":
            # The class named (decide_by or argmax) by each forecaster, paired.
            named = {
                ref: tasks.classes_of(forecast, classes.get(ref))
                for ref, forecast in {"model": output, **references[name]}.items()
            }
            report[name]["macro_f1_diff"] = json_safe(
                uncertainty.compare_macro_f1(
                    actual,
                    named.pop("model"),
                    named,
                    len(spec["classes"]),
                    **resampling,
                    positions=positions,
                )
            )
        levels = metrics.model_quantiles(outputs[name], spec, at_end)
        if levels is not None:
            # Pinball skill: against the naive interval (and the single-task
            # model's quantiles), on per-window mean pinball losses.
            report[name]["pinball_skill"] = json_safe(
                compare(
                    metrics.window_pinball(spec, actual, levels),
                    {
                        ref: metrics.window_pinball(spec, actual, ref_levels)
                        for ref, ref_levels in reference_levels[name].items()
                    },
                )
            )
        if tasks.is_range(spec):
            report[name]["per_step"] = per_step_scores(
                spec,
                actual,
                {"model": output, **references[name]},
                {"model": levels, **reference_levels[name]},
                classes,
            )
        # n x steps target instants (UTC datetime64)
        instants = times.tz_convert("UTC").tz_localize(None).to_numpy()
        target_times = instants[tasks.target_rows(ends, spec)]
        for kind, table in plot_tables(
            spec,
            actual,
            output,
            levels,
            target_times,
            cfg.plot_points,
            decided.get(name),
            drawn,
            drawn_name,
        ).items():
            tables.setdefault(kind, []).append(table)
        tables.setdefault("skill", []).append(plots.skill_table(spec, report[name]))
        if "per_step" in report[name]:
            tables.setdefault("steps", []).append(
                plots.steps_table(
                    spec, report[name]["per_step"], metrics.PRIMARY[spec["type"]]
                )
            )
    record = versions()  # before any write: all outputs or none
    table = per_series.combine(by_series)
    tables["per_series"] = [per_series.plot_table(table)]
    write_csv(OUT_PREDICTIONS, forecasts)
    write_plots(tables)
    write_csv(OUT_PER_SERIES, table)
    write_csv(OUT_PER_CLASS, pd.DataFrame(by_class, columns=metrics.PER_CLASS_COLUMNS))
    write_json(OUT_METRICS, report)
    write_json(OUT_VERSIONS, record)
    write_json(
        OUT_SCORES,
        {
            s["name"]: metrics.task_summary(s, report[s["name"]])
            for s in bundle["tasks"]
        },
    )
    names = [spec["name"] for spec in bundle["tasks"]]
    for folder, suffix in ((IN_ABLATION, ".json"), (IN_SINGLE_FORECASTS, ".npz")):
        for path in remove_stale(folder, {f"{n}{suffix}" for n in names}, suffix):
            print(f"evaluate: removed {path}: no task {path.stem} in params.yaml")
    for name, r in report.items():
        shown = ", ".join(f"{k} {v:.4g}" for k, v in r["model"].items())
        print(f"evaluate: {name}: {shown}")
        for kind in ("skill", "pinball_skill"):
            for ref, s in r.get(kind, {}).items():
                label = "skill" if kind == "skill" else "pinball skill"
                print(
                    f"evaluate: {name}: {label} {ref} {s['value']:+.3f} "
                    f"[{s['ci_low']:+.3f}, {s['ci_high']:+.3f}], DM p {s['dm_p']:.3g}"
                )
        for ref, s in r.get("macro_f1_diff", {}).items():
            print(
                f"evaluate: {name}: macro-F1 difference {ref} {s['value']:+.3f} "
                f"[{s['ci_low']:+.3f}, {s['ci_high']:+.3f}]"
            )
    if series_rows is not None:
        for table in by_series:
            name = table["task"].iloc[0]
            print(f"evaluate: {name}: per series: {per_series.summary(table)}")


def bootstrap_block(season: int, spec: dict) -> int:
    """A task's bootstrap block (and Diebold-Mariano lags + 1): one season, or
    its last step ahead if longer. Windows h steps ahead share targets with
    their next h - 1 neighbours, so their losses are dependent over h windows;
    shorter blocks and lags (a classification horizon may exceed the season)
    gave intervals and tests that found differences where there were none."""
    return max(season, tasks.last_step(spec))


def check_bootstrap_length(
    n_windows: int, positions: np.ndarray | None, season: int, block: int = 0
) -> None:
    """The test split must span more than one bootstrap block of times: one
    season, or ``block`` if longer (a task's last step ahead:
    ``bootstrap_block``). A block that holds every test window resamples
    nothing (every resample has the full split's mean, no interval)."""
    n_times = n_windows if positions is None else int(positions.max()) + 1
    block = max(season, block)
    if n_times <= block:
        unit = "windows" if positions is None else "times (of all series)"
        amount = "fewer than" if n_times < block else "only"
        what = f"one season (baselines.season = {season})"
        if block > season:
            what = (
                f"one bootstrap block ({block} steps, a task's last step ahead; "
                f"baselines.season = {season})"
            )
        raise DataError(
            f"data/split/test.npy: {n_times} test {unit}, {amount} {what}, the "
            "block length of the bootstrap intervals, which needs more than one "
            "block to resample; use more data, a larger test share or a shorter "
            "season (or horizon)"
        )


def per_step_scores(
    spec: dict,
    actual: np.ndarray,
    forecasts: dict[str, np.ndarray],
    levels: dict[str, np.ndarray | None],
    classes: dict[str, np.ndarray | None] | None = None,
) -> dict:
    """``{"steps": [...], forecaster: {metric: [score per step]}}`` for the
    model and every reference; quantile scores where a forecaster has them;
    ``classes``: the classes a forecaster names where not its argmax."""
    out: dict = {"steps": tasks.steps(spec).tolist()}
    for name, forecast in forecasts.items():
        named = (classes or {}).get(name)
        if named is not None:
            named = np.asarray(named).reshape(actual.shape)
        out[name] = metrics.step_scores(spec, actual, forecast, named)
        if levels.get(name) is not None:
            per_step = [
                metrics.quantile_scores(spec, actual[:, [i]], levels[name][:, [i]])
                for i in range(actual.shape[1])
            ]
            out[name] |= {key: [s[key] for s in per_step] for key in per_step[0]}
    return out


def reference_forecasts(
    bundle: dict, baselines: dict, forecasts: dict[str, np.ndarray], ends: np.ndarray
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, np.ndarray]]]:
    """{task: {reference: per-window test forecast, with steps}}: every baseline
    of baselines.json (``forecasts``: predictions/baselines.npz, checked against
    ``ends``), and the single-task model unless the ablation was off; and {task:
    {reference: n x steps x quantiles}} of those with quantiles."""
    out, levels = {}, {}
    for spec in bundle["tasks"]:
        name = spec["name"]
        out[name] = {
            ref: tasks.with_steps(spec, forecasts[f"{name}.{ref}"])
            for ref in baselines[name]
        }
        levels[name] = {
            ref: forecasts[f"{name}.{ref}.quantiles"]
            for ref in baselines[name]
            if f"{name}.{ref}.quantiles" in forecasts
        }
        if single_task_scores(name) is not None:
            path = IN_SINGLE_FORECASTS / f"{name}.npz"
            single = load_forecasts(path, ends)
            out[name]["single_task"] = tasks.with_steps(spec, single["forecast"])
            if "quantiles" in single:
                levels[name]["single_task"] = single["quantiles"]
    return out, levels


def reference_decisions(
    bundle: dict,
    baselines: dict,
    references: dict[str, dict[str, np.ndarray]],
    stored: dict[str, np.ndarray],
) -> dict[str, dict[str, np.ndarray]]:
    """{class task: {reference: classes named}} for each task with decide_by
    (mtlstm.tasks): the single-task model's, binned from the single-task model
    of the regression task it names; gradient boosting's where the baselines
    stage chose binning on validation (``stored``: predictions/baselines.npz).
    Other references name their argmax."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for spec in bundle["tasks"]:
        name, source = spec["name"], tasks.decided_by(spec)
        if source is None:
            continue
        out[name] = {
            ref: stored[f"{name}.{ref}.decided"]
            for ref in baselines[name]
            if f"{name}.{ref}.decided" in stored
        }
        single = references[source].get("single_task")
        if single is not None and "single_task" in references[name]:
            out[name]["single_task"] = tasks.bin_index(spec, single)
    return out


def load_forecasts(path: Path, ends: np.ndarray) -> dict[str, np.ndarray]:
    """A stage's per-window test forecasts, checked to be for these windows."""
    forecasts = load_npz(path)
    if not np.array_equal(forecasts.get("ends"), ends):
        raise DataError(
            f"{path}: its forecasts are not for the windows of data/split/test.npy; "
            "rerun `dvc repro` to bring every stage up to date"
        )
    return forecasts


def json_safe(skill: dict[str, dict[str, float]]) -> dict[str, dict]:
    """Non-finite numbers (a DM statistic of constant loss differences) as null:
    JSON has no infinity."""
    return {
        ref: {k: v if math.isfinite(v) else None for k, v in values.items()}
        for ref, values in skill.items()
    }


def single_task_scores(task: str) -> dict[str, float] | None:
    """The ablation stage's single-task scores, or None if it was switched off."""
    scores = read_json(IN_ABLATION / f"{task}.json")
    return None if "skipped" in scores else scores


def plot_tables(
    spec: dict,
    actual,
    output,
    levels,
    times,
    points: int,
    decided=None,
    drawn: np.ndarray | None = None,
    series: str | None = None,
) -> dict[str, pd.DataFrame]:
    """This task's rows for each plot kind (regression or classification).
    ``actual``, ``output`` (and ``levels``, ``times``, ``decided``: the classes
    named where not the argmax) have the step axis. ``drawn``: the windows the
    charts over time draw (``plots.drawn_windows``; None: all), of the panel's
    series ``series``."""
    if spec["type"] == "regression":
        drawn = np.arange(len(actual)) if drawn is None else drawn
        shown = drawn[plots.tiled(len(drawn), actual.shape[1])]
        out = {
            "predictions": plots.predictions_table(
                spec,
                utc(times[shown]),
                actual[shown].ravel(),
                output[shown].ravel(),
                points,
                series,
            ),
            "residuals": plots.residuals_table(spec, actual.ravel(), output.ravel()),
        }
        if levels is not None:
            out["fan"] = plots.fan_table(
                spec,
                utc(times[shown]),
                actual[shown].ravel(),
                levels[shown].reshape(-1, levels.shape[-1]),
                points,
                series,
            )
        return out
    n_classes = len(spec["classes"])
    return {
        "confusion": plots.confusion_table(
            spec,
            actual.ravel(),
            output.reshape(-1, n_classes),
            None if decided is None else np.asarray(decided).ravel(),
        )
    }


def utc(values: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(values.ravel()).tz_localize("UTC")


def write_plots(tables: dict[str, list[pd.DataFrame]]) -> None:
    """One CSV per plot kind; a kind no task produces gets an empty table, so
    the declared outputs always exist."""
    for kind, columns in PLOT_COLUMNS.items():
        frames = tables.get(kind) or [pd.DataFrame(columns=columns)]
        write_csv(PLOTS / f"{kind}.csv", pd.concat(frames, ignore_index=True))


if __name__ == "__main__":
    run_stage("evaluate", main)
