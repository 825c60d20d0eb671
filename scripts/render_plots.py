"""Render ``dvc plots show`` offline and optionally screenshot it in Chromium.

DVC's HTML loads Vega from a CDN; this machine (and many CI runners) have no web
access. The Vega, Vega-Lite and Vega-Embed builds come from the npm registry
once, into the git-ignored ``.cache/vega/``, and a local HTML template points at
them. The page runs in a browser with file access, so the versions are exact
and each tarball's sha512 must equal the registry's ``dist.integrity`` pinned
below (checked on every run, also for a cached tarball) before a file of it is
used::

    python scripts/render_plots.py                       # -> dvc_plots/index.html
    python scripts/render_plots.py --screenshot plots.png  # needs Debian chromium
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "vega"
# name -> (exact version, `npm view <name>@<version> dist.integrity`, build file).
# To upgrade: change the version, paste the new integrity, check the plots.
PACKAGES = {
    "vega": (
        "5.33.1",
        "sha512-1fArfVDUqVbb5z8n+/nVQb+VNBzx8svY6CrsyTK4Ujm4yrd9I1auoKxBAPXLCavY1Lcr"
        "bHUskQbGUP8gXOzyQw==",
        "vega.min.js",
    ),
    "vega-lite": (
        "5.23.0",
        "sha512-l4J6+AWE3DIjvovEoHl2LdtCUkfm4zs8Xxx7INwZEAv+XVb6kR6vIN1gt3t2gN2gs/y4"
        "DYTs/RPoTeYAuEg6mA==",
        "vega-lite.min.js",
    ),
    "vega-embed": (
        "6.29.0",
        "sha512-PmlshTLtLFLgWtF/b23T1OwX53AugJ9RZ3qPE2c01VFAbgt3/GSNI/etzA/GzdrkceXF"
        "ma+FDHNXUppKuM0U6Q==",
        "vega-embed.min.js",
    ),
}
TEMPLATE = """<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  <title>mtlstm plots</title>
  {local_scripts}
  <style>body {{ font-family: sans-serif; }} table {{ border-spacing: 15px; }}</style>
</head>
<body>
  <h1>mtlstm: dvc plots show</h1>
  {{plot_divs}}
</body>
</html>
"""


class IntegrityError(RuntimeError):
    """A tarball's sha512 is not the pinned ``dist.integrity``."""


def integrity(path: Path) -> str:
    """npm's Subresource Integrity string of a file: sha512-<base64 digest>."""
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode("ascii")


def verify(tgz: Path, expected: str) -> None:
    got = integrity(tgz)
    if got != expected:
        tgz.unlink()  # never reuse it; the next run fetches it again
        raise IntegrityError(
            f"{tgz.name}: sha512 integrity {got} is not the pinned {expected}; "
            "the tarball was removed, nothing of it was used"
        )


def fetch(name: str, version: str) -> Path:
    """``npm pack name@version`` into the cache (no install scripts run)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["npm", "pack", "--silent", "--ignore-scripts", f"{name}@{version}"],
            cwd=tmp,
            check=True,
            text=True,
        )
        (tgz,) = Path(tmp).glob("*.tgz")
        return Path(shutil.move(tgz, CACHE / f"{name}-{version}.tgz"))


def extract(tgz: Path, member: str, target: Path) -> None:
    with tarfile.open(tgz) as archive:
        data = archive.extractfile(archive.getmember(member))
        assert data is not None, f"{tgz.name}: {member} is not a file"
        target.write_bytes(data.read())


def vega_scripts() -> list[Path]:
    """The three pinned Vega builds, each from a tarball verified on every run."""
    scripts = []
    for name, (version, expected, build) in PACKAGES.items():
        tgz = CACHE / f"{name}-{version}.tgz"
        if not tgz.is_file():
            tgz = fetch(name, version)
        verify(tgz, expected)
        target = CACHE / build
        extract(tgz, f"package/build/{build}", target)
        scripts.append(target)
    return scripts


def render(out_dir: Path) -> Path:
    tags = "\n  ".join(f'<script src="{p.as_uri()}"></script>' for p in vega_scripts())
    with tempfile.NamedTemporaryFile("w", suffix=".html", delete=False) as tmpl:
        tmpl.write(TEMPLATE.format(local_scripts=tags))
    dvc = Path(sys.executable).parent / "dvc"
    subprocess.run(
        [str(dvc), "plots", "show", "--html-template", tmpl.name, "-o", str(out_dir)],
        cwd=ROOT,
        check=True,
    )
    Path(tmpl.name).unlink()
    return out_dir / "index.html"


def screenshot(page: Path, png: Path, height: int) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("chromium not found: `apt-get install chromium` (Debian) first")
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--allow-file-access-from-files",
                f"--user-data-dir={profile}",
                f"--window-size=1400,{height}",
                "--virtual-time-budget=10000",
                f"--screenshot={png.resolve()}",
                page.resolve().as_uri(),
            ],
            check=False,
            capture_output=True,
            text=True,
            errors="replace",  # its logs need not be UTF-8
        )
    if proc.returncode != 0:
        # Its output is captured (noisy when it works); on a failure it is the
        # only clue (no display, a missing library), so it is shown.
        detail = (proc.stderr or proc.stdout).strip() or "no output"
        sys.exit(
            f"error: render_plots: {browser} failed (exit {proc.returncode}) "
            f"taking the screenshot {png}: {detail}"
        )


def main() -> None:
    try:
        run()
    except IntegrityError as exc:
        sys.exit(f"error: render_plots: {exc}")


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dvc_plots")
    parser.add_argument("--screenshot", type=Path, help="write a PNG of the page")
    parser.add_argument("--height", type=int, default=4000)
    args = parser.parse_args()
    page = render(args.out)
    print(f"plots: {page}")
    if args.screenshot:
        screenshot(page, args.screenshot, args.height)
        print(f"screenshot: {args.screenshot}")


if __name__ == "__main__":
    main()
