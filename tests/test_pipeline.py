"""End to end with real DVC: a temp git repo runs the pipeline on a tiny CSV.

One repo is shared by the module (each ``dvc repro`` pays TensorFlow's import time
per TF stage): a copy of the session's first run (``first_run_copy``), which
test_experiments.py and test_remote.py copy too. Every test first brings the
pipeline up to date, then changes one setting (or several of one kind, each
checked on its own in ``dvc status``) and checks which stages DVC reruns or
finds due, read from ``dvc status --json`` and from the ``Running stage
'<name>'`` lines of ``dvc repro``; so the tests hold in any order.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
import yaml
from conftest import ROOT
from numpy.testing import assert_array_equal

from mtlstm import tasks

VENV_BIN = Path(sys.executable).parent
DVC = VENV_BIN / "dvc"
STAGES = (
    "ingest",
    "window",
    "split",
    "baselines",
    "train",
    "ablation@demand",
    "ablation@temp_class",
    "evaluate",
)
RUNNING = re.compile(r"Running stage '([^']+)'")
CACHED = re.compile(r"Stage '([^']+)' is cached - skipping run")
CSV = "data/raw/synthetic.csv"
TIMEOUT = 600


def write_synthetic_csv(path: Path, rows: int = 400, seed: int = 0) -> None:
    """Hourly demand with a daily cycle; temperature crosses 15 and 25 every day."""
    rng = np.random.default_rng(seed)
    time = pd.date_range("2024-03-01", periods=rows, freq="h", tz="UTC")
    hour = np.arange(rows) % 24
    demand = 4000 + 800 * np.sin(2 * np.pi * hour / 24) + rng.normal(0, 50, rows)
    temp = 20 + 9 * np.sin(2 * np.pi * (hour - 9) / 24) + rng.normal(0, 1, rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            "Time": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Demand": demand.round(2),
            "Temperature": temp.round(2),
            "Holiday": np.where(time.day_of_week >= 5, "true", "false"),
        }
    ).to_csv(path, index=False)


def tiny_params() -> dict:
    """The project's params.yaml, pointed at the CSV and shrunk to seconds."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["ingest"]["source"] = CSV
    # A horizon above 1: scoring must read row e + horizon, not e + 1.
    params["tasks"]["demand"]["horizon"] = 3
    # One saved model, whose layers tests read (checkpoint averaging has its own
    # test below, and tests/test_checkpoint_average.py).
    params["train"].update(layers=[8], epochs=2, batch_size=64, checkpoint_average=1)
    params["window"]["lookback"] = 6
    params["evaluate"]["plot_points"] = 24
    return params


def dvc_env(scratch: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    # Stages run `python stages/<name>.py` through the shell: the venv's python.
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV_BIN.parent)
    env["DVC_NO_ANALYTICS"] = "1"
    env["DVC_SITE_CACHE_DIR"] = str(scratch / "dvc-site-cache")
    env["DVC_GLOBAL_CONFIG_DIR"] = str(scratch / "dvc-global-config")
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["PYTHONHASHSEED"] = "0"
    return env


