"""scripts/render_plots.py runs Vega code in a browser with file access: only the
pinned, integrity-checked npm tarballs are used. No download here: the tests
plant tarballs in the cache, where the script looks first."""

from __future__ import annotations

import importlib.util
import io
import re
import tarfile
from pathlib import Path

import pytest
from conftest import ROOT

spec = importlib.util.spec_from_file_location(
    "render_plots", ROOT / "scripts" / "render_plots.py"
)
render_plots = importlib.util.module_from_spec(spec)
spec.loader.exec_module(render_plots)

# sha512 of zero bytes, as npm writes it (a well-known constant).
EMPTY = (
    "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUd"
    "BeoGlODJ6+SfaPg=="
)


def tarball(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(render_plots, "CACHE", tmp_path)

    def no_network(name, version):
        raise AssertionError(f"tried to fetch {name}@{version}")

    monkeypatch.setattr(render_plots, "fetch", no_network)
    return tmp_path


def test_versions_are_exact_with_sha512_integrity():
    for name, (version, integrity, build) in render_plots.PACKAGES.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), (name, version)
        assert re.fullmatch(r"sha512-[A-Za-z0-9+/]{86}==", integrity), name
        assert build == f"{name}.min.js"


def test_integrity_is_npms_format(tmp_path):
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert render_plots.integrity(empty) == EMPTY


def test_a_tampered_tarball_is_refused_removed_and_never_used(cache):
    version = render_plots.PACKAGES["vega"][0]
    evil = tarball(
        cache / f"vega-{version}.tgz",
        {"package/build/vega.min.js": b"fetch('file:///etc/passwd')"},
    )
    with pytest.raises(render_plots.IntegrityError, match=r"is not the pinned sha512-"):
        render_plots.vega_scripts()
    assert not evil.exists()
    assert not (cache / "vega.min.js").exists()


def test_a_verified_tarball_gives_its_exact_build_file(cache, monkeypatch):
    files = {
        "package/build-es5/demo.min.js": b"es5",
        "package/build/demo.min.js": b"modern",
    }
    tgz = tarball(cache / "demo-1.2.3.tgz", files)
    pinned = {"demo": ("1.2.3", render_plots.integrity(tgz), "demo.min.js")}
    monkeypatch.setattr(render_plots, "PACKAGES", pinned)
    assert render_plots.vega_scripts() == [cache / "demo.min.js"]
    assert (cache / "demo.min.js").read_bytes() == b"modern"
    assert tgz.exists()


def test_a_tampered_tarball_fails_main_with_one_line(cache, monkeypatch, capsys):
    version = render_plots.PACKAGES["vega-lite"][0]
    tarball(cache / f"vega-lite-{version}.tgz", {"package/build/x": b"x"})
    monkeypatch.setattr(
        render_plots, "PACKAGES", {"vega-lite": render_plots.PACKAGES["vega-lite"]}
    )
    monkeypatch.setattr("sys.argv", ["render_plots.py"])
    with pytest.raises(SystemExit) as info:
        render_plots.main()
    assert str(info.value).startswith("error: render_plots: vega-lite-")
    assert "\n" not in str(info.value)


def test_a_failed_screenshot_shows_the_browsers_error(tmp_path, monkeypatch):
    """Chromium's output is captured; its failure used to end in a bare
    CalledProcessError traceback, without the reason it printed."""
    browser = tmp_path / "chromium"
    browser.write_text("#!/bin/sh\necho 'Missing X server or $DISPLAY' >&2\nexit 1\n")
    browser.chmod(0o755)
    monkeypatch.setattr(render_plots.shutil, "which", lambda name: str(browser))
    with pytest.raises(SystemExit, match=r"failed \(exit 1\).*Missing X server"):
        render_plots.screenshot(tmp_path / "index.html", tmp_path / "p.png", 100)
