"""Atomic writers: an output appears complete or not at all.

Each writer writes to a temporary file in the target directory and renames it
into place, so a failed or killed stage never leaves a truncated output behind.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import struct
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mtlstm.errors import DataError


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path beside ``path``; move it to ``path`` only on success.
    On failure nothing is left: not the temp file, nor a folder made for it
    (an empty output folder would look like a stage's partial output)."""
    path = Path(path)
    made = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    done = False
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; match a normal file
        os.replace(tmp, path)
        done = True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        for folder in made if not done else ():  # innermost first
            with contextlib.suppress(OSError):  # not empty: another file is in it
                folder.rmdir()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_npy(path: str | Path, array: np.ndarray) -> None:
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, array, allow_pickle=False)


@contextlib.contextmanager
def npy_rows(
    path: str | Path, shape: tuple[int, ...], dtype: np.dtype | type
) -> Iterator[Callable[[np.ndarray], None]]:
    """Write a ``.npy`` file of known ``shape`` block by block: yields a function
    that appends the next rows; the file appears (atomically) only when every
    row was given, byte-identical to ``np.save`` of the whole array."""
    # Appending each block's bytes keeps only one block in memory; a writable
    # memmap would keep the whole file's dirty pages in the process's RSS.
    shape, dtype = tuple(int(n) for n in shape), np.dtype(dtype)
    written = 0
    with atomic_path(path, suffix=".npy") as tmp, tmp.open("wb") as out:
        header = {
            "descr": np.lib.format.dtype_to_descr(dtype),
            "fortran_order": False,
            "shape": shape,
        }
        np.lib.format.write_array_header_1_0(out, header)

        def append(rows: np.ndarray) -> None:
            nonlocal written
            rows = np.ascontiguousarray(rows, dtype=dtype)
            if rows.shape[1:] != shape[1:] or written + len(rows) > shape[0]:
                raise ValueError(f"{path}: rows of shape {rows.shape} overflow {shape}")
            out.write(rows.data)
            written += len(rows)

        yield append
        if written != shape[0]:
            raise ValueError(f"{path}: {written} of {shape[0]} rows written")


def write_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


def load_npy(path: str | Path, mmap: bool = False) -> np.ndarray:
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


def load_npz(path: str | Path, mmap: bool = False) -> dict[str, np.ndarray]:
    """Every array of an ``.npz``; ``mmap``: each array stored uncompressed
    (``write_npz`` stores them so) is memory-mapped in place instead of read,
    so ``data/windows/targets.npz`` (one value per row per task) stays on disk
    like ``scaled.npy``; a compressed member is read as usual."""
    with np.load(path, allow_pickle=False) as data:
        if not mmap:
            return {k: data[k] for k in data.files}
        members = {name: data.zip.getinfo(f"{name}.npy") for name in data.files}
        stored = {
            name: info
            for name, info in members.items()
            if info.compress_type == zipfile.ZIP_STORED
        }
        out = {name: data[name] for name in members if name not in stored}
    out |= {name: _mapped_member(Path(path), info) for name, info in stored.items()}
    return {name: out[name] for name in members}


def _mapped_member(path: Path, info: zipfile.ZipInfo) -> np.ndarray:
    """A read-only memory map of one uncompressed ``.npy`` inside a zip: its
    data start after the member's local header (30 bytes, then its name and
    extra field) and the ``.npy`` header."""
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        if local[:4] != b"PK\x03\x04":
            raise DataError(f"{path}: member {info.filename} has no local header")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len)
        version = np.lib.format.read_magic(f)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read_header(f)
        if dtype.hasobject:
            raise DataError(
                f"{path}: member {info.filename} holds Python objects, which are "
                "never loaded (no pickle); rebuild the file with `dvc repro`"
            )
        order = "F" if fortran else "C"
        if math.prod(shape) == 0 or shape == ():
            # Nothing to map (np.memmap refuses empty maps), or one value.
            count = math.prod(shape)
            return np.fromfile(f, dtype=dtype, count=count).reshape(shape)
        offset = f.tell()
    return np.memmap(
        path, dtype=dtype, mode="r", shape=shape, offset=offset, order=order
    )


def load_series(
    windows: str | Path, bundle: dict, mmap: bool = False
) -> np.ndarray | None:
    """Every row's series code (``series.npy`` of the window stage's folder,
    code ``i`` is ``bundle["series"]["names"][i]``) when the bundle declares
    many series, else None; checked against the bundle, so a stale or foreign
    file is refused instead of mislabelling series. ``mmap``: memory-mapped
    (the checks read it once; the codes stay on disk)."""
    path = Path(windows) / "series.npy"
    fix = "rerun `dvc repro window` to rebuild data/windows"
    names = (bundle.get("series") or {}).get("names")
    if not names:
        if path.exists():
            raise DataError(
                f"{path} exists but {Path(windows) / 'preprocess.json'} names no "
                f"series (series.names); {fix}"
            )
        return None
    if not path.is_file():
        raise DataError(f"{path}: not found, but the bundle declares series; {fix}")
    codes = load_npy(path, mmap=mmap)
    rows = bundle.get("n_rows", len(codes))
    if codes.shape != (rows,) or not np.issubdtype(codes.dtype, np.integer):
        raise DataError(
            f"{path}: expected {rows} integer series codes (one per row of "
            f"scaled.npy), found {codes.dtype} of shape {codes.shape}; {fix}"
        )
    if codes.size and (codes.min() < 0 or codes.max() >= len(names)):
        raise DataError(
            f"{path}: series codes run from {int(codes.min())} to "
            f"{int(codes.max())} but preprocess.json names {len(names)} series; "
            f"{fix}"
        )
    return codes.astype(np.int32, copy=False)


def write_parquet(path: str | Path, frame: pd.DataFrame) -> None:
    with atomic_path(path, suffix=".parquet") as tmp:
        frame.to_parquet(tmp, index=False)


def write_csv(path: str | Path, frame: pd.DataFrame) -> None:
    with atomic_path(path, suffix=".csv") as tmp:
        frame.to_csv(tmp, index=False)


def remove_stale(folder: str | Path, keep: set[str], suffix: str) -> list[Path]:
    """Delete the ``*<suffix>`` files in ``folder`` whose names are not in
    ``keep`` (left by stages that no longer exist, such as a removed task's
    ``ablation@<task>``); return them, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = sorted(
        p
        for p in folder.glob(f"*{suffix}")
        if p.is_file() and p.name not in keep and not p.name.startswith(".")
    )
    for path in stale:
        path.unlink()
    return stale
