"""A DVC remote round trip: push from one repo, clone, pull, and nothing reruns.

The first repo (built as in test_pipeline: git + DVC, a tiny committed CSV under
data/raw/, a tiny model) runs the pipeline, gets a local remote (a temp directory,
recorded in the committed .dvc/config) and pushes its outputs. A ``git clone`` of
it then pulls them: its pipeline is up to date, ``dvc repro`` runs no stage and
the metrics are the ones the first repo computed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from test_pipeline import (
    CSV,
    RUNNING,
    STAGES,
    Project,
    dvc_env,
    find_metrics,
    first_run_copy,
)


def declared(root: Path, section: str) -> list[str]:
    """The cached paths the dvc.yaml in ``root`` lists under ``section`` (outs or
    metrics) of any stage: read from the file, so new outputs are covered too."""
    text = (root / "dvc.yaml").read_text(encoding="utf-8")
    paths = []
    for stage in yaml.safe_load(text)["stages"].values():
        for entry in stage.get(section) or []:
            if isinstance(entry, str):
                paths.append(entry)
                continue
            [(path, opts)] = entry.items()
            if (opts or {}).get("cache", True):
                paths.append(path)
    return paths


@dataclass
class RoundTrip:
    origin: Project
    clone: Project
    remote: Path
    ran: list[str]  # the stages the first repo's `dvc repro` ran
    outputs: list[str]  # every cached out and metric of dvc.yaml, dirs included
    metrics: list[str]
    cloned: set[str]  # the outputs the clone had before `dvc pull`
    status_after_pull: dict


def files_under(path: Path) -> dict[str, bytes]:
    """Every file of an output (a file or a directory), by relative path."""
    if path.is_file():
        return {".": path.read_bytes()}
    return {
        str(p.relative_to(path)): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory) -> RoundTrip:
    base = tmp_path_factory.mktemp("dvc-remote")
    scratch = base / "scratch"
    remote = base / "remote"
    origin, _, ran = first_run_copy(tmp_path_factory, base / "origin", scratch)
    origin.dvc("remote", "add", "-d", "local", str(remote))
    origin.run("git", "add", "-A")
    origin.run("git", "commit", "-q", "-m", "run the pipeline; add a local remote")
    origin.dvc("push")

    clone_root = base / "clone"
    origin.run("git", "clone", "-q", str(origin.root), str(clone_root))
    env = dvc_env(scratch)
    env["PYTHONPATH"] = str(clone_root / "src")
    clone = Project(clone_root, env)
    outputs = declared(origin.root, "outs") + declared(origin.root, "metrics")
    cloned = {out for out in outputs if (clone_root / out).exists()}
    clone.dvc("pull")
    metrics = declared(origin.root, "metrics")
    return RoundTrip(
        origin, clone, remote, ran, outputs, metrics, cloned, clone.status()
    )


def test_origin_ran_the_pipeline_and_committed_what_the_clone_needs(round_trip):
    origin = round_trip.origin
    assert round_trip.ran == list(STAGES)
    tracked = origin.run("git", "ls-files").stdout.split()
    for path in (CSV, "dvc.yaml", "dvc.lock", "params.yaml", ".dvc/config"):
        assert path in tracked, f"{path} is not committed"
    assert origin.run("git", "status", "--porcelain").stdout == ""
    config = (origin.root / ".dvc/config").read_text(encoding="utf-8")
    assert "remote = local" in config
    assert str(round_trip.remote) in config


def test_push_leaves_nothing_missing_on_the_remote(round_trip):
    assert any(round_trip.remote.rglob("*")), "the remote is empty after push"
    status = json.loads(
        round_trip.origin.dvc("status", "--cloud", "--json").stdout or "{}"
    )
    assert status == {}, f"outputs not on the remote after push: {status}"


def test_clone_gets_the_outputs_only_from_the_remote(round_trip):
    assert round_trip.cloned == set(), "git clone should carry no DVC outputs"
    for out in round_trip.outputs:
        assert (round_trip.clone.root / out).exists(), f"{out} was not pulled"


def test_pulled_outputs_equal_the_originals(round_trip):
    for out in round_trip.outputs:
        pulled = files_under(round_trip.clone.root / out)
        assert pulled, f"{out} is empty in the clone"
        assert pulled == files_under(round_trip.origin.root / out), out


def test_clone_is_up_to_date_after_pull(round_trip):
    assert round_trip.status_after_pull == {}


def test_repro_in_the_clone_runs_nothing(round_trip):
    proc = round_trip.clone.dvc("repro")
    out = proc.stdout + proc.stderr
    assert "Running stage" not in out, out
    assert RUNNING.findall(out) == []
    assert round_trip.clone.status() == {}
    assert round_trip.clone.run("git", "status", "--porcelain").stdout == ""


def test_metrics_show_in_the_clone_matches_the_origin(round_trip):
    def shown(project: Project) -> dict:
        return json.loads(project.dvc("metrics", "show", "--json").stdout)

    origin, clone = shown(round_trip.origin), shown(round_trip.clone)
    assert clone == origin
    for path in round_trip.metrics:
        values = find_metrics(clone, path)
        assert values, f"`dvc metrics show` has no {path}: {clone}"
        assert values == round_trip.origin.read_json(path)
    for path in round_trip.metrics:
        assert (round_trip.clone.root / path).read_bytes() == (
            round_trip.origin.root / path
        ).read_bytes(), path


def test_artifacts_get_fetches_the_model_from_the_remote(round_trip, tmp_path):
    """dvc.yaml's artifacts: once a version is registered (a GTO tag
    ``<artifact>@v<semver>``, as README says), `dvc artifacts get` run outside
    any project downloads the model and its preprocessing from a fresh git
    clone (no DVC cache, never pulled) through the remote, byte for byte what
    the origin trained."""
    origin = round_trip.origin
    elsewhere = tmp_path / "elsewhere"  # not a DVC project
    elsewhere.mkdir()
    outside = Project(elsewhere, round_trip.clone.env)
    artifacts = {
        "mtlstm-model": "models/model.keras",
        "mtlstm-preprocess": "models/preprocess.json",
    }

    def fresh_clone(name: str) -> Path:
        path = tmp_path / name
        origin.run("git", "clone", "-q", str(origin.root), str(path))
        assert not (path / "models").exists()
        return path

    # Declared but no version registered yet: DVC finds no artifact to get.
    unversioned = fresh_clone("unversioned")
    proc = outside.dvc(
        "artifacts", "get", str(unversioned), "mtlstm-model", check=False
    )
    assert proc.returncode != 0
    assert "Unable to find artifact 'mtlstm-model'" in proc.stderr

    for name in artifacts:
        origin.run("git", "tag", "-a", f"{name}@v0.1.0", "-m", "first model")
    fresh = fresh_clone("fresh")
    for name, path in artifacts.items():
        url = outside.dvc("artifacts", "get", "--show-url", str(fresh), name).stdout
        assert url.strip().startswith(str(round_trip.remote)), url
        target = elsewhere / Path(path).name
        outside.dvc("artifacts", "get", str(fresh), name, "-o", str(target))
        assert target.read_bytes() == (origin.root / path).read_bytes()
    # A given version, by its number.
    again = elsewhere / "again.keras"
    outside.dvc(
        "artifacts",
        "get",
        str(fresh),
        "mtlstm-model",
        "--rev",
        "v0.1.0",
        "-o",
        str(again),
    )
    assert again.read_bytes() == (origin.root / "models/model.keras").read_bytes()


def test_artifacts_are_declared_as_models_with_labels():
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    artifacts = spec["artifacts"]
    assert artifacts["mtlstm-model"]["path"] == "models/model.keras"
    assert artifacts["mtlstm-preprocess"]["path"] == "models/preprocess.json"
    train_outs = spec["stages"]["train"]["outs"]
    for artifact in artifacts.values():
        assert artifact["type"] == "model"
        assert artifact["desc"].strip() and artifact["labels"]
        assert artifact["path"] in train_outs  # a cached output DVC can fetch
