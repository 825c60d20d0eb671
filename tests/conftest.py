"""Shared helpers for the TensorFlow-free tests (config, ingest, window, split).

Everything here builds tiny inputs by hand: a params dict loaded from the
project's params.yaml and mutated per test, CSV files, and synthetic tables.
"""

from __future__ import annotations

import copy
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mtlstm.config import Ingest, Task, parse
from mtlstm.ingest import schema
from mtlstm.io import write_json, write_parquet

ROOT = Path(__file__).resolve().parents[1]
STAGES = ROOT / "stages"
DEFAULT_PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


def load_script(name: str):
    """scripts/<name>.py as a module (the scripts are not a package)."""
    path = ROOT / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"script_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def raw_params() -> dict:
    """A fresh, mutable copy of the project's default params.yaml."""
    return copy.deepcopy(DEFAULT_PARAMS)


def missing_params(params: dict, keys) -> list[str]:
    """Every dotted key of ``keys`` (as dvc.yaml declares them) that ``params``
    lacks: DVC stops at a stage whose declared param is missing, even where the
    schema has a default. A foreach stage's own entry (``backtest.${key}``)
    needs only its section: DVC makes one stage per entry that is there."""
    out = []
    for key in dict.fromkeys(keys):
        node = params
        for part in key.split("."):
            if part.startswith("${"):
                break
            if not isinstance(node, dict) or part not in node:
                out.append(key)
                break
            node = node[part]
    return out


def write_params(directory: Path, raw: dict) -> Path:
    path = Path(directory) / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def synthetic_table(n: int, seed: int = 0, start: str = "2024-01-01") -> pd.DataFrame:
    """Hourly rows with the default params' columns: Demand, Temperature, Holiday.

    Temperature swings 12..28 every day, so each day holds all three classes of
    the default temp_class task (bins 15 and 25).
    """
    rng = np.random.default_rng(seed)
    hours = np.arange(n)
    return pd.DataFrame(
        {
            "time": pd.date_range(start, periods=n, freq="1h", tz="UTC"),
            "Demand": 4000
            + 500 * np.sin(2 * np.pi * hours / 24)
            + rng.normal(0, 50, n),
            "Temperature": 20
            + 8 * np.sin(2 * np.pi * (hours - 6) / 24)
            + rng.normal(0, 0.5, n),
            "Holiday": (hours // 24) % 7 == 6,
        }
    )


def make_project(directory: Path, raw: dict) -> Path:
    """A project directory: params.yaml plus an empty data/raw/."""
    (Path(directory) / "data" / "raw").mkdir(parents=True, exist_ok=True)
    write_params(directory, raw)
    return Path(directory)


def write_ingested(project: Path, table: pd.DataFrame) -> None:
    """What the ingest stage leaves for window: the table and how it was read
    (the ingest section of the project's params.yaml)."""
    raw = yaml.safe_load((Path(project) / "params.yaml").read_text(encoding="utf-8"))
    cfg = parse(Ingest, raw["ingest"], "ingest")
    write_parquet(Path(project) / "data" / "ingested.parquet", table)
    write_json(Path(project) / "data" / "ingest_schema.json", schema(cfg))
    # Nothing filled: every value as read.
    nothing = {c: np.zeros(len(table), dtype=bool) for c in cfg.columns}
    write_parquet(
        Path(project) / "data" / "ingest_filled.parquet", pd.DataFrame(nothing)
    )


def run_stage_cli(name: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``python stages/<name>.py`` as DVC would, from ``cwd``."""
    return subprocess.run(
        [sys.executable, str(STAGES / f"{name}.py")],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def two_tasks(demand_horizon: list[int]) -> dict[str, Task]:
    """The default params' two tasks on ``synthetic_table``'s columns: demand
    regression over ``demand_horizon`` and a 3-class temperature task."""
    return {
        "demand": Task(type="regression", target="Demand", horizon=demand_horizon),
        "temp_class": Task(
            type="classification",
            target="Temperature",
            horizon=1,
            bins=[15.0, 25.0],
            classes=["cold", "mild", "hot"],
        ),
    }
