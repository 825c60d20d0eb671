"""Stage backtest@<name>: rolling-origin evaluation of the trained configuration.

k expanding-window folds (backtest.<name>.folds), each with its own scalers
fitted on its own training rows; the model is retrained per fold (mode retrain)
or warm-started from the previous fold (refit). Writes
metrics/backtest/<name>.json: per task and metric the mean and sample std
(ddof=1) over folds of the model's scores and of its skill against each
baseline, and every fold's dates, scores, baseline scores and skills.
params.yaml declares no backtest by default. Many series (ingest.series): one
time cut per fold for every series, windows per series, scalers (per series
under window.scaling: per_series) refitted on each fold's training time range,
scores pooled over the series (mtlstm.backtest). Each fold checkpoints its
training under models/.resume-backtest-<name>-<fold> (resumed after a kill,
deleted once trained); a finished backtest also deletes those no declared fold
reads (remove_stale_resume).
"""

import dataclasses
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from mtlstm import backtest, metrics
from mtlstm.config import load_params
from mtlstm.errors import ConfigError, foreach_key, quote, run_stage
from mtlstm.io import read_json, write_json
from mtlstm.metrics import PRIMARY

IN_TABLE = Path("data/ingested.parquet")
IN_SCHEMA = Path("data/ingest_schema.json")  # ingest.freq, for the seasonal naive
OUT = Path("metrics/backtest")
# Not DVC outputs (they must survive a kill): a fold's training checkpoints.
MODELS = Path("models")
RESUME_PREFIX = ".resume-backtest-"


def main() -> None:
    name = foreach_key("backtest")  # from DVC_STAGE: no params value in the shell
    params = load_params()
    if name not in params.backtest:
        raise ConfigError(
            f"backtest: no backtest {quote(name)} in params.yaml; backtest "
            f"declares {list(params.backtest)}"
        )
    cfg = params.backtest[name]
    table = pd.read_parquet(IN_TABLE)
    freq = read_json(IN_SCHEMA)["freq"]
    trainer = FoldTrainer(params, name, cfg, backtest.period_times(table))
    result = backtest.run(table, params, cfg, trainer, freq)
    write_json(OUT / f"{name}.json", result)
    for line in report(name, result):
        print(line)
    declared = {key: value.folds for key, value in params.backtest.items()}
    for path in remove_stale_resume(MODELS, declared):
        print(f"backtest@{name}: removed {path}: no declared fold resumes from it")


def resume_dir(folder: Path, name: str, fold: int) -> Path:
    """Where fold ``fold`` (0-based) of backtest ``name`` checkpoints."""
    return Path(folder) / f"{RESUME_PREFIX}{name}-{fold}"


def remove_stale_resume(folder: Path, declared: dict[str, int]) -> list[Path]:
    """Delete the backtest checkpoint folders in ``folder`` that no declared
    fold (``declared``: each backtest's folds count) reads; return them, sorted.

    Each fold clears its own folder once trained, so only a killed run leaves
    one, and a fold's fingerprint makes a rerun ignore a stale one. But a
    folder no fold reads any more (its backtest renamed or removed, its folds
    count lowered) would stay forever. The kept set is built from the declared
    names rather than parsed from folder names: backtest ``a-1``'s fold 0
    (``a-1-0``) is never taken for one of ``a``'s, and another declared
    backtest's killed folds stay resumable."""
    from mtlstm import resume  # TensorFlow: the folds have trained by now

    keep = {
        resume_dir(folder, name, i)
        for name, folds in declared.items()
        for i in range(folds)
    }
    return resume.remove_stale(folder, RESUME_PREFIX, keep)


def report(name: str, result: dict) -> list[str]:
    """Per fold and task: its test dates, the model's primary score and its
    skill against each baseline; then the mean +- sample std over folds."""
    lines = []
    for fold in result["folds"]:
        period = f"test {fold['test']['from'][:16]} .. {fold['test']['to'][:16]}"
        for task, scores in fold["scores"].items():
            key = next(k for k in PRIMARY.values() if k in scores)
            skills = ", ".join(
                f"{ref} {v:+.3f}" if v is not None else f"{ref} n/a"
                for ref, v in fold["skill"][task].items()
            )
            lines.append(
                f"backtest@{name}: fold {fold['fold']} ({period}): {task}: "
                f"{key} {scores[key]:.4g}; skill {skills}"
            )
    n = len(result["folds"])
    for task, by_metric in result["summary"].items():
        shown = ", ".join(
            f"{m} {s['mean']:.4g} +- {_std(s['std'])}" for m, s in by_metric.items()
        )
        lines.append(f"backtest@{name}: {task}: {shown} (sample std, {n} folds)")
    return lines


def _std(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2g}"


