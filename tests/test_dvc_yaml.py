"""dvc.yaml declares exactly what each stage reads, so DVC reruns the right stages.

* ``params:`` of every stage equals ``mtlstm.config.STAGE_PARAMS`` (the sections
  the stage's code reads), and every params.yaml section is read by some stage.
* ``deps:`` of every stage hold its script and every ``mtlstm`` module the script
  imports, directly or through other ``mtlstm`` modules (found with ``ast``), so
  an edit of a library module reruns every stage that runs its code.
* ``STAGE_PARAMS`` holds every params field a stage's code reads: the stages
  without TensorFlow run on a tiny project with each field read recorded
  (through helpers and config objects passed around too).
"""

from __future__ import annotations

import ast
import dataclasses
import runpy
import typing
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, write_params
from test_pipeline import CSV, tiny_params, write_synthetic_csv

from mtlstm import config
from mtlstm.config import STAGE_PARAMS, Params

PACKAGE = ROOT / "src" / "mtlstm"
DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))
# A foreach stage (ablation@<task>) keeps its definition under ``do:``.
STAGES: dict[str, dict] = {
    name: stage.get("do", stage) for name, stage in DVC_YAML["stages"].items()
}
PARAMS_YAML = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
# Importing any mtlstm module also runs the package's __init__.py, which holds only
# the version string; a stage may list it but need not.
OPTIONAL_DEPS = {"src/mtlstm/__init__.py"}


def _is_module(name: str) -> bool:
    return (PACKAGE / f"{name}.py").is_file()


def direct_imports(path: Path) -> set[str]:
    """Modules of the mtlstm package (``"config"``, ...) that ``path`` imports.

    Every import statement counts, also those inside functions (tf_setup imports
    mtlstm.errors lazily). Relative imports only occur inside the package.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "mtlstm" and len(parts) > 1:
                    found.add(parts[1])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = ["mtlstm", *(node.module or "").split(".")]
                parts = [p for p in parts if p]
            else:
                parts = (node.module or "").split(".")
            if parts[0] != "mtlstm":
                continue
            if len(parts) > 1:
                found.add(parts[1])
            else:  # from mtlstm import ingest, metrics
                found |= {a.name for a in node.names if _is_module(a.name)}
    return found


def mtlstm_closure(script: Path) -> set[str]:
    """Every mtlstm module that running ``script`` imports, transitively."""
    todo = list(direct_imports(script))
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        assert _is_module(name), f"{script} imports mtlstm.{name}, which does not exist"
        todo += direct_imports(PACKAGE / f"{name}.py")
    return seen


def dep_paths(stage: dict) -> list[str]:
    return [str(d).rstrip("/") for d in stage.get("deps", [])]


def out_paths(stage: dict) -> list[str]:
    paths = []
    for key in ("outs", "metrics", "plots"):
        for item in stage.get(key, []):
            paths.append(next(iter(item)) if isinstance(item, dict) else str(item))
    return [p.rstrip("/") for p in paths]


def test_import_parser_sees_every_kind_of_import(tmp_path):
    script = tmp_path / "s.py"
    script.write_text(
        "import os\n"
        "import mtlstm.window\n"
        "from mtlstm import ingest, metrics\n"
        "from mtlstm.io import write_json\n"
        "def f():\n"
        "    from mtlstm.errors import DataError\n",
        encoding="utf-8",
    )
    assert direct_imports(script) == {"window", "ingest", "metrics", "io", "errors"}
    # tf_setup imports mtlstm.errors inside load_model only.
    assert "errors" in direct_imports(PACKAGE / "tf_setup.py")


def test_stages_are_the_ones_config_knows():
    assert list(STAGES) == list(STAGE_PARAMS)


@pytest.mark.parametrize("name", list(STAGE_PARAMS))
def test_stage_params_equal_stage_params_in_config(name):
    declared = STAGES[name].get("params", [])
    assert all(isinstance(p, str) for p in declared), (
        f"stage {name}: params must be params.yaml keys, got {declared}"
    )
    assert declared == list(STAGE_PARAMS[name]), (
        f"dvc.yaml stage {name!r} params {declared} != "
        f"STAGE_PARAMS[{name!r}] {list(STAGE_PARAMS[name])}"
    )


@pytest.mark.parametrize("name", list(STAGE_PARAMS))
def test_stage_runs_its_own_script(name):
    # No argument, not even a foreach stage's key: DVC runs cmd through the
    # shell, so the stage reads its key from DVC_STAGE (tests/test_security_dvc.py).
    assert STAGES[name]["cmd"] == f"python stages/{name}.py"
    assert f"stages/{name}.py" in dep_paths(STAGES[name])


@pytest.mark.parametrize("name", list(STAGE_PARAMS))
def test_stage_deps_hold_every_imported_library_module(name):
    script = ROOT / "stages" / f"{name}.py"
    needed = {f"src/mtlstm/{m}.py" for m in mtlstm_closure(script)}
    declared = {d for d in dep_paths(STAGES[name]) if d.startswith("src/")}
    missing = sorted(needed - declared)
    assert not missing, (
        f"dvc.yaml stage {name!r} runs code from {missing} but does not list it in "
        "deps, so editing it would not rerun the stage"
    )
    extra = sorted(declared - needed - OPTIONAL_DEPS)
    assert not extra, (
        f"dvc.yaml stage {name!r} lists {extra} in deps but never imports it, so "
        "editing it reruns the stage for nothing"
    )


def test_every_dep_exists_or_is_produced_by_a_stage():
    produced = [p for stage in STAGES.values() for p in out_paths(stage)]
    for name, stage in STAGES.items():
        for dep in dep_paths(stage):
            made = any(
                dep == p or dep.startswith(p + "/") or p.startswith(dep + "/")
                for p in produced
            )
            assert made or (ROOT / dep).exists(), (
                f"stage {name!r} depends on {dep}, which neither exists nor is an "
                "output of a stage"
            )


def test_every_params_section_is_read_by_some_stage():
    read = {s.split(".")[0] for sections in STAGE_PARAMS.values() for s in sections}
    unread = sorted(set(PARAMS_YAML) - read)
    assert not unread, f"params.yaml sections {unread} are read by no stage"
    absent = sorted(read - set(PARAMS_YAML))
    assert not absent, f"stages declare params sections {absent} missing in params.yaml"
    schema = {f.name for f in dataclasses.fields(Params)}
    assert read == schema, f"STAGE_PARAMS sections {sorted(read)} != schema {schema}"


# The params.yaml section of each schema class's fields (a task's or a
# backtest's field counts as its whole section, which the stages declare).
SECTION_OF = {
    hint: name
    for name, hint in typing.get_type_hints(Params).items()
    if dataclasses.is_dataclass(hint)
} | {config.Task: "tasks", config.Backtest: "backtest"}


def record_reads(monkeypatch) -> set[str]:
    """Every ``section.field`` read on the object ``load_params`` returns, from
    its return on (parsing's own checks are not a stage's reads); a task's or a
    backtest's field is read as its section, ``Params.tasks`` as ``tasks``."""
    reads: set[str] = set()
    on = []
    for cls, section in SECTION_OF.items():
        names = {f.name for f in dataclasses.fields(cls)}

        def get(self, attr, cls=cls, section=section, names=names):
            if on and attr in names:
                whole = cls in (config.Task, config.Backtest)
                reads.add(section if whole else f"{section}.{attr}")
            return object.__getattribute__(self, attr)

        monkeypatch.setattr(cls, "__getattribute__", get)

    def params_get(self, attr):
        if on and attr in ("tasks", "backtest"):
            reads.add(attr)
        return object.__getattribute__(self, attr)

    monkeypatch.setattr(Params, "__getattribute__", params_get)
    load = config.load_params

    def load_and_record(*args, **kwargs):
        params = load(*args, **kwargs)
        on.append(True)
        return params

    monkeypatch.setattr(config, "load_params", load_and_record)
    return reads


