"""Check the README's images: every one it references exists in the repository,
has alt text, and renders in headless Chromium to something that is not blank.

    python scripts/check_readme_plots.py               # README.md, needs chromium
    python scripts/check_readme_plots.py --no-browser  # references and alt text only

Each local image is opened by Chromium (Debian's ``chromium``; no network: the
background-networking flags keep it from calling home) in a window the size of
the image and screenshot to PNG under ``--shots`` (git-ignored ``.cache/``).
The screenshot is decoded here (zlib and the five PNG row filters, no imaging
library) and must be the image's size, have at least ``MIN_INK`` of its pixels
non-white and ``MIN_COLOR`` of them coloured (lines and bands drawn, not just
text). Not part of ``make test`` (CI has no browser): ``make check-readme-plots``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / ".cache" / "readme_plots"
MIN_INK = 0.02  # share of pixels that are not (near) white
MIN_COLOR = 0.002  # share of pixels with a clear hue (not grey)
IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HTML_IMAGE = re.compile(r"<img\s[^>]*>", re.IGNORECASE)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)


class CheckError(RuntimeError):
    """A broken reference, an unreadable PNG or a blank rendering."""


@dataclass(frozen=True)
class Reference:
    line: int
    alt: str
    target: str


def references(markdown: str) -> list[Reference]:
    """Every image in ``markdown``: ``![alt](target)`` and ``<img src alt>``
    (alt text may run over several lines), in order, with its first line."""
    found = []
    for m in IMAGE.finditer(markdown):
        found.append((m.start(), " ".join(m[1].split()), m[2]))
    for m in HTML_IMAGE.finditer(markdown):
        src = re.search(r'src="([^"]*)"', m[0])
        alt = re.search(r'alt="([^"]*)"', m[0])
        found.append((m.start(), alt[1] if alt else "", src[1] if src else ""))
    return [
        Reference(markdown.count("\n", 0, start) + 1, alt, target)
        for start, alt, target in sorted(found)
    ]


def problems(readme: Path) -> list[str]:
    """What is wrong with ``readme``'s image references (empty if nothing)."""
    out = []
    for ref in references(readme.read_text(encoding="utf-8")):
        where = f"{readme.name}:{ref.line}"
        if re.match(r"^[a-z]+:", ref.target):
            out.append(f"{where}: {ref.target} is not a file in the repository")
        elif not (readme.parent / ref.target).is_file():
            out.append(f"{where}: {ref.target} does not exist")
        if not ref.alt.strip():
            out.append(f"{where}: {ref.target} has no alt text")
    return out


# --- PNG -------------------------------------------------------------------------


def paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode_png(data: bytes) -> tuple[int, int, list[bytearray]]:
    """(width, height, rows of RGB bytes) of an 8-bit RGB or RGBA,
    non-interlaced PNG (what Chromium writes); alpha is dropped."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise CheckError("not a PNG file")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    if header is None:
        raise CheckError("PNG without IHDR")
    width, height, depth, color, _, _, interlace = header
    if depth != 8 or color not in (2, 6) or interlace:
        raise CheckError(
            f"PNG of bit depth {depth}, colour type {color}, interlace {interlace}: "
            "only 8-bit RGB/RGBA, not interlaced, is read"
        )
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    if len(raw) != height * (stride + 1):
        raise CheckError(f"PNG data of {len(raw)} bytes for {width} x {height}")
    rows: list[bytearray] = []
    prior = bytearray(stride)
    for r in range(height):
        kind = raw[r * (stride + 1)]
        line = bytearray(raw[r * (stride + 1) + 1 : (r + 1) * (stride + 1)])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prior, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prior[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                up_left = prior[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + paeth(left, prior[i], up_left)) & 0xFF
        elif kind != 0:
            raise CheckError(f"PNG row {r}: unknown filter {kind}")
        rows.append(line)
        prior = line
    if bpp == 4:
        rows = [bytearray(b for i, b in enumerate(row) if i % 4 != 3) for row in rows]
    return width, height, rows


def ink(rows: list[bytearray]) -> tuple[float, float]:
    """(share of pixels not near white, share with a clear hue) of RGB rows."""
    total = inked = colored = 0
    for row in rows:
        for i in range(0, len(row), 3):
            r, g, b = row[i], row[i + 1], row[i + 2]
            total += 1
            if min(r, g, b) < 235:
                inked += 1
            if max(r, g, b) - min(r, g, b) > 40:
                colored += 1
    return inked / total, colored / total


# --- Chromium --------------------------------------------------------------------


def svg_size(path: Path) -> tuple[int, int]:
    """Width and height of a well-formed SVG (Chromium would show a malformed
    one as a coloured error page, which is not blank)."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise CheckError(f"{path}: not well-formed XML: {err}") from None
    if root.tag != "{http://www.w3.org/2000/svg}svg":
        raise CheckError(f"{path}: root element {root.tag}, not an SVG <svg>")
    width, height = root.get("width", ""), root.get("height", "")
    if not (width.isdigit() and height.isdigit()):
        raise CheckError(f"{path}: no width and height in pixels on <svg>")
    return int(width), int(height)


def screenshot(browser: str, image: Path, png: Path, size: tuple[int, int]) -> None:
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [
                browser,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={size[0]},{size[1]}",
                f"--screenshot={png}",
                image.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    if proc.returncode != 0 or not png.is_file():
        raise CheckError(f"{image}: chromium failed: {proc.stderr.strip()[-500:]}")


def check_image(browser: str, image: Path, shots: Path) -> str:
    """Screenshot ``image`` and check it; a one-line summary."""
    size = svg_size(image) if image.suffix == ".svg" else (1200, 800)
    png = shots / f"{image.stem}.png"
    png.unlink(missing_ok=True)
    screenshot(browser, image, png, size)
    width, height, rows = decode_png(png.read_bytes())
    if image.suffix == ".svg" and (width, height) != size:
        raise CheckError(f"{image}: screenshot {width} x {height}, expected {size}")
    inked, colored = ink(rows)
    summary = f"{image}: {width} x {height}, {inked:.1%} ink, {colored:.1%} colour"
    if inked < MIN_INK or colored < MIN_COLOR:
        raise CheckError(f"{summary}: blank or nearly (screenshot {png})")
    return f"{summary} -> {png}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--shots", type=Path, default=SHOTS, help="screenshots")
    parser.add_argument(
        "--no-browser", action="store_true", help="check the references only"
    )
    args = parser.parse_args(argv)
    found = problems(args.readme)
    for line in found:
        print(f"check_readme_plots.py: {line}", file=sys.stderr)
    if found:
        return 1
    refs = references(args.readme.read_text(encoding="utf-8"))
    print(f"check_readme_plots.py: {len(refs)} image(s) referenced, all present")
    if args.no_browser:
        return 0
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print(
            "check_readme_plots.py: chromium not found: `apt-get install chromium` "
            "(Debian), or --no-browser",
            file=sys.stderr,
        )
        return 1
    args.shots.mkdir(parents=True, exist_ok=True)
    failed = 0
    for ref in refs:
        try:
            print(check_image(browser, args.readme.parent / ref.target, args.shots))
        except (CheckError, OSError, subprocess.TimeoutExpired) as err:
            print(f"check_readme_plots.py: {err}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