class FoldTrainer:
    """Trains and scores one fold; remembers the model for ``refit``."""

    def __init__(self, params, name: str, cfg, times: pd.Series) -> None:
        self.params, self.name, self.cfg, self.previous = params, name, cfg, None
        self.times = times  # backtest.period_times: to name each fold's periods
        # Any change of params or data invalidates a killed fold's checkpoint.
        self.settings = dataclasses.asdict(params)
        self.strategy = None  # made at the first fold, before any TensorFlow op

    def __call__(self, fold: dict, ranges: dict, i: int) -> dict:
        # TensorFlow only when enabled: a switched-off backtest stays instant.
        # The strategy first, before any TensorFlow op, as in the train stage.
        if self.strategy is None:
            from mtlstm.distribute import one_process_strategy

            self.strategy = one_process_strategy(
                self.params.train.distribute,
                f"backtest@{self.name}",
                "each fold trains",
            )
        strategy = self.strategy
        from mtlstm import resume
        from mtlstm.dataset import forecast_windows
        from mtlstm.model import average_groups, embeds_series
        from mtlstm.training import fit_member_groups

        params, bundle = self.params, fold["bundle"]
        dates = backtest.fold_dates(self.times, ranges)
        shown = ", ".join(
            f"{k} {v['from'][:16]} .. {v['to'][:16]}" for k, v in dates.items()
        )
        # tqdm.write: keeps the folds' progress bar (mtlstm.backtest) intact.
        tqdm.write(f"backtest@{self.name}: fold {i + 1}/{self.cfg.folds}: {shown}")
        refit = self.cfg.mode == "refit"
        previous = self.previous if refit else None
        dirs = {"live": None, "resume": resume_dir(MODELS, self.name, i)}
        # The replica count changes the global batch (batch_size x replicas).
        replicas = strategy.num_replicas_in_sync
        stamp = resume.fingerprint(
            {**self.settings, "fold": i, "replicas": replicas}, [IN_TABLE]
        )
        label = f"backtest@{self.name}: fold {i + 1}"
        # A panel's per-row series codes: fed to a model that embeds them, and
        # always used to unscale each series with its own moments.
        codes = fold.get("codes")
        embedded = codes if embeds_series(params.train) else None
        if embedded is not None:
            fold["series"] = embedded  # training.fit reads the codes there
        groups = fit_member_groups(
            lambda m: fold_model(params, fold, previous and previous[m]),
            params.train,
            params.base.seed,
            fold,
            bundle,
            dirs,
            stamp,
            strategy,
            label=label,
            # A checkpoint's weights go into a new model, never into the
            # previous fold's member that refit has just trained further.
            build_checkpoint=lambda _: fold_model(params, fold, None),
        )
        resume.clear(dirs["resume"])
        self.previous = [group[0] for group in groups]  # refit: each member on
        with strategy.scope():
            model = average_groups(groups)
        test = fold["test"]
        outputs = forecast_windows(model, fold["scaled"], test, bundle, 1024, embedded)
        return metrics.score_outputs(bundle, fold["targets"], test, outputs, codes)


def fold_model(params, fold: dict, previous):
    """A fresh model, or the previous fold's to train further (refit)."""
    from mtlstm.model import (
        SeriesLookup,
        make_model,
        reweigh_classes,
        static_shapes,
        training_class_weights,
    )

    # Seeded by mtlstm.training.fit_member_groups, member by member.
    n_features = fold["scaled"].shape[1]
    weights = training_class_weights(
        params.train, fold["bundle"], fold["targets"], fold["train"]
    )  # the fold's own training windows ({} unless class_weighting balanced)
    if previous is not None:
        if previous.inputs[0].shape[-1] != n_features:
            raise ConfigError(
                "backtest.mode refit: the folds have different feature counts "
                "(a category first seen in a later fold); use backtest.mode retrain"
            )
        # The series' static codes are constants of the model: the previous
        # fold's would be kept, and a series that had no row before that fold's
        # end holds a placeholder there (mtlstm.static.fit).
        # Attribute i's lookup is named static_<i>_<column>_code (mtlstm.model).
        kept = sorted(
            (int(layer.name.split("_")[1]), layer.codes)
            for layer in previous.layers
            if isinstance(layer, SeriesLookup)
        )
        specs = static_shapes(params.train, fold["bundle"]) or []
        if [codes for _, codes in kept] != [spec[1] for spec in specs]:
            raise ConfigError(
                "backtest.mode refit: the folds' static attribute codes differ "
                "(features.static: a series or category first seen in a later "
                "fold); use backtest.mode retrain"
            )
        if weights:  # not the first fold's weights, which it was compiled with
            reweigh_classes(previous, params.train, fold["bundle"], weights)
        return previous
    return make_model(params.train, fold["bundle"], n_features, weights)


if __name__ == "__main__":
    run_stage("backtest", main)
