"""The examples' params.yaml files hold every key their DVC stages declare:
`dvc repro` stops at a stage whose declared param is missing from the file
(even where the schema has a default), as ablation@price of the day-ahead
example did when train.class_weighting and train.focal_gamma were added."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mtlstm.config import STAGE_PARAMS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*/params.yaml"))


def missing_keys(params: dict) -> list[str]:
    """Every dotted key of STAGE_PARAMS that ``params`` lacks."""
    out = []
    for key in dict.fromkeys(k for keys in STAGE_PARAMS.values() for k in keys):
        node = params
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                out.append(key)
                break
            node = node[part]
    return out


def test_missing_keys_names_a_missing_nested_key():
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    assert missing_keys(params) == []
    del params["train"]["focal_gamma"]
    del params["baselines"]["season"]
    assert "train.focal_gamma" in missing_keys(params)
    assert "baselines.season" in missing_keys(params)


def test_there_are_examples():
    assert {p.parent.name for p in EXAMPLES} >= {"epf_fr", "day_ahead"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_example_params_hold_every_key_a_stage_declares(path):
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert missing_keys(params) == [], f"{path}: add these keys"
