"""Render ``dvc plots show`` offline and optionally screenshot it in Chromium.

DVC's HTML loads Vega from a CDN; this machine (and many CI runners) have no web
access. The Vega, Vega-Lite and Vega-Embed builds come from the npm registry
once, into the git-ignored ``.cache/vega/``, and a local HTML template points at
them::

    python scripts/render_plots.py                       # -> dvc_plots/index.html
    python scripts/render_plots.py --screenshot plots.png  # needs Debian chromium
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "vega"
PACKAGES = {
    "vega@5": "vega.min.js",
    "vega-lite@5": "vega-lite.min.js",
    "vega-embed@6": "vega-embed.min.js",
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


def vega_scripts() -> list[Path]:
    """The three Vega builds, fetched with ``npm pack`` if not cached yet."""
    wanted = [CACHE / name for name in PACKAGES.values()]
    if all(p.is_file() for p in wanted):
        return wanted
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["npm", "pack", "--silent", *PACKAGES], cwd=tmp, check=True, text=True
        )
        for tgz in Path(tmp).glob("*.tgz"):
            with tarfile.open(tgz) as archive:
                for member in archive.getmembers():
                    if Path(member.name).name in PACKAGES.values():
                        member.name = Path(member.name).name
                        archive.extract(member, CACHE, filter="data")
    return wanted


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
        subprocess.run(
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
            check=True,
            capture_output=True,
        )


def main() -> None:
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
