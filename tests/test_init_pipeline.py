"""``mtlstm init`` then ``dvc repro``, in a temp repo, on real raw files cut short:
the default data (vic_elec) written to a CSV, and the EPF example's raw file as
examples/data_epf.py writes it. Only the training budget is shrunk after init.
"""

from __future__ import annotations

import importlib.resources
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT
from test_pipeline import STAGES, make_project, tiny_params

PYTHON = sys.executable
EXAMPLES = ROOT / "examples"


def vic_elec(rows: int) -> pd.DataFrame:
    source = importlib.resources.files("tsdata").joinpath("fpp3/vic_elec.csv")
    return pd.read_csv(str(source), dtype=str, keep_default_na=False).head(rows)


def epf_fr(rows: int) -> pd.DataFrame:
    """data/raw/epf_fr.csv as examples/data_epf.py writes it (the script itself
    runs, so this test follows any change to it), cut to ``rows``."""
    with tempfile.TemporaryDirectory() as raw:
        subprocess.run([PYTHON, str(EXAMPLES / "data_epf.py"), raw], check=True)
        return pd.read_csv(Path(raw) / "epf_fr.csv").head(rows)


CASES = {
    # name: (raw table, file, init flags, tasks expected)
    "vic_elec": (
        lambda: vic_elec(720),  # 15 days of half-hours
        "data/raw/vic_elec.csv",
        ["--regress", "Demand", "--classify", "Temperature:15,25"],
        ["demand", "temperature_class"],
    ),
    "epf_fr": (
        lambda: epf_fr(480),  # 20 days of hours
        "data/raw/epf_fr.csv",
        ["--regress", "y:2", "--classify", "y:q3"],
        ["y", "y_class"],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_init_then_dvc_repro_runs_every_stage(name, tmp_path_factory):
    make_table, path, flags, tasks = CASES[name]
    scratch = tmp_path_factory.mktemp("dvc-scratch")
    project = make_project(
        tmp_path_factory.mktemp(name) / "repo", scratch, tiny_params()
    )
    make_table().to_csv(project.root / path, index=False)
    out = project.run(PYTHON, "-m", "mtlstm.cli", "init", path, *flags, "--force")
    assert out.stdout.startswith(f"init: wrote params.yaml: 3 column(s) of {path}")
    assert out.stderr == ""  # nothing for the user to fix on these files
    check = project.run(PYTHON, "-m", "mtlstm.cli", "check")
    assert check.stdout == f"params.yaml: ok (2 task(s): {', '.join(tasks)})\n"
    written = project.params()
    assert written["ingest"]["source"] == path
    assert list(written["train"]["loss_weights"]) == tasks

    def shrink(params: dict) -> None:  # seconds, not minutes: the budget only
        params["train"].update(layers=[8], epochs=2, batch_size=64)
        params["ablation"]["enabled"] = False
        params["evaluate"].update(plot_points=24, bootstrap_samples=100)

    project.set_params(shrink)
    ran = project.repro()
    expected = [s.split("@")[0] for s in STAGES]
    assert [s.split("@")[0] for s in ran] == expected
    assert {s.split("@")[1] for s in ran if "@" in s} == set(tasks)
    report = project.read_json("metrics/evaluate.json")
    assert list(report) == tasks
    assert project.status() == {}
