"""Crafted ``.keras`` files: safe loading refuses them, with a message that says
so (not "corrupt or truncated"), and their code never runs.

Each file holds a working model that names code: a Python lambda in a Lambda
layer (which would create a marker file when called), a named function from
``os``, or an activation rewritten to ``os.system``.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import keras
import pytest

from mtlstm.errors import DataError
from mtlstm.model import build_model
from mtlstm.tf_setup import load_model

REG = {"name": "demand", "type": "regression", "horizon": 1}
REFUSED = (
    r"refused: the model holds code or objects that Keras safe mode will not load "
    r"\(.*\); this pipeline never saves such a model, so the file was not produced "
    r"by it\. Do not load it with safe_mode=False"
)


def lambda_model(path: Path, marker: Path) -> None:
    inputs = keras.Input((3,), name="x")
    # The path as a constant of the lambda's code, which Keras stores marshalled.
    payload = eval(f"lambda t: (open({str(marker)!r}, 'w').close(), t)[1]")
    touched = keras.layers.Lambda(payload)(inputs)
    out = keras.layers.Dense(1, name="demand")(touched)
    keras.Model(inputs, {"demand": out}).save(path)


def named_function_model(path: Path) -> None:
    inputs = keras.Input((3,), name="x")
    out = keras.layers.Dense(1, name="demand")(inputs)
    keras.Model(inputs, {"demand": out}).save(path)
    rewrite(path, {"module": "os", "class_name": "function", "config": "system"})


def rewrite(path: Path, activation: dict) -> None:
    """Point every Dense activation of the archive's config at ``activation``."""
    with zipfile.ZipFile(path) as archive:
        entries = {n: archive.read(n) for n in archive.namelist()}
    config = json.loads(entries["config.json"])

    def walk(node):
        if isinstance(node, dict):
            if node.get("class_name") == "Dense":
                node["config"]["activation"] = {**activation, "registered_name": None}
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config)
    entries["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


def test_a_python_lambda_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "model.keras"
    lambda_model(path, marker)
    marker.unlink()  # building the model called the lambda once
    with pytest.raises(DataError, match=REFUSED) as info:
        load_model(path, ["demand"])
    assert "arbitrary code execution" in str(info.value)
    assert not marker.exists()
    assert "\n" not in str(info.value) and len(str(info.value)) < 800
    # The payload is real: unsafe loading runs it (this is our own test file).
    keras.models.load_model(path, safe_mode=False)
    assert marker.exists()


def test_a_reference_to_os_system_is_refused(tmp_path):
    path = tmp_path / "model.keras"
    named_function_model(path)
    with pytest.raises(DataError, match=REFUSED) as info:
        load_model(path, ["demand"])
    assert "system" in str(info.value)


def test_a_keras_non_modeling_api_is_refused(tmp_path):
    path = tmp_path / "model.keras"
    named_function_model(path)
    rewrite(
        path, {"module": "keras.utils", "class_name": "function", "config": "get_file"}
    )
    with pytest.raises(DataError, match=REFUSED):
        load_model(path, ["demand"])


def test_a_model_of_this_pipeline_still_loads(tmp_path):
    path = tmp_path / "model.keras"
    build_model(3, 4, [REG], [8], 0.0).save(path)
    assert load_model(path, ["demand"]).output_names == ["demand"]


def test_a_truncated_file_is_still_called_corrupt(tmp_path):
    path = tmp_path / "model.keras"
    build_model(3, 4, [REG], [8], 0.0).save(path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataError, match="corrupt or truncated") as info:
        load_model(path, ["demand"])
    assert "safe mode" not in str(info.value)
    assert os.path.getsize(path) == 500
