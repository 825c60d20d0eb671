"""Stage ablation@<task>: did sharing help? A single-task model for one task.

Same trunk, head layer, dropout, batch, epochs, learning rate, early stopping and
ensemble size as the multi-task model (the train.* budget keys), one head, scored
on the same test windows. Writes metrics/ablation/<task>.json ({metric: value}), which
evaluate puts next to the multi-task model, and predictions/single_task/<task>.npz
(its test forecasts: "ends", the test windows' end rows, "forecast", in
original units or class probabilities, n or n x steps as mtlstm.tasks stores
them, and "quantiles", n x steps x levels, for a task with quantiles) for
evaluate's paired intervals.
With ablation.enabled false it writes only a note and an empty .npz, and
returns before importing TensorFlow (seconds per task otherwise).

train.distribute: the budget includes the global batch, batch_size x replicas.
Under mirrored the single-task model trains under the same strategy as the
multi-task model (the host's local replicas), so a step takes the same number
of windows. Under multi_worker the multi-task model's replicas are spread over
several hosts, but this stage is one process on one host: it trains on one
device, batch_size windows a step, and says so in a note (README "Scaling up").
"""

from pathlib import Path

import numpy as np

from mtlstm import metrics, tasks
from mtlstm.config import TRAIN_BUDGET, load_params
from mtlstm.errors import ConfigError, foreach_key, quote, run_stage
from mtlstm.io import load_npy, load_npz, load_series, read_json, write_json, write_npz

WINDOWS = Path("data/windows")
SPLIT = Path("data/split")
OUT = Path("metrics/ablation")
# Not a DVC output (it must survive a kill): the training checkpoints.
MODELS = Path("models")
OUT_FORECASTS = Path("predictions/single_task")
INPUTS = [WINDOWS / n for n in ("scaled.npy", "targets.npz", "preprocess.json")] + [
    SPLIT / n for n in ("train.npy", "val.npy", "test.npy")
]


def main() -> None:
    task = foreach_key("ablation")  # from DVC_STAGE: no params value in the shell
    params = load_params()
    if task not in params.tasks:
        raise ConfigError(
            f"ablation: no task {quote(task)} in params.yaml; tasks are "
            f"{list(params.tasks)}"
        )
    if not params.ablation.enabled:
        write_npz(OUT_FORECASTS / f"{task}.npz", {})
        write_json(OUT / f"{task}.json", {"skipped": "ablation.enabled is false"})
        print(f"ablation: {task}: skipped (ablation.enabled is false)")
        return
    bundle = read_json(WINDOWS / "preprocess.json")
    single = {**bundle, "tasks": [t for t in bundle["tasks"] if t["name"] == task]}
    scores, forecast = train_and_score(params, single)
    write_npz(OUT_FORECASTS / f"{task}.npz", forecast)
    write_json(OUT / f"{task}.json", scores)
    shown = ", ".join(f"{k} {v:.4g}" for k, v in scores.items())
    print(f"ablation: single-task {task} on the test windows: {shown}")


def train_and_score(
    params, bundle: dict
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """The single-task model's test scores, and its test forecasts ("ends",
    "forecast") in scoring units."""
    cfg, seed, task = params.train, params.base.seed, bundle["tasks"][0]["name"]
    # TensorFlow only here: a switched-off ablation stays instant. The strategy
    # first, before any TensorFlow op, as in the train stage.
    from mtlstm.distribute import one_process_strategy

    strategy = one_process_strategy(
        cfg.distribute, f"ablation: {task}", "the single-task model trains"
    )
    from mtlstm import resume
    from mtlstm.dataset import forecast_windows
    from mtlstm.model import (
        average_groups,
        embeds_series,
        make_single_task_model,
        training_class_weights,
    )
    from mtlstm.training import fit_member_groups

    arrays = {
        "scaled": load_npy(WINDOWS / "scaled.npy", mmap=True),
        "targets": load_npz(WINDOWS / "targets.npz", mmap=True),
        **{name: load_npy(SPLIT / f"{name}.npy") for name in ("train", "val", "test")},
    }
    if embeds_series(cfg):
        arrays["series"] = load_series(WINDOWS, bundle)
    weights = training_class_weights(cfg, bundle, arrays["targets"], arrays["train"])
    n_features = arrays["scaled"].shape[1]
    budget = {key: params_value(params, key) for key in TRAIN_BUDGET}
    settings = {
        **budget,
        "seed": seed,
        "task": task,
        "replicas": strategy.num_replicas_in_sync,  # changes the global batch
    }
    fingerprint = resume.fingerprint(settings, INPUTS)
    dirs = {"live": None, "resume": resume.single_task_dir(MODELS, task)}
    groups = fit_member_groups(
        lambda _: make_single_task_model(cfg, bundle, n_features, weights),
        cfg,
        seed,
        arrays,
        bundle,
        dirs,
        fingerprint,
        strategy,
        label=f"ablation@{task}",
    )
    with strategy.scope():
        model = average_groups(groups)  # as many members as the multi-task model
    outputs = forecast_windows(
        model, arrays["scaled"], arrays["test"], bundle, 1024, arrays.get("series")
    )
    resume.clear(dirs["resume"])
    series_rows = load_series(WINDOWS, bundle)  # None for one series
    at_end = metrics.window_series(series_rows, arrays["test"])
    scores = metrics.score_outputs(
        bundle, arrays["targets"], arrays["test"], outputs, series_rows
    )
    spec = bundle["tasks"][0]
    forecast = {
        "ends": arrays["test"],
        "forecast": tasks.squeezed(
            spec, metrics.model_output(outputs[task], spec, at_end)
        ),
    }
    levels = metrics.model_quantiles(outputs[task], spec, at_end)
    if levels is not None:
        forecast["quantiles"] = levels
    return scores[task], forecast


def params_value(params, dotted: str):
    section, key = dotted.split(".")
    return getattr(getattr(params, section), key)


if __name__ == "__main__":
    run_stage("ablation", main)