@dataclass
class Project:
    root: Path
    env: dict[str, str]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            args,
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        if check and proc.returncode != 0:
            pytest.fail(
                f"`{' '.join(args)}` exited {proc.returncode}:\n"
                f"{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(str(DVC), *args, check=check)

    def repro(self, *args: str) -> list[str]:
        """Run ``dvc repro``; the stages whose command ran, in order."""
        proc = self.dvc("repro", *args)
        out = proc.stdout + proc.stderr
        assert not CACHED.findall(out), f"unexpected run-cache restore:\n{out}"
        return RUNNING.findall(out)

    def status(self) -> dict:
        return json.loads(self.dvc("status", "--json").stdout or "{}")

    def params(self) -> dict:
        return yaml.safe_load((self.root / "params.yaml").read_text(encoding="utf-8"))

    def set_params(self, change: Callable[[dict], None]) -> None:
        params = self.params()
        change(params)
        (self.root / "params.yaml").write_text(
            yaml.safe_dump(params, sort_keys=False), encoding="utf-8"
        )

    def read_json(self, path: str):
        return json.loads((self.root / path).read_text(encoding="utf-8"))

    def up_to_date(self) -> None:
        """Bring every stage up to date, so the next change is the only one."""
        if self.status():
            self.dvc("repro")  # may restore from the run cache: that is fine here
        assert self.status() == {}


def make_project(root: Path, scratch: Path, params: dict) -> Project:
    """A fresh git + DVC repo holding the pipeline's code and a tiny data set."""
    root.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for tree in ("stages", "src"):
        shutil.copytree(ROOT / tree, root / tree, ignore=ignore)
    for name in (
        "dvc.yaml",
        ".gitignore",
        ".dvcignore",
        ".dvc/config",
        ".dvc/.gitignore",
    ):
        if (ROOT / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, root / name)
    shutil.copytree(ROOT / ".dvc" / "plots", root / ".dvc" / "plots")  # templates
    (root / "params.yaml").write_text(
        yaml.safe_dump(params, sort_keys=False), encoding="utf-8"
    )
    write_synthetic_csv(root / CSV)
    env = dvc_env(scratch)
    # The copied code runs, not the editable install: deps hash what runs.
    env["PYTHONPATH"] = str(root / "src")
    project = Project(root, env)
    project.run("git", "init", "-q", "-b", "main")
    project.run("git", "config", "user.name", "mtlstm tests")
    project.run("git", "config", "user.email", "tests@example.invalid")
    project.run("git", "config", "commit.gpgsign", "false")
    if not (root / ".dvc" / "config").is_file():
        project.dvc("init", "-q")
    project.run("git", "add", "-A")
    project.run("git", "commit", "-q", "-m", "pipeline on synthetic data")
    return project


def copy_project(source: Path, root: Path, scratch: Path) -> Project:
    """The repo at ``source`` (git, DVC cache, outputs) copied to ``root``, with
    its own DVC scratch; DVC's temp folder (locks, index) stays behind."""

    def dvc_temp(folder: str, names: list[str]) -> set[str]:
        return {"tmp"} if Path(folder).name == ".dvc" else set()

    shutil.copytree(source, root, symlinks=True, ignore=dvc_temp)
    env = dvc_env(scratch)
    env["PYTHONPATH"] = str(root / "src")  # the copy's code runs, as in make_project
    return Project(root, env)


def session_folder(tmp_path_factory) -> Path:
    """A folder every test process of this pytest run shares: pytest-xdist
    gives each worker its own base temp folder inside the run's."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def first_run_copy(
    tmp_path_factory, root: Path, scratch: Path
) -> tuple[Project, dict, list[str]]:
    """A copy (at ``root``) of a project on ``tiny_params()`` after its first
    ``dvc repro``, with what that repro found due and which stages it ran.

    The first run is the same for every file that needs it, so it runs once
    per pytest run, by whichever process asks first (the others wait on a file
    lock), and each file changes its own copy.
    """
    shared = session_folder(tmp_path_factory)
    template = shared / "first-run"
    record = template / "first-run.json"
    with open(shared / "first-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not record.is_file():
            shutil.rmtree(template, ignore_errors=True)  # a failed attempt's
            params = tiny_params()
            project = make_project(template / "repo", template / "scratch", params)
            record.write_text(
                json.dumps({"before": project.status(), "ran": project.repro()})
            )
    first = json.loads(record.read_text())
    return copy_project(template / "repo", root, scratch), first["before"], first["ran"]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dvc-scratch")


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, scratch):
    """The shared project and what its very first ``dvc repro`` ran."""
    root = tmp_path_factory.mktemp("pipeline") / "repo"
    return first_run_copy(tmp_path_factory, root, scratch)


@pytest.fixture
def project(first_run) -> Project:
    project = first_run[0]
    project.up_to_date()
    return project


def due_through_windows(project: Project) -> set[str]:
    """The stages ``dvc status`` finds due, each checked to be due through
    data/windows alone (after a change that reran window and nothing later)."""
    status = project.status()
    for stage in status.values():
        assert stage == [{"changed deps": {"data/windows": "modified"}}], status
    return set(status)


def tasks_of(project: Project) -> list[str]:
    return list(project.params()["tasks"])


def test_first_repro_runs_every_stage_in_order(first_run):
    project, before, ran = first_run
    assert set(before) == set(STAGES), (
        f"a fresh repo should have all stages due: {before}"
    )
    assert ran == list(STAGES)
    report = project.read_json("metrics/evaluate.json")
    assert list(report) == tasks_of(project)
    expected = {
        "demand": ({"mae", "rmse", "smape"}, {"persistence", "seasonal_naive"}),
        "temp_class": ({"accuracy", "macro_f1", "log_loss"}, {"majority"}),
    }
    core = {"model", "baselines", "single_task", "skill"}
    assert set(report["demand"]) == core
    # A classification task adds the macro-F1 differences, one per reference.
    assert set(report["temp_class"]) == core | {"macro_f1_diff"}
    assert set(report["temp_class"]["macro_f1_diff"]) == set(
        report["temp_class"]["skill"]
    )
    for task, (metric_names, some_baselines) in expected.items():
        assert set(report[task]["model"]) == metric_names
        assert set(report[task]["single_task"]) == metric_names
        assert some_baselines | {"hgb_lag"} <= set(report[task]["baselines"])
        assert {"vs_persistence", "vs_hgb_lag", "vs_single_task"} <= set(
            report[task]["skill"]
        )
        assert all(np.isfinite(v) for v in report[task]["model"].values()), task
        for ref, s in report[task]["skill"].items():
            assert set(s) == {
                "value",
                "ci_low",
                "ci_high",
                "loss_diff",
                "dm_stat",
                "dm_p",
            }
            assert all(np.isfinite(v) for v in s.values()), (task, ref, s)
            assert s["ci_low"] <= s["ci_high"], (task, ref, s)
            assert 0 <= s["dm_p"] <= 1
        # Validation chose the booster's iterations (and class weighting).
        fit = project.read_json("metrics/baselines_val.json")[task]
        assert 1 <= fit["hgb_lag"]["n_iter"] <= fit["hgb_lag"]["n_iter_fitted"]
        assert some_baselines | {"hgb_lag"} <= set(fit["val"])
        assert ("class_weight" in fit["hgb_lag"]) == (task == "temp_class")
    # Per-window test forecasts behind the intervals, for the test windows.
    test_ends = np.load(project.root / "data/split/test.npy")
    with np.load(project.root / "predictions/baselines.npz") as forecasts:
        assert_array_equal(forecasts["ends"], test_ends)
        assert forecasts["demand.hgb_lag"].shape == test_ends.shape
        assert forecasts["temp_class.hgb_lag"].shape == (len(test_ends), 3)
    for task in expected:
        with np.load(project.root / f"predictions/single_task/{task}.npz") as single:
            assert_array_equal(single["ends"], test_ends)
            assert len(single["forecast"]) == len(test_ends)
    assert (project.root / "models/model.keras").is_file()
    assert (project.root / "dvc.lock").is_file()


def test_second_repro_runs_nothing(project):
    assert project.status() == {}
    assert project.repro() == []


def test_loss_weight_and_selection_changes_rerun_only_train_and_evaluate(project):
    """A loss weight and train.selection (which epoch the multi-task model
    keeps) are the shared model's alone: a single-task model has one loss and
    trains identically under every selection rule, so neither change reruns
    the ablation. Both change in one repro (either one read by the ablation
    would make it due)."""

    def change(params):
        params["train"]["loss_weights"]["temp_class"] = 0.25
        other = {"total": "task_ratio", "task_ratio": "total"}
        params["train"]["selection"] = other[params["train"]["selection"]]

    project.set_params(change)
    status = project.status()
    assert set(status) == {"train"}, f"only train's params changed: {status}"
    # What killed ablations left: of a task since removed from params.yaml
    # (train deletes it: no ablation stage resumes from it), of a declared
    # task whose name extends it (kept: its ablation may resume).
    models = project.root / "models"
    tasks = list(project.params()["tasks"])
    planted = [f".resume-single-{tasks[0]}_old", f".resume-single-{tasks[0]}"]
    for name in planted:
        (models / name).mkdir()
    assert project.repro() == ["train", "evaluate"]
    assert not (models / planted[0]).exists()
    assert (models / planted[1]).is_dir()
    (models / planted[1]).rmdir()  # not resumable: leave the project as it was
    report = project.read_json("metrics/evaluate.json")
    assert all(np.isfinite(v) for t in report.values() for v in t["model"].values())
    assert not (project.root / "models/.resume").exists()
    assert project.status() == {}


def test_model_keys_retrain_the_single_task_models_too(project):
    """A task-specific layer (dense and recurrent), the learning-rate schedule,
    weight averaging, the classification loss (class weights, focal gamma) and
    an ordinal head are part of the model and its budget: the ablation trains
    with the same ones.
    All change in one repro (each is a budget key on its own: the per-key
    status check below); the saved model holds each of them."""
    keys = (
        "head_units",
        "task_lstm",
        "lr_schedule",
        "ema_momentum",
        "class_weighting",
        "focal_gamma",
        "ordinal",
    )

    def change(params):
        # Every key changes, whatever the project's current settings are.
        train = params["train"]
        train["head_units"] = 2 if train.get("head_units", 0) == 3 else 3
        train["task_lstm"] = 2 if train.get("task_lstm", 0) == 3 else 3
        schedule = train.get("lr_schedule", "constant")
        train["lr_schedule"] = "cosine" if schedule == "constant" else "constant"
        train["ema_momentum"] = 0.5 if train.get("ema_momentum", 0.0) == 0 else 0.0
        weighting = train.get("class_weighting", "none")
        train["class_weighting"] = "none" if weighting == "balanced" else "balanced"
        train["focal_gamma"] = 2.0 if train.get("focal_gamma", 0.0) == 0 else 0.0
        train["ordinal"] = [] if train.get("ordinal") else ["temp_class"]
        # One model (not an average of members), whose top layers are the heads.
        train.update(ensemble=1, checkpoint_average=1)

    project.set_params(change)
    status = project.status()
    assert set(status) == {"train", "ablation@demand", "ablation@temp_class"}, status
    for stage in ("ablation@demand", "ablation@temp_class"):
        changed = json.dumps(status[stage])
        for key in keys:
            assert f"train.{key}" in changed, (stage, key, changed)
    assert project.repro() == [
        "train",
        "ablation@demand",
        "ablation@temp_class",
        "evaluate",
    ]
    train = project.params()["train"]
    with zipfile.ZipFile(project.root / "models/model.keras") as archive:
        config = json.loads(archive.read("config.json"))
    layers = {layer["name"]: layer for layer in config["config"]["layers"]}
    hidden = {
        name: layer["config"]["units"]
        for name, layer in layers.items()
        if name.endswith("_hidden")
    }
    assert hidden == {
        f"{task}_hidden": train["head_units"] for task in tasks_of(project)
    }
    own = {
        name: layer["config"]["units"]
        for name, layer in layers.items()
        if layer["class_name"] == "LSTM" and not name.startswith("trunk_")
    }
    assert own == {f"{task}_lstm": train["task_lstm"] for task in tasks_of(project)}
    rates_file = project.root / "dvclive/plots/metrics/train/learning_rate.tsv"
    if train["lr_schedule"] == "cosine":  # epoch e: lr * (1 + cos(pi e / epochs)) / 2
        rates = pd.read_csv(rates_file, sep="\t")["learning_rate"].to_numpy()
        epochs = np.arange(len(rates))
        expected = train["learning_rate"] * (
            1 + np.cos(np.pi * epochs / train["epochs"])
        )
        np.testing.assert_allclose(rates, expected / 2, rtol=1e-6)
    else:  # no schedule: DVCLive, reset for the new run, has no rate to log
        assert not rates_file.exists()
    loss = config["compile_config"]["loss"]
    if train["class_weighting"] == "none" and train["focal_gamma"] == 0:
        assert loss == {
            "demand": "mse",
            "temp_class": "sparse_categorical_crossentropy",
        }
    else:
        _assert_class_loss(project, loss, train)
    ordinal = bool(train["ordinal"])
    assert (layers["temp_class"]["class_name"] == "OrdinalProbabilities") == ordinal
    assert ("temp_class_ordinal" in layers) == ordinal
    report = project.read_json("metrics/evaluate.json")
    assert all(np.isfinite(v) for t in report.values() for v in t["model"].values())
    assert 0 <= report["temp_class"]["model"]["macro_f1"] <= 1
    assert 0 <= report["temp_class"]["single_task"]["macro_f1"] <= 1
    assert project.status() == {}


def _assert_class_loss(project, loss: dict, train: dict) -> None:
    """The saved ClassLoss holds the class weights (balanced: n / (k n_c) of the
    training windows, else all 1) and the focal gamma of ``train``."""
    bundle = project.read_json("data/windows/preprocess.json")
    (task,) = [t for t in bundle["tasks"] if t["type"] == "classification"]
    expected = np.ones(len(task["classes"]))
    if train["class_weighting"] == "balanced":
        targets = np.load(project.root / "data/windows/targets.npz")
        ends = np.load(project.root / "data/split/train.npy")
        labels = targets[task["name"]][ends + task["horizon"]]
        counts = np.bincount(labels, minlength=len(task["classes"]))
        # n / (k n_c) on the training windows (every class occurs in them)
        assert np.all(counts > 0), counts
        expected = len(labels) / (len(counts) * counts)
    config = loss[task["name"]]["config"]
    assert loss[task["name"]]["registered_name"] == "mtlstm>ClassLoss"
    np.testing.assert_allclose(config["class_weights"], expected, rtol=1e-12)
    assert config["gamma"] == train["focal_gamma"]
    assert loss["demand"] == "mse"


def test_averaging_keys_retrain_the_single_task_models_too(project):
    """train.ensemble (seeded members) and train.checkpoint_average (each run's
    best epochs) are budget keys: the ablation averages as many models. Both
    change in one repro; the saved model holds one member per model averaged
    (seeds x epochs), and evaluate reads it as is."""
    keys = ("ensemble", "checkpoint_average")
    before = {key: project.params()["train"].get(key, 1) for key in keys}

    def change(params):
        train = params["train"]
        # 1 <-> 2 (checkpoint_average 5 over the tiny run's 2 epochs is 2 too).
        for key in keys:
            train[key] = 1 if train.get(key, 1) > 1 else 2

    project.set_params(change)
    status = project.status()
    assert set(status) == {"train", "ablation@demand", "ablation@temp_class"}, status
    for stage in ("ablation@demand", "ablation@temp_class"):
        for key in keys:
            assert f"train.{key}" in json.dumps(status[stage]), (stage, key)
    proc = project.dvc("repro")
    out = proc.stdout + proc.stderr
    assert not CACHED.findall(out), out
    assert RUNNING.findall(out) == [
        "train",
        "ablation@demand",
        "ablation@temp_class",
        "evaluate",
    ]
    # One line says what train trains, however many models it averages.
    assert len(re.findall(r"^train: \d+ train / \d+ val windows", out, re.M)) == 1, out
    train = project.params()["train"]
    epochs = min(train.get("checkpoint_average", 1), train["epochs"])
    n = train.get("ensemble", 1) * epochs
    with zipfile.ZipFile(project.root / "models/model.keras") as archive:
        config = json.loads(archive.read("config.json"))
    members = [
        layer["name"]
        for layer in config["config"]["layers"]
        if layer["name"].startswith("member_")
    ]
    assert members == ([f"member_{i}" for i in range(n)] if n > 1 else [])
    curves = pd.read_csv(project.root / "plots/training.csv")  # member 0's
    assert curves["task"].nunique() == len(tasks_of(project))
    assert curves["epoch"].max() <= train["epochs"]
    assert not (project.root / "models/.resume").exists()
    report = project.read_json("metrics/evaluate.json")
    assert all(np.isfinite(v) for t in report.values() for v in t["model"].values())
    assert project.status() == {}
    # Back to the settings from before, so that later tests train one model
    # per run, not four: the next test's up_to_date() restores those outputs
    # from DVC's run cache, without training.
    project.set_params(lambda params: params["train"].update(before))


def test_feature_change_makes_all_but_ingest_due(project):
    """features is window's alone, and every later stage reads window's output.
    Only window and split run here (no TensorFlow): what is due after them is
    every stage that declares data/windows, which dvc repro would run next."""
    columns = project.params()["features"]["columns"]
    assert "Holiday" in columns, "the test drops Holiday, a non-target column"
    project.set_params(lambda p: p["features"]["columns"].remove("Holiday"))
    status = project.status()
    assert set(status) == {"window"}, f"only window reads features: {status}"
    assert project.repro("split") == ["window", "split"]
    bundle = project.read_json("data/windows/preprocess.json")
    assert "Holiday" not in bundle["feature_names"]
    assert due_through_windows(project) == set(STAGES) - {"ingest", "window", "split"}
    # Back to the old columns: the next test's up-to-date step restores window
    # and split from the run cache, and nothing trains again.
    project.set_params(lambda p: p["features"].update(columns=columns))


def test_robust_scaler_runs_end_to_end_and_predict_reproduces_evaluate(
    project, tmp_path
):
    """window.scaler is window's alone; with robust the whole pipeline reruns
    on the median/IQR scalers, and predict forecasts what evaluate scored."""
    project.set_params(lambda p: p["window"].update(scaler="robust"))
    assert set(project.status()) == {"window"}
    assert project.repro() == [s for s in STAGES if s != "ingest"]
    bundle = project.read_json("data/windows/preprocess.json")
    assert bundle["scaler"] == "robust"
    demand = next(i for i in bundle["inputs"] if i.get("column") == "Demand")
    table = pd.read_parquet(project.root / "data/ingested.parquet")
    train = table["Demand"].iloc[: bundle["fit_rows"]]
    assert demand["mean"] == pytest.approx(float(train.median()), rel=1e-12)
    test_predict_on_the_test_period_reproduces_evaluate(project, tmp_path)
    # Back to the shipped scaler: the next test's up-to-date step restores
    # every stage from the run cache.
    project.set_params(lambda p: p["window"].update(scaler="standard"))


def test_evaluate_param_change_reruns_only_evaluate(project):
    def change(params):
        params["evaluate"]["plot_points"] = params["evaluate"]["plot_points"] + 1

    project.set_params(change)
    assert set(project.status()) == {"evaluate"}
    assert project.repro() == ["evaluate"]
    points = project.params()["evaluate"]["plot_points"]
    plot = pd.read_csv(project.root / "plots/predictions.csv")
    demand = plot[plot["task"].str.startswith("demand:")]
    assert (demand["series"] == "actual").sum() == points
    assert (demand["series"] == "predicted").sum() == points
    assert project.status() == {}


def test_forced_repros_give_bit_identical_metrics(project):
    # The project is up to date, so its outputs came from an earlier run (or
    # the run cache of one) at these params and data: one forced run more is
    # the second, independent run to compare against.
    before = (project.root / "metrics/evaluate.json").read_bytes()
    model = (project.root / "models/model.keras").read_bytes()
    assert project.repro("--force") == list(STAGES)
    after = (project.root / "metrics/evaluate.json").read_bytes()
    assert after == before, "same params and data must give the same metrics"
    assert (project.root / "models/model.keras").read_bytes() == model


def test_dvc_metrics_show_reads_the_metrics(project):
    shown = json.loads(project.dvc("metrics", "show", "--json").stdout)
    found = find_metrics(shown, "metrics/scores.json")
    assert found == project.read_json("metrics/scores.json")
    # What a person compares (scores, and the versions that produced them:
    # `dvc exp show --only-changed` lists those only when one moved); the rest
    # are plain outputs.
    files = [path for rev in shown.values() for path in rev["data"]]
    assert files == ["metrics/scores.json", "metrics/versions.json"], shown
    report = project.read_json("metrics/evaluate.json")
    for task, scores in found.items():
        assert next(iter(scores)) == ("mae" if task == "demand" else "log_loss")
        assert {k: scores[k] for k in report[task]["model"]} == report[task]["model"]
        assert scores["skill"] == {
            ref.removeprefix("vs_"): s["value"]
            for ref, s in report[task]["skill"].items()
        }
        assert scores["single_task"] == {
            k: report[task]["single_task"][k] for k in scores["single_task"]
        }
        assert set(scores["baselines"]) == set(report[task]["baselines"])


def test_evaluate_records_the_versions_that_produced_the_metrics(project):
    record = project.read_json("metrics/versions.json")
    # The stages ran in this interpreter's venv (VENV_BIN first on PATH).
    assert record == {
        "python": platform.python_version(),
        "platform": sysconfig.get_platform(),
        "tensorflow": importlib.metadata.version("tensorflow"),
        "keras": importlib.metadata.version("keras"),
        "numpy": importlib.metadata.version("numpy"),
        "pandas": importlib.metadata.version("pandas"),
        "scikit-learn": importlib.metadata.version("scikit-learn"),
        "dvc": importlib.metadata.version("dvc"),
    }
    # A DVC metrics file: listed by `dvc metrics show`, hashed in dvc.lock.
    shown = json.loads(project.dvc("metrics", "show", "--json").stdout)
    assert find_metrics(shown, "metrics/versions.json") == record
    lock = yaml.safe_load((project.root / "dvc.lock").read_text(encoding="utf-8"))
    outs = [out["path"] for out in lock["stages"]["evaluate"]["outs"]]
    assert "metrics/versions.json" in outs


# What TensorFlow prints at start-up unless mtlstm silences it.
TF_NOISE = re.compile(
    r"absl::InitializeLog|cuda drivers|cudart_stub|oneDNN custom operations"
    r"|cpu_feature_guard|^[IW]\d{4} \d\d:\d\d:",
    re.MULTILINE,
)


def test_tensorflow_stages_and_predict_print_no_startup_noise(project, tmp_path):
    """evaluate (loads the model) and `mtlstm predict` print what they did and
    nothing of TensorFlow's start-up, without TF_CPP_MIN_LOG_LEVEL set."""
    env = {k: v for k, v in project.env.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = Project(project.root, env)
    proc = quiet.dvc("repro", "--force", "--single-item", "evaluate")
    assert RUNNING.findall(proc.stdout + proc.stderr) == ["evaluate"]
    assert "evaluate: demand: " in proc.stdout
    assert not TF_NOISE.search(proc.stdout + proc.stderr), proc.stderr
    out = tmp_path / "p.csv"
    proc = predict(quiet, "--input", str(project.root / CSV), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("predict: ")
    assert not TF_NOISE.search(proc.stdout + proc.stderr), proc.stderr
    assert project.status() == {}  # the forced rerun gave the same outputs


def test_dvc_plots_show_renders_every_task(project, tmp_path):
    out = tmp_path / "plots-html"
    project.dvc("plots", "show", "-o", str(out))
    html = (out / "index.html").read_text(encoding="utf-8")

    def shown(path: str) -> bool:  # DVC names each plot's <div> after its file
        return path in html or re.sub(r"[^A-Za-z0-9]", "_", path) in html

    for path in ("training", "predictions", "residuals", "confusion"):
        assert shown(f"plots/{path}.csv"), f"no plot of plots/{path}.csv"
    # Every chart is faceted by a task label that names the task and its target.
    for spec in project.read_json("data/windows/preprocess.json")["tasks"]:
        label = f"{spec['name']}: {spec['target']}"
        assert html.count(label) >= 2, f"task {label!r} missing from the charts"


def test_evaluate_refuses_forecasts_for_other_windows(project):
    path = project.root / "predictions/baselines.npz"
    original = path.read_bytes()
    with np.load(path) as forecasts:
        arrays = dict(forecasts)
    arrays["ends"] = arrays["ends"] + 1
    path.unlink()  # never write through a link into the DVC cache
    np.savez(path, **arrays)
    metrics_before = (project.root / "metrics/evaluate.json").read_bytes()
    try:
        proc = project.run(sys.executable, "stages/evaluate.py", check=False)
    finally:
        path.unlink()
        path.write_bytes(original)
    assert proc.returncode == 2, proc.stderr
    assert (
        "error: evaluate: predictions/baselines.npz: its forecasts are not for the "
        "windows of data/split/test.npy; rerun `dvc repro`" in proc.stderr
    )
    assert "Traceback" not in proc.stderr
    assert (project.root / "metrics/evaluate.json").read_bytes() == metrics_before


def test_test_split_shorter_than_a_season_fails_evaluate(project):
    windows = len(np.load(project.root / "data/split/test.npy"))
    original = project.params()["baselines"]["season"]

    def longer(params):
        params["baselines"]["season"] = windows + 1

    project.set_params(longer)
    try:
        proc = project.dvc("repro", check=False)
    finally:
        project.set_params(lambda p: p["baselines"].update(season=original))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert RUNNING.findall(out) == ["baselines", "evaluate"]
    assert (
        f"data/split/test.npy: {windows} test windows, fewer than one season "
        f"(baselines.season = {windows + 1})" in out
    )


def test_unknown_params_key_fails_the_repro_naming_the_key(tmp_path, scratch):
    params = tiny_params()
    params["train"]["lerning_rate"] = 0.01
    project = make_project(tmp_path / "repo", scratch, params)
    proc = project.dvc("repro", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "lerning_rate" in out
    assert "unknown key" in out
    # The first stage already refuses the file; nothing downstream ran.
    assert RUNNING.findall(out) == ["ingest"]
    assert not (project.root / "data/ingested.parquet").exists()


# ----------------------------------------------------------------- JSON helpers


def find_metrics(node, path: str):
    """The data of metrics file ``path`` anywhere in a DVC JSON answer."""
    if isinstance(node, dict):
        if path in node and isinstance(node[path], dict) and "data" in node[path]:
            return node[path]["data"]
        for value in node.values():
            found = find_metrics(value, path)
            if found is not None:
                return found
    elif isinstance(node, list):
        for value in node:
            found = find_metrics(value, path)
            if found is not None:
                return found
    return None


def utc_text(local: pd.Series) -> list[str]:
    """Forecast CSV times (local, with their offset) as the raw CSV's UTC text."""
    stamps = pd.to_datetime(local, utc=True)
    return stamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()


def test_evaluate_metrics_match_a_recomputation_from_the_forecasts(project):
    """metrics/evaluate.json against scores recomputed independently from
    predictions/test.csv and the raw CSV (targets looked up by target time)."""
    from sklearn.metrics import f1_score, log_loss

    forecasts = pd.read_csv(project.root / "predictions/test.csv")
    source = pd.read_csv(project.root / CSV).set_index("Time")
    report = project.read_json("metrics/evaluate.json")
    tasks = project.params()["tasks"]
    assert tasks["demand"]["horizon"] == 3
    zone = project.params()["features"]["timezone"]
    assert (forecasts["zone"] == zone).all()
    assert forecasts["origin"].str.endswith(("+10:00", "+11:00")).all(), zone

    demand = forecasts[forecasts["task"] == "demand"]
    assert (demand["step"] == 3).all()
    assert (demand["unit"] == tasks["demand"]["unit"]).all()
    actual = source.loc[utc_text(demand["time"]), "Demand"].to_numpy()
    # the actual next to each forecast is the target (float32 scaled, unscaled)
    assert demand["actual"].astype(float).to_numpy() == pytest.approx(actual, rel=1e-6)
    err = demand["forecast"].astype(float).to_numpy() - actual
    smape = 200 * np.mean(np.abs(err) / (np.abs(actual) + np.abs(actual + err)))
    model = report["demand"]["model"]
    assert model["mae"] == pytest.approx(np.mean(np.abs(err)), rel=1e-6)
    assert model["rmse"] == pytest.approx(np.sqrt(np.mean(err**2)), rel=1e-6)
    assert model["smape"] == pytest.approx(smape, rel=1e-6)

    spec = tasks["temp_class"]
    rows = forecasts[forecasts["task"] == "temp_class"]
    temperature = source.loc[utc_text(rows["time"]), "Temperature"]
    truth = np.searchsorted(spec["bins"], temperature.to_numpy(), side="right")
    assert rows["actual"].tolist() == [spec["classes"][i] for i in truth]
    proba = rows[[f"p_{c}" for c in spec["classes"]]].to_numpy()
    predicted = [spec["classes"].index(c) for c in rows["forecast"]]
    model = report["temp_class"]["model"]
    assert model["accuracy"] == pytest.approx(np.mean(truth == predicted))
    assert model["macro_f1"] == pytest.approx(
        f1_score(truth, predicted, average="macro")
    )
    clipped = np.clip(proba, 1e-7, 1)
    clipped /= clipped.sum(axis=1, keepdims=True)
    expected = log_loss(truth, clipped, labels=range(len(spec["classes"])))
    assert model["log_loss"] == pytest.approx(expected, rel=1e-5)

    for name, r in report.items():
        key = "mae" if tasks[name]["type"] == "regression" else "log_loss"
        for ref, value in r["skill"].items():
            scores = (
                r["single_task"]
                if ref == "vs_single_task"
                else (r["baselines"][ref.removeprefix("vs_")])
            )
            skill = 1 - r["model"][key] / scores[key]
            assert value["value"] == pytest.approx(skill)
            assert value["ci_low"] <= value["value"] <= value["ci_high"]


def test_one_series_per_series_table_is_the_pooled_scores(project):
    """No ingest.series: metrics/per_series.csv has one row per task, series
    "all", whose errors and skill are evaluate.json's pooled numbers."""
    table = pd.read_csv(project.root / "metrics/per_series.csv")
    report = project.read_json("metrics/evaluate.json")
    test_windows = len(np.load(project.root / "data/split/test.npy"))
    assert table["task"].tolist() == sorted(tasks_of(project))
    assert (table["series"] == "all").all()
    assert (table["windows"] == test_windows).all()
    for row in table.to_dict("records"):
        r = report[row["task"]]
        key = row["metric"]
        assert row["model"] == pytest.approx(r["model"][key], rel=1e-12)
        assert row["single_task"] == pytest.approx(r["single_task"][key], rel=1e-12)
        errors = {b: s[key] for b, s in r["baselines"].items()}
        for baseline, value in errors.items():
            assert row[baseline] == pytest.approx(value, rel=1e-12)
        assert row["best_baseline"] == min(errors, key=errors.get)
        skill = r["skill"][f"vs_{row['best_baseline']}"]
        for column in ("ci_low", "ci_high", "dm_p"):
            assert row[column] == pytest.approx(skill[column], rel=1e-12)
        assert row["skill"] == pytest.approx(skill["value"], rel=1e-12)
    plot = pd.read_csv(project.root / "plots/per_series.csv")
    assert plot["task"].tolist() == table["task"].tolist()
    assert plot["skill"].tolist() == table["skill"].tolist()


def test_per_class_table_breaks_down_every_classifier(project):
    """metrics/per_class.csv: per classification task, class and forecaster
    (model, every baseline, single-task) precision, recall and F1 on the test
    windows; where every class occurs, the model's F1 averages to its macro-F1
    in evaluate.json."""
    table = pd.read_csv(project.root / "metrics/per_class.csv")
    report = project.read_json("metrics/evaluate.json")
    bundle = project.read_json("data/windows/preprocess.json")
    test_windows = len(np.load(project.root / "data/split/test.npy"))
    classifiers = [t for t in bundle["tasks"] if t["type"] == "classification"]
    assert classifiers, "the tiny pipeline needs a classification task"
    assert sorted(table["task"].unique()) == sorted(t["name"] for t in classifiers)
    for spec in classifiers:
        rows = table[table["task"] == spec["name"]]
        r = report[spec["name"]]
        forecasters = ["model", *r["baselines"], "single_task"]
        assert len(rows) == len(spec["classes"]) * len(forecasters)
        assert rows["class"].unique().tolist() == spec["classes"]
        assert rows["forecaster"].unique().tolist() == forecasters
        model = rows[rows["forecaster"] == "model"]
        assert model["windows"].sum() == test_windows * tasks.n_steps(spec)
        assert rows[["precision", "recall", "f1"]].stack().between(0, 1).all()
        if (model["windows"] > 0).all():
            assert model["f1"].mean() == pytest.approx(r["model"]["macro_f1"])


def test_panel_baselines_and_evaluate_break_scores_down_by_series(project, tmp_path):
    """The trained tiny pipeline's data declared a panel of two series (every
    other two days of rows; the contract of the window stage:
    data/windows/series.npy and preprocess.json's series names): the baselines
    and evaluate stages, run in a copy, write one row per task and series, and
    the pooled model scores stay those of the single series."""
    copy = tmp_path / "panel"
    for path in (
        "params.yaml",
        "data/windows",
        "data/split",
        "models",
        "metrics",
        "predictions",
    ):
        source = project.root / path
        if source.is_dir():
            shutil.copytree(source, copy / path)
        else:
            (copy / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / path)
    n = len(np.load(copy / "data/windows/scaled.npy"))
    codes = (np.arange(n) // 48 % 2).astype(np.int32)  # both in every split
    np.save(copy / "data/windows/series.npy", codes)
    bundle = json.loads((copy / "data/windows/preprocess.json").read_text())
    bundle["series"] = {"names": ["west", "east"]}
    (copy / "data/windows/preprocess.json").write_text(json.dumps(bundle))
    for stage in ("baselines", "evaluate"):
        proc = subprocess.run(
            [sys.executable, str(project.root / "stages" / f"{stage}.py")],
            cwd=copy,
            env=project.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
    assert "evaluate: demand: per series: beats its best baseline in" in proc.stdout
    ends = np.load(copy / "data/split/test.npy")
    counts = np.bincount(codes[ends], minlength=2)
    table = pd.read_csv(copy / "metrics/per_series.csv")
    assert table["task"].tolist() == [
        t for t in sorted(tasks_of(project)) for _ in "ew"
    ]
    assert table["series"].tolist() == ["east", "west"] * 2
    assert counts.min() > 0
    assert table["windows"].tolist() == [counts[1], counts[0]] * 2
    fit = json.loads((copy / "metrics/baselines_val.json").read_text())
    assert {t["hgb_lag"]["series_feature"] for t in fit.values()} == {"categorical"}
    report = json.loads((copy / "metrics/evaluate.json").read_text())
    assert {t: r["model"] for t, r in report.items()} == {
        t: r["model"] for t, r in project.read_json("metrics/evaluate.json").items()
    }
    for task, rows in table.groupby("task"):
        scored = rows[rows["windows"] > 0]
        pooled = (scored["model"] * scored["windows"]).sum() / scored["windows"].sum()
        assert pooled == pytest.approx(report[task]["model"][rows["metric"].iloc[0]])
    plot = pd.read_csv(copy / "plots/per_series.csv")
    assert len(plot) == (table["windows"] > 0).sum()


# --- mtlstm predict against evaluate ------------------------------------------


def predict(project: Project, *args: str) -> subprocess.CompletedProcess:
    return project.run(
        sys.executable, "-m", "mtlstm.cli", "predict", *args, check=False
    )


def test_predict_on_the_test_period_reproduces_evaluate(project, tmp_path):
    expected = pd.read_csv(project.root / "predictions/test.csv")
    lookback = project.params()["window"]["lookback"]
    source = pd.read_csv(project.root / CSV)
    origin = utc_text(expected["origin"].iloc[:1])[0]
    first = source.index[source["Time"] == origin][0]
    source.iloc[first - lookback + 1 :].to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "p.csv"
    proc = predict(project, "--input", str(tmp_path / "new.csv"), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    got = pd.read_csv(out)
    # predict also forecasts past the data's end, where evaluate has no target.
    assert got["origin"].iloc[: len(expected)].tolist() == expected["origin"].tolist()
    pd.testing.assert_frame_equal(got.iloc[: len(expected)], expected, check_exact=True)


def test_predict_refuses_input_shorter_than_one_lookback(project, tmp_path):
    lookback = project.params()["window"]["lookback"]
    source = pd.read_csv(project.root / CSV)
    source.iloc[: lookback - 1].to_csv(tmp_path / "short.csv", index=False)
    out = str(tmp_path / "p.csv")
    proc = predict(project, "--input", str(tmp_path / "short.csv"), "--output", out)
    assert proc.returncode == 2
    assert f"needs a full lookback of {lookback} rows" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_predict_checks_input_like_ingest(project, tmp_path):
    source = pd.read_csv(project.root / CSV).drop(columns="Temperature")
    source.to_csv(tmp_path / "bad.csv", index=False)
    out = tmp_path / "out.csv"
    proc = predict(project, "--input", str(tmp_path / "bad.csv"), "--output", str(out))
    assert proc.returncode == 2
    assert "missing column(s) Temperature" in proc.stderr
    assert not out.exists(), "a failed predict must not leave an output"


def test_predict_rejects_a_corrupt_model(project, tmp_path):
    broken = tmp_path / "model.keras"
    broken.write_bytes((project.root / "models/model.keras").read_bytes()[:500])
    out = str(tmp_path / "p.csv")
    proc = predict(project, "--model", str(broken), "--input", CSV, "--output", out)
    assert proc.returncode == 2
    assert "corrupt or truncated" in proc.stderr


# --- resume after a kill -------------------------------------------------------


def curves(project: Project) -> dict[str, pd.DataFrame]:
    """DVCLive's per-metric tables (step and value)."""
    root = project.root / "dvclive/plots/metrics"
    return {
        str(p.relative_to(root)): pd.read_csv(p, sep="\t")
        for p in sorted(root.rglob("*.tsv"))
    }


def kill_train_after(project: Project, epochs_done: int) -> subprocess.CompletedProcess:
    """Run ``dvc repro -f train``; SIGKILL the train process (as the OOM killer
    would) once ``epochs_done`` epochs are checkpointed."""
    state = project.root / "models/.resume/state.json"
    proc = subprocess.Popen(
        [str(DVC), "repro", "-f", "train"],
        cwd=project.root,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        if (
            state.is_file()
            and json.loads(state.read_text())["epochs_done"] >= epochs_done
        ):
            for child in psutil.Process(proc.pid).children(recursive=True):
                if "stages/train.py" in " ".join(child.cmdline()):
                    child.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    out, _ = proc.communicate(timeout=TIMEOUT)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out)


def test_killed_train_resumes_to_the_same_metrics(project):
    def longer(p):
        p["train"].update(epochs=12, patience=100, batch_size=16)
        # The single-task models (which read the same budget keys) are not what
        # this test is about: skipped, they rerun in seconds without TensorFlow.
        p["ablation"]["enabled"] = False

    lock_before = yaml.safe_load((project.root / "dvc.lock").read_text())
    project.set_params(longer)
    assert project.repro() == [
        "train",
        "ablation@demand",
        "ablation@temp_class",
        "evaluate",
    ]
    expected_metrics = (project.root / "metrics/evaluate.json").read_bytes()
    expected_model = (project.root / "models/model.keras").read_bytes()
    expected_lock = (project.root / "dvc.lock").read_text()
    expected_curves = curves(project)

    killed = kill_train_after(project, epochs_done=3)
    assert killed.returncode != 0, f"train was not killed:\n{killed.stdout}"
    assert not (project.root / "models/model.keras").exists()
    state = json.loads((project.root / "models/.resume/state.json").read_text())
    assert 3 <= state["epochs_done"] < 12

    # As if the killed run had been the first at these params: dvc.lock's train
    # entry from before (else DVC would check the finished run's outputs out of
    # its cache), and no run cache, which holds the uninterrupted run.
    lock = yaml.safe_load((project.root / "dvc.lock").read_text())
    lock["stages"]["train"] = lock_before["stages"]["train"]
    (project.root / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))
    proc = project.dvc("repro", "--no-run-cache")
    assert f"resuming after epoch {state['epochs_done']} of 12" in proc.stdout
    # The resumed model is byte-identical to the uninterrupted run's, so DVC
    # sees evaluate's inputs unchanged and does not rerun it.
    assert RUNNING.findall(proc.stdout) == ["train"]
    assert (project.root / "metrics/evaluate.json").read_bytes() == expected_metrics
    # Byte-identical, not just metric-identical: a teammate's cache must match.
    assert (project.root / "models/model.keras").read_bytes() == expected_model
    assert (project.root / "dvc.lock").read_text() == expected_lock
    got = curves(project)
    assert got.keys() == expected_curves.keys()
    for name, table in expected_curves.items():
        pd.testing.assert_frame_equal(got[name], table, check_exact=True, obj=name)
    assert not (project.root / "models/.resume").exists()


# --- backtest ------------------------------------------------------------------


def test_a_declared_backtest_is_one_more_stage(project):
    def declare(params):
        params["backtest"] = {"quick": {"folds": 2, "mode": "retrain"}}

    project.set_params(declare)
    # Checkpoints no declared fold reads (a killed run of an earlier 3-fold
    # quick, a renamed backtest): the finished backtest deletes them.
    for stale in ("quick-2", "renamed-0"):
        (project.root / f"models/.resume-backtest-{stale}").mkdir(parents=True)
    assert project.repro() == ["backtest@quick"]
    assert not list((project.root / "models").glob(".resume-backtest-*"))
    result = project.read_json("metrics/backtest/quick.json")
    assert len(result["folds"]) == 2
    assert "ddof=1" in result["std"]
    for task in project.params()["tasks"]:
        for stats in result["summary"][task].values():
            assert set(stats) == {"mean", "std"}
            assert np.isfinite(stats["mean"]) and np.isfinite(stats["std"])
        assert "vs_persistence" in result["skill_summary"][task]
    for fold in result["folds"]:
        assert fold["test"]["from"] < fold["test"]["to"]
        assert set(fold["baselines"]) == set(fold["skill"]) == set(fold["scores"])

    # Each backtest declares its own entry (backtest.${key}): another one, new
    # or changed, leaves backtest@quick up to date.
    def add_other(params):
        params["backtest"]["other"] = {"folds": 3, "mode": "retrain"}

    project.set_params(add_other)
    assert set(project.status()) == {"backtest@other"}

    def remove(params):
        params["backtest"] = {}

    project.set_params(remove)
    assert project.status() == {}, "no backtest declared, no backtest stage"


# --- the README's "Use your own data" example, as written ------------------------


def readme_own_data_params() -> dict:
    """The project's params.yaml edited with the README's example block: its
    sections replace ours, except train, whose keys it sets."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Use your own data") :]
    block = section[
        section.index("```yaml") + len("```yaml") : section.index("```\n\n")
    ]
    example = yaml.safe_load(block)
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    for key, value in example.items():
        if key == "train":
            params["train"].update(value)
        else:
            params[key] = value
    return params


def write_sales_csv(path: Path, days: int = 420) -> None:
    """Two sales records a day at local times in Berlin (; separated, comma
    decimals), a one-day hole (filled) and a five-day hole (a new segment)."""
    rng = np.random.default_rng(1)
    dates = pd.date_range("2023-01-02", periods=days, freq="D", tz="Europe/Berlin")
    dates = dates.delete([*range(100, 101), *range(200, 205)])
    lines = ["timestamp;units;price;promo;store;unused"]
    for i, day in enumerate(dates):
        weekly = 20 + 10 * (day.day_of_week >= 5)
        store = "north" if (i // 3) % 2 else "south"
        for hour in (9, 15):
            stamp = (day + pd.Timedelta(hours=hour)).isoformat()
            units = weekly + int(rng.integers(0, 5))
            price = f"{2.5 + rng.random():.2f}".replace(".", ",")
            promo = "yes" if day.day % 10 == 0 else "no"
            lines.append(f"{stamp};{units};{price};{promo};{store};x")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_readme_own_data_example_runs_as_written(tmp_path, scratch):
    params = readme_own_data_params()
    params["train"].update(layers=[8], epochs=1)  # the test's budget, not the README's
    project = make_project(tmp_path / "repo", scratch, params)
    write_sales_csv(project.root / params["ingest"]["source"])
    project.run("git", "add", "-A")
    project.run("git", "commit", "-q", "-m", "sales data")
    assert project.run(sys.executable, "-m", "mtlstm.cli", "check").returncode == 0
    ran = project.repro()
    assert "evaluate" in ran and "ablation@store_busy" in ran
    summary = project.read_json("data/ingest_summary.json")
    assert summary["grid_timezone"] == "Europe/Berlin"
    assert summary["filled_steps"] == 1 and summary["dropped_gap_steps"] == 5
    table = pd.read_parquet(project.root / "data/ingested.parquet")
    local = table["time"].dt.tz_convert("Europe/Berlin")
    assert (local.dt.hour == 0).all()  # one row per local day
    assert local.iloc[0].day_of_week == 0  # 2 January 2023 was a Monday
    assert table["units"].min() >= 40  # two records summed, no empty day as 0
    report = project.read_json("metrics/evaluate.json")
    assert set(report) == {"units_next_week", "store_busy"}
    assert report["units_next_week"]["baselines"]["seasonal_naive"]["mae"] >= 0
