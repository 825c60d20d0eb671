"""The examples' params.yaml files hold every key their DVC stages declare:
`dvc repro` stops at a stage whose declared param is missing from the file
(even where the schema has a default), as ablation@price of the day-ahead
example did when train.class_weighting and train.focal_gamma were added."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from conftest import ROOT, missing_params

from mtlstm.config import STAGE_PARAMS

EXAMPLES = sorted((ROOT / "examples").glob("*/params.yaml"))


def missing_keys(params: dict) -> list[str]:
    """Every dotted key of STAGE_PARAMS that ``params`` lacks."""
    return missing_params(params, (k for keys in STAGE_PARAMS.values() for k in keys))


def test_missing_keys_names_a_missing_nested_key():
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    assert missing_keys(params) == []
    del params["train"]["focal_gamma"]
    del params["baselines"]["season"]
    assert "train.focal_gamma" in missing_keys(params)
    assert "baselines.season" in missing_keys(params)
    # backtest@<name> declares backtest.${key}: the section is enough.
    assert "backtest.${key}" not in missing_keys(params)
    del params["backtest"]
    assert "backtest.${key}" in missing_keys(params)


def test_there_are_examples():
    assert {p.parent.name for p in EXAMPLES} >= {"epf_fr", "day_ahead"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_example_params_hold_every_key_a_stage_declares(path):
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert missing_keys(params) == [], f"{path}: add these keys"


@pytest.mark.parametrize(
    "script, example, files",
    [
        ("data_epf.py", "epf_fr", ["epf_fr.csv", "epf_fr_be.csv"]),
        ("data_warsaw_air.py", "warsaw_air", ["warsaw_air.csv"]),
    ],
)
def test_example_data_script_writes_what_its_params_accept(
    tmp_path, script, example, files
):
    """Each example's data script, run on the pinned package's file, writes raw
    tables that `mtlstm check` accepts with the example's params.yaml (the
    ingest stage's own checks: columns, times, holes, missing values)."""
    raw = tmp_path / "data" / "raw"
    raw.mkdir(parents=True)
    subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), str(raw)], check=True
    )
    assert sorted(p.name for p in raw.iterdir()) == files
    shutil.copy(ROOT / "examples" / example / "params.yaml", tmp_path / "params.yaml")
    done = subprocess.run(
        [sys.executable, "-m", "mtlstm.cli", "check", "params.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "params.yaml: ok" in done.stdout


def test_warsaw_air_data_keeps_complete_days_in_order(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "examples" / "data_warsaw_air.py"), str(tmp_path)],
        check=True,
    )
    table = pd.read_csv(tmp_path / "warsaw_air.csv")
    assert list(table.columns) == ["date", "pm25", "pm10", "no2"]
    assert table.notna().all().all()
    dates = pd.to_datetime(table["date"], format="%Y-%m-%d")
    assert dates.is_monotonic_increasing and dates.is_unique
    assert (dates.min(), dates.max()) == (
        pd.Timestamp("2014-01-02"),
        pd.Timestamp("2025-05-29"),
    )
