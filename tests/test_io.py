"""Atomic writers (mtlstm.io): an output appears whole or not at all."""

from __future__ import annotations

import pytest

from mtlstm import io


class Boom(Exception):
    pass


def test_atomic_path_publishes_only_on_success(tmp_path):
    target = tmp_path / "out" / "a.json"
    with io.atomic_path(target) as tmp:
        assert tmp != target and tmp.parent == target.parent
        tmp.write_text("new")
        assert not target.exists()  # nothing visible before the block ends
    assert target.read_text() == "new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.json"]


def test_a_failed_write_leaves_no_target_and_no_temporary_file(tmp_path):
    target = tmp_path / "a.json"
    with pytest.raises(Boom), io.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise Boom
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_the_previous_file_unchanged(tmp_path):
    target = tmp_path / "a.json"
    target.write_text("old")
    with pytest.raises(Boom), io.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise Boom
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_write_json_failing_midway_keeps_the_old_file(tmp_path):
    target = tmp_path / "m.json"
    io.write_json(target, {"a": 1})
    with pytest.raises(TypeError):
        io.write_json(target, {"a": object()})  # not JSON-serializable
    assert io.read_json(target) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_remove_stale_keeps_only_the_named_files_of_a_suffix(tmp_path):
    for name in ("demand.json", "old.json", "old.npz", ".tmp.json", "keep.json"):
        (tmp_path / name).write_text("{}")
    removed = io.remove_stale(tmp_path, {"demand.json", "keep.json"}, ".json")
    assert removed == [tmp_path / "old.json"]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [".tmp.json", "demand.json", "keep.json", "old.npz"]
    assert io.remove_stale(tmp_path / "missing", set(), ".json") == []