def declares(stage: str, read: str) -> bool:
    return any(read == p or read.startswith(p + ".") for p in STAGE_PARAMS[stage])


def test_record_reads_sees_reads_through_helpers(monkeypatch, tmp_path, raw_params):
    reads = record_reads(monkeypatch)
    params = config.load_params(write_params(tmp_path, raw_params))
    assert reads == set()  # parsing reads everything: not counted

    def helper(cfg):
        return cfg.layers, [t.horizon for t in params.tasks.values()]

    helper(params.train)
    assert reads == {"train.layers", "tasks"}
    assert not declares("ablation", "train.loss_weights")
    assert declares("ablation", "train.layers") and declares("train", "train.x")


def test_stages_without_tensorflow_read_only_declared_params(monkeypatch, tmp_path):
    """Run each stage's main() on a tiny project, recording the fields it reads:
    one STAGE_PARAMS (so dvc.yaml) lacks would not rerun the stage when changed.
    The TensorFlow stages (train, ablation, evaluate, backtest) cost too much
    here; each reads its sections through the same objects."""
    params = tiny_params()
    # The code paths of optional keys: known-future inputs, quantiles, decide_by.
    params["features"]["known_future"] = ["hour_of_day"]
    params["tasks"]["temp"] = {
        "type": "regression",
        "target": "Temperature",
        "quantiles": [0.1, 0.5, 0.9],
    }
    params["tasks"]["temp_class"]["decide_by"] = "temp"
    params["train"]["loss_weights"]["temp"] = 1.0
    write_params(tmp_path, params)
    write_synthetic_csv(tmp_path / CSV)
    monkeypatch.chdir(tmp_path)
    undeclared = {}
    for stage in ("ingest", "window", "split", "baselines"):  # in pipeline order
        reads = record_reads(monkeypatch)
        runpy.run_path(str(ROOT / "stages" / f"{stage}.py"), run_name="__main__")
        assert reads, f"stage {stage}: no read recorded; is the recorder broken?"
        missing = sorted(r for r in reads if not declares(stage, r))
        if missing:
            undeclared[stage] = missing
        monkeypatch.undo()
        monkeypatch.chdir(tmp_path)
    assert not undeclared, (
        f"stages read params that STAGE_PARAMS / dvc.yaml do not declare: "
        f"{undeclared}; changing them would not rerun the stage"
    )
