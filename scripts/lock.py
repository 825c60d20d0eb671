"""Regenerate requirements.lock from pyproject.toml (`make lock`).

The lock pins every package, direct and transitive, with the sha256 of each of
its files on the package index, for every platform and for Python 3.11 and up
(uv's universal resolution: one file; packages needed only somewhere carry an
environment marker). It holds the runtime dependencies, the dev extra and the
build backend (pyproject's build-system requires), so `make install` builds and
installs the project with nothing from the index that the lock does not name.

uv keeps the versions already in the lock and changes only what pyproject.toml
forces; ``--upgrade`` (``make lock UPGRADE=1``) moves everything to the newest
allowed versions. The lock's header records a digest of the dependency fields
of pyproject.toml; tests/test_environment.py fails while the two disagree.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "requirements.lock"
EXTRAS = ("dev",)
OLDEST_PYTHON = "3.11"
# The Pythons the lock is checked to install on Linux x86-64 from wheels alone
# (`make lock` fails otherwise): the Makefile's candidates; CI tests the first
# and the last. 3.14 is not among them: h5py 3.14.0 has no wheel for it.
PYTHONS = ("3.11", "3.12", "3.13")
PLATFORM = "x86_64-manylinux_2_28"
# Pure-Python packages published as source only (built anywhere, no compiler).
SDIST_ONLY = ("antlr4-python3-runtime",)
DIGEST_PREFIX = "# pyproject.toml dependencies sha256: "


def dependency_fields(pyproject: dict) -> dict:
    """What the lock is computed from: a change elsewhere (ruff's settings, the
    version, the description) does not call for a new lock."""
    project = pyproject["project"]
    return {
        "requires-python": project.get("requires-python"),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": {
            extra: project.get("optional-dependencies", {}).get(extra, [])
            for extra in EXTRAS
        },
        "build-system": pyproject.get("build-system", {}).get("requires", []),
    }


def dependency_digest(path: Path = PYPROJECT) -> str:
    return _digest(dependency_fields(tomllib.loads(path.read_text(encoding="utf-8"))))


def _digest(fields: dict) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def recorded_digest(lock_text: str) -> str | None:
    """The digest in the lock's header, or None if it has none."""
    for line in lock_text.splitlines():
        if line.startswith(DIGEST_PREFIX):
            return line.removeprefix(DIGEST_PREFIX).strip()
    return None


# packaging is imported where it is used: `make lock` runs this file in a venv
# that holds uv alone; the checks run in the project's venv (tests/test_environment.py).


def locked(lock_text: str) -> dict:
    """Every pin of the lock, by canonical name: a ``packaging`` Requirement
    ``name==version ; marker`` (its ``--hash`` options dropped)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    entries = " ".join(
        line.split("#", 1)[0] if line.lstrip().startswith("#") else line
        for line in lock_text.splitlines()
    ).replace("\\", " ")
    pins = {}
    for entry in re.split(r"\s+(?=[A-Za-z0-9][\w.-]*==)", entries.strip()):
        if not entry:
            continue
        spec = re.sub(r"\s+--hash=\S+", "", entry).strip()
        req = Requirement(spec)
        pins[canonicalize_name(req.name)] = req
    return pins


def hashes_per_pin(lock_text: str) -> dict[str, int]:
    """How many ``--hash`` options each pin has, by canonical name."""
    from packaging.utils import canonicalize_name

    counts, name = {}, None
    for line in lock_text.splitlines():
        if re.match(r"[A-Za-z0-9]", line):
            name = canonicalize_name(re.split(r"[=<>!~; ]", line, maxsplit=1)[0])
            counts[name] = 0
        if name is not None:
            counts[name] += line.count("--hash=sha256:")
    return counts


def mismatches(pyproject: dict, lock_text: str) -> list[str]:
    """How pyproject.toml and the lock disagree: a direct requirement (runtime,
    dev extra, build backend) that the lock lacks or pins outside its
    specifier, or a lock computed from other dependency fields."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    problems = []
    fields = dependency_fields(pyproject)
    direct = fields["dependencies"] + fields["build-system"]
    direct += [r for reqs in fields["optional-dependencies"].values() for r in reqs]
    pins = locked(lock_text)
    for text in direct:
        req = Requirement(text)
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            problems.append(f"{req.name}: required ({text}) but not in the lock")
            continue
        [exact] = pin.specifier
        if not req.specifier.contains(exact.version, prereleases=True):
            problems.append(
                f"{req.name}: the lock pins {exact.version}, outside {text!r}"
            )
    recorded = recorded_digest(lock_text)
    if recorded != _digest(fields):
        problems.append(
            f"the lock was made from other dependency fields of pyproject.toml "
            f"(recorded digest {recorded}, now {_digest(fields)})"
        )
    return problems


def compile_lock(uv: str, upgrade: bool) -> None:
    pyproject = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    # The build backend comes in on standard input ("-").
    build = "\n".join(pyproject["build-system"]["requires"]) + "\n"
    command = [uv, "pip", "compile", "pyproject.toml", "-"]
    command += [arg for extra in EXTRAS for arg in ("--extra", extra)]
    command += [
        "--universal",
        "--python-version",
        OLDEST_PYTHON,
        "--generate-hashes",
        "--quiet",
        "--custom-compile-command",
        "make lock",
        "--output-file",
        str(LOCK),
    ]
    if upgrade:
        command.append("--upgrade")
    subprocess.run(command, cwd=ROOT, input=build, text=True, check=True)
    text = LOCK.read_text(encoding="utf-8")
    header = (
        "# Python 3.11 and up, every platform (uv pip compile --universal); the\n"
        "# project installs it with `pip install --require-hashes -r` (make install).\n"
        f"{DIGEST_PREFIX}{dependency_digest()}\n"
    )
    lines = [line for line in text.splitlines(keepends=True) if not _ours(line)]
    # After uv's own header (its leading comment lines).
    at = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    LOCK.write_text("".join(lines[:at]) + header + "".join(lines[at:]), "utf-8")


def _ours(line: str) -> bool:
    return line.startswith(DIGEST_PREFIX) or line.startswith(
        ("# Python 3.11 and up, every platform", "# project installs it with")
    )


def check_wheels(uv: str) -> None:
    """Resolve the lock again for each of PYTHONS on Linux x86-64 with binary
    wheels only: fails if one of them lacks a wheel of a locked version."""
    for version in PYTHONS:
        command = [uv, "pip", "compile", str(LOCK), "--quiet", "--no-header"]
        command += ["--python-version", version, "--python-platform", PLATFORM]
        command += ["--only-binary", ":all:", "--output-file", os.devnull]
        for name in SDIST_ONLY:
            command += ["--no-binary", name]
        if subprocess.run(command, cwd=ROOT, check=False).returncode != 0:
            raise SystemExit(
                f"{LOCK.name}: some locked version has no wheel for Python "
                f"{version} on {PLATFORM} (above); pin one that has, or drop "
                f"{version} from PYTHONS in scripts/lock.py and from the Makefile"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uv", default="uv", help="the uv executable")
    parser.add_argument(
        "--upgrade", action="store_true", help="newest allowed versions of all"
    )
    args = parser.parse_args(argv)
    compile_lock(args.uv, args.upgrade)
    check_wheels(args.uv)
    print(f"{LOCK.name}: written ({dependency_digest()[:12]})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
