"""Stage backtest@<name>: rolling-origin evaluation of the trained configuration.

k expanding-window folds (backtest.<name>.folds), each with its own scalers
fitted on its own training rows; the model is retrained per fold (mode retrain)
or warm-started from the previous fold (refit). Writes
metrics/backtest/<name>.json: per task and metric the mean and std over folds,
and every fold's scores. params.yaml declares no backtest by default.
"""

import dataclasses
from pathlib import Path

import pandas as pd

from mtlstm import backtest, metrics
from mtlstm.config import load_params
from mtlstm.errors import ConfigError, foreach_key, quote, run_stage
from mtlstm.io import write_json

IN_TABLE = Path("data/ingested.parquet")
OUT = Path("metrics/backtest")


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
    result = backtest.run(table, params, cfg, FoldTrainer(params, name, cfg))
    write_json(OUT / f"{name}.json", result)
    for task, by_metric in result["summary"].items():
        shown = ", ".join(
            f"{m} {s['mean']:.4g} +- {s['std']:.2g}" for m, s in by_metric.items()
        )
        print(f"backtest@{name}: {task}: {shown}")


class FoldTrainer:
    """Trains and scores one fold; remembers the model for ``refit``."""

    def __init__(self, params, name: str, cfg) -> None:
        self.params, self.name, self.cfg, self.previous = params, name, cfg, None
        # Any change of params or data invalidates a killed fold's checkpoint.
        self.settings = dataclasses.asdict(params)

    def __call__(self, fold: dict, ranges: dict, i: int) -> dict:
        # TensorFlow only when enabled: a switched-off backtest stays instant.
        from mtlstm import resume
        from mtlstm.dataset import make_input_dataset
        from mtlstm.training import fit

        params, bundle = self.params, fold["bundle"]
        print(f"backtest@{self.name}: fold {i + 1}/{self.cfg.folds}, rows {ranges}")
        refit = self.cfg.mode == "refit"
        model = fold_model(params, fold, self.previous if refit else None)
        resume_dir = f"models/.resume-backtest-{self.name}-{i}"
        dirs = {"live": None, "resume": Path(resume_dir)}
        stamp = resume.fingerprint({**self.settings, "fold": i}, [IN_TABLE])
        model = fit(model, params.train, params.base.seed, fold, bundle, dirs, stamp)
        resume.clear(dirs["resume"])
        self.previous = model
        test = fold["test"]
        ds = make_input_dataset(fold["scaled"], test, bundle["lookback"], 1024)
        outputs = model.predict(ds, verbose=0)
        return metrics.score_outputs(bundle, fold["targets"], test, outputs)


def fold_model(params, fold: dict, previous):
    """A fresh model, or the previous fold's to train further (refit)."""
    from mtlstm.model import make_model, training_class_weights
    from mtlstm.tf_setup import make_deterministic

    make_deterministic(params.base.seed)
    n_features = fold["scaled"].shape[1]
    if previous is not None:
        if previous.input_shape[-1] != n_features:
            raise ConfigError(
                "backtest.mode refit: the folds have different feature counts "
                "(a category first seen in a later fold); use backtest.mode retrain"
            )
        return previous
    weights = training_class_weights(
        params.train, fold["bundle"], fold["targets"], fold["train"]
    )  # the fold's own training windows
    return make_model(params.train, fold["bundle"], n_features, weights)


if __name__ == "__main__":
    run_stage("backtest", main)
