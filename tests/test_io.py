"""Atomic writers (mtlstm.io): an output appears whole or not at all."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from mtlstm import io
from mtlstm.errors import DataError


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


def test_a_failed_write_leaves_no_folder_it_made(tmp_path):
    # window's first file fails (a lookback too long for the data): no empty
    # data/windows/ may stay behind, but a folder that was there stays.
    target = tmp_path / "data" / "windows" / "scaled.npy"
    with pytest.raises(Boom), io.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise Boom
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "data").mkdir()
    with pytest.raises(Boom), io.atomic_path(target):
        raise Boom
    assert [p.name for p in tmp_path.iterdir()] == ["data"]
    assert list((tmp_path / "data").iterdir()) == []


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


def test_load_npz_memory_maps_the_members_write_npz_stores(tmp_path):
    arrays = {
        "price": np.arange(10, dtype=np.float32) / 3,
        "level": np.array([0, 2, 1, 1], dtype=np.int64),
        "grid": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        "one": np.array(7, dtype=np.int32),
        "none": np.zeros((0, 3), dtype=np.float64),
    }
    io.write_npz(tmp_path / "t.npz", arrays)
    mapped = io.load_npz(tmp_path / "t.npz", mmap=True)
    assert list(mapped) == list(arrays)
    for name, value in arrays.items():
        assert_array_equal(mapped[name], value)
        assert (mapped[name].dtype, mapped[name].shape) == (value.dtype, value.shape)
    assert isinstance(mapped["price"], np.memmap)
    assert not mapped["price"].flags.writeable  # read-only: outputs stay intact
    assert mapped["grid"].flags.f_contiguous
    # A compressed file is read as before, member by member.
    np.savez_compressed(tmp_path / "c.npz", **arrays)
    read = io.load_npz(tmp_path / "c.npz", mmap=True)
    for name, value in arrays.items():
        assert_array_equal(read[name], value)
        assert not isinstance(read[name], np.memmap)


def test_load_npz_never_maps_python_objects(tmp_path):
    np.savez(tmp_path / "o.npz", bad=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match=r"o\.npz: member bad\.npy holds Python"):
        io.load_npz(tmp_path / "o.npz", mmap=True)
