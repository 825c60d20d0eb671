"""The environment: requirements.lock against pyproject.toml and against what is
installed, the Makefile's choice of Python, TensorFlow's quiet start-up, and
training's progress (a bar on a terminal, one line in a log)."""

from __future__ import annotations

import copy
import importlib.metadata
import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import ROOT

LOCK = ROOT / "requirements.lock"
PYPROJECT = ROOT / "pyproject.toml"

spec = importlib.util.spec_from_file_location("lock", ROOT / "scripts" / "lock.py")
lock = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lock)


@pytest.fixture(scope="module")
def lock_text() -> str:
    return LOCK.read_text(encoding="utf-8")


@pytest.fixture
def pyproject() -> dict:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


# --- requirements.lock --------------------------------------------------------


def test_lock_agrees_with_pyproject(pyproject, lock_text):
    assert lock.mismatches(pyproject, lock_text) == [], (
        "pyproject.toml and requirements.lock disagree: run `make lock`"
    )


def test_a_new_or_tightened_requirement_is_a_mismatch(pyproject, lock_text):
    changed = copy.deepcopy(pyproject)
    changed["project"]["dependencies"].append("leftpad>=1")
    problems = lock.mismatches(changed, lock_text)
    assert problems[0] == "leftpad: required (leftpad>=1) but not in the lock"
    assert problems[1].startswith("the lock was made from other dependency fields")
    assert len(problems) == 2

    changed = copy.deepcopy(pyproject)
    deps = changed["project"]["dependencies"]
    deps[[d.split(">")[0] for d in deps].index("tensorflow")] = "tensorflow>=2.22"
    assert lock.mismatches(changed, lock_text)[0] == (
        "tensorflow: the lock pins 2.21.0, outside 'tensorflow>=2.22'"
    )
    # The build backend and the dev extra count too.
    changed = copy.deepcopy(pyproject)
    changed["build-system"]["requires"] = ["setuptools>=999"]
    assert lock.mismatches(changed, lock_text)[0].startswith(
        "setuptools: the lock pins "
    )
    changed = copy.deepcopy(pyproject)
    changed["project"]["optional-dependencies"]["dev"].append("pytest<8")
    assert lock.mismatches(changed, lock_text)[0].startswith("pytest: the lock pins ")


def test_a_loosened_requirement_is_a_mismatch_too(pyproject, lock_text):
    # Still satisfied by the pins, but the lock was not made from it.
    changed = copy.deepcopy(pyproject)
    changed["project"]["requires-python"] = ">=3.10"
    [problem] = lock.mismatches(changed, lock_text)
    assert "other dependency fields" in problem


def test_other_pyproject_settings_do_not_call_for_a_new_lock(pyproject, lock_text):
    changed = copy.deepcopy(pyproject)
    changed["tool"]["ruff"]["line-length"] = 100
    changed["project"]["description"] = "something else"
    assert lock.mismatches(changed, lock_text) == []


def test_lock_parser_on_a_hand_written_lock():
    text = (
        "# header\n"
        "# pyproject.toml dependencies sha256: abc\n"
        "numpy==2.4.6 \\\n"
        "    --hash=sha256:aa \\\n"
        "    --hash=sha256:bb\n"
        "    # via\n"
        "    #   mtlstm (pyproject.toml)\n"
        "pywin32==312 ; sys_platform == 'win32' \\\n"
        "    --hash=sha256:cc\n"
        "    # via portalocker\n"
        "Flufl.Lock==9.2.0 \\\n"
        "    --hash=sha256:dd\n"
    )
    pins = lock.locked(text)
    assert sorted(pins) == ["flufl-lock", "numpy", "pywin32"]
    assert str(pins["numpy"].specifier) == "==2.4.6"
    assert str(pins["pywin32"].marker) == 'sys_platform == "win32"'
    assert lock.hashes_per_pin(text) == {"numpy": 2, "pywin32": 1, "flufl-lock": 1}
    assert lock.recorded_digest(text) == "abc"


def test_every_pin_is_exact_and_hashed(lock_text):
    pins = lock.locked(lock_text)
    assert len(pins) > 100  # direct and transitive
    for name, req in pins.items():
        [spec] = req.specifier
        assert spec.operator == "==", name
    hashes = lock.hashes_per_pin(lock_text)
    assert set(hashes) == set(pins)
    assert min(hashes.values()) >= 1, {n: c for n, c in hashes.items() if not c}
    # The resolution this project ran on, pinned when the lock was introduced.
    expected = {"tensorflow": "2.21.0", "keras": "3.15.1", "numpy": "2.4.6"}
    expected |= {"dvc": "3.67.1", "pandas": "3.1.1", "tqdm": "4.70.1"}
    for name, version in expected.items():
        assert str(pins[name].specifier) == f"=={version}"


def test_installed_packages_are_the_locked_ones(lock_text):
    """`make install` installs the lock with --require-hashes: every locked
    package that applies here is installed at its locked version."""
    wrong = {}
    for name, req in lock.locked(lock_text).items():
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        [spec] = req.specifier
        if installed != spec.version:
            wrong[name] = (installed, spec.version)
    assert wrong == {}, f"(installed, locked) differ: rerun `make install`: {wrong}"


def test_lock_header_says_how_to_regenerate_it(lock_text):
    head = lock_text.splitlines()[:5]
    assert "#    make lock" in head
    assert lock.recorded_digest(lock_text) == lock.dependency_digest(PYPROJECT)


# --- the Makefile's Python ------------------------------------------------------

MAKE = shutil.which("make")
needs_make = pytest.mark.skipif(MAKE is None, reason="GNU make is not installed")


def fake_python(directory: Path, name: str, works: bool) -> Path:
    """An executable ``name`` in ``directory``: the running interpreter, or a
    version-manager shim that exists but fails as pyenv's does."""
    path = directory / name
    if works:
        body = f'exec "{sys.executable}" "$@"\n'
    else:
        body = f'echo "pyenv: {name}: command not found" >&2\nexit 127\n'
    path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    path.chmod(0o755)
    return path


def make_check_python(bin_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """``make check-python`` with nothing but ``bin_dir`` on PATH."""
    env = {"PATH": str(bin_dir), "HOME": os.environ.get("HOME", "/")}
    return subprocess.run(
        [MAKE, "-s", "--no-print-directory", "-C", str(ROOT), "check-python", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_make_tries_the_pythons_the_lock_is_checked_for_newest_first():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    tried = " ".join(f"python{v}" for v in reversed(lock.PYTHONS))
    assert f"scripts/find_python.sh {tried})" in makefile


@needs_make
def test_make_skips_a_failing_shim_and_takes_the_next_python(tmp_path):
    fake_python(tmp_path, "python3.13", works=False)
    chosen = fake_python(tmp_path, "python3.12", works=True)
    fake_python(tmp_path, "python3.11", works=True)
    proc = make_check_python(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == str(chosen)


@needs_make
def test_make_prefers_the_newest_working_python(tmp_path):
    for name in ("python3.11", "python3.12", "python3.13"):
        fake_python(tmp_path, name, works=True)
    proc = make_check_python(tmp_path)
    assert proc.stdout.split()[0] == str(tmp_path / "python3.13")


@needs_make
def test_make_without_a_working_python_says_what_to_install(tmp_path):
    fake_python(tmp_path, "python3.13", works=False)
    fake_python(tmp_path, "python3.12", works=False)
    proc = make_check_python(tmp_path)
    assert proc.returncode != 0
    assert "error: no working Python 3.11, 3.12 or 3.13 found" in proc.stderr
    assert "make PYTHON=/path/to/python3.12" in proc.stderr


@needs_make
def test_make_python_given_is_checked_and_used(tmp_path):
    broken = fake_python(tmp_path, "python3.13", works=False)
    proc = make_check_python(tmp_path, f"PYTHON={broken}")
    assert proc.returncode != 0
    assert f"error: PYTHON={broken} does not run" in proc.stderr
    mine = fake_python(tmp_path, "mypython", works=True)
    fake_python(tmp_path, "python3.13", works=True)
    proc = make_check_python(tmp_path, f"PYTHON={mine}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(mine), sys.version.split()[0]]


@needs_make
def test_make_takes_a_python_in_a_folder_with_a_space(tmp_path):
    """find_python.sh finds it (it runs); the recipes ran it unquoted, so make
    then said it "does not run"."""
    bin_dir = tmp_path / "Python 3.12" / "bin"
    bin_dir.mkdir(parents=True)
    found = fake_python(bin_dir, "python3.12", works=True)
    for args in ((), (f"PYTHON={found}",)):
        proc = make_check_python(bin_dir, *args)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == f"{found} {sys.version.split()[0]}\n"


# --- the Makefile's venv ----------------------------------------------------------


def venv_maker(directory: Path) -> Path:
    """A ``python`` for ``make install``: ``-m venv`` runs this interpreter's
    venv (without pip), and the new venv's ``bin/python`` then logs the pip
    installs it is given to ``pip.log`` instead of running them."""
    path = directory / "python"
    path.write_text(
        "#!/bin/sh\n"
        'if [ "$1 $2" = "-m venv" ]; then\n'
        f'    "{sys.executable}" "$@" --without-pip || exit 1\n'
        "    rm -f .venv/bin/python\n"
        "    printf '#!/bin/sh\\necho \"$*\" >> pip.log\\n' > .venv/bin/python\n"
        "    chmod +x .venv/bin/python\n"
        "    exit 0\n"
        "fi\n"
        f'exec "{sys.executable}" "$@"\n',
        encoding="utf-8",
    )
    path.chmod(0o755)
    return path


def make_install(folder: Path) -> subprocess.CompletedProcess:
    """``make install`` in ``folder`` (a copy of the Makefile and of what the
    install is built from), with venv_maker's python."""
    return subprocess.run(
        [MAKE, "-s", "--no-print-directory", "install", f"PYTHON={venv_maker(folder)}"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def install_sources(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "Makefile", folder)
    for name in ("pyproject.toml", "requirements.lock", "requirements-lint.txt"):
        (folder / name).touch()
    return folder


@needs_make
def test_a_reinstall_starts_from_an_empty_venv(tmp_path):
    """A newer lock (or pyproject.toml) reinstalls into a cleared venv, as on a
    fresh machine. Installed over the old one, a package the lock no longer
    names stayed, and a venv first made by another Python kept that Python's
    bin/python (venv does not replace it) while make named the new one."""
    install_sources(tmp_path)
    dropped = tmp_path / ".venv" / "lib" / "dropped-from-the-lock"
    dropped.mkdir(parents=True)
    stamp = tmp_path / ".venv" / ".installed"
    stamp.write_text(f"{os.path.realpath(tmp_path)}\n", encoding="utf-8")
    os.utime(stamp, (0, 0))  # older than the lock: the install is due
    proc = make_install(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert stamp.stat().st_mtime > 0
    assert not dropped.exists()
    log = (tmp_path / "pip.log").read_text(encoding="utf-8").splitlines()
    assert [line.split()[-1] for line in log] == [
        "requirements.lock",
        ".",
        "requirements-lint.txt",
    ]


@needs_make
def test_a_copy_of_the_folder_gets_a_venv_of_its_own(tmp_path):
    """A venv holds absolute paths: its scripts' #! lines and mtlstm installed
    editable from the folder's src/. In a copy of the folder (cp -a) with its
    .venv, make test and make repro ran the original's venv and imported the
    original's code, silently. The stamp records the folder it was made in."""
    first = install_sources(tmp_path / "first")
    assert make_install(first).returncode == 0
    copy = tmp_path / "copy"
    shutil.copytree(first, copy, symlinks=True)
    (copy / "pip.log").unlink()
    proc = make_install(copy)
    assert proc.returncode == 0, proc.stderr
    assert (copy / "pip.log").is_file(), "the copy kept the first folder's venv"
    # Installed once, in each folder: nothing is due a second time.
    for folder in (first, copy):
        (folder / "pip.log").unlink()
        assert make_install(folder).returncode == 0
        assert not (folder / "pip.log").exists()


# --- quiet TensorFlow -----------------------------------------------------------

NOISE = (
    "absl::InitializeLog",
    "cuda drivers",
    "cudart_stub",
    "oneDNN custom operations",
    "cpu_feature_guard",
)


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **env}
    full.pop("TF_CPP_MIN_LOG_LEVEL", None)
    full.update(env)
    return subprocess.run(
        [sys.executable, "-c", code],
        env=full,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_importing_tensorflow_through_mtlstm_prints_no_startup_noise():
    # Keras imports TensorFlow itself: the first import from anywhere is covered.
    proc = run_python(
        "import mtlstm, keras, tensorflow, sys; "
        "print('after', file=sys.stderr); print(tensorflow.__version__)"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "after\n"
    assert proc.stdout.strip() == importlib.metadata.version("tensorflow")


@pytest.mark.parametrize("stage", ["train", "ablation", "evaluate", "backtest"])
def test_tensorflow_stages_import_mtlstm_before_keras(stage):
    """A stage that imports keras (or tensorflow) before anything of mtlstm
    would print TensorFlow's start-up lines: loading its module (not running
    its main) must write nothing to stderr."""
    path = ROOT / "stages" / f"{stage}.py"
    # The stage's imports, then TensorFlow for sure (ablation imports it late).
    proc = run_python(
        f"import runpy; runpy.run_path({str(path)!r}, run_name='x'); import tensorflow"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr


def test_tf_log_level_zero_shows_the_startup_lines():
    """The filter is what hides them (so the test above can fail), and
    TF_CPP_MIN_LOG_LEVEL=0 is the way to see them."""
    proc = run_python("import mtlstm, tensorflow", TF_CPP_MIN_LOG_LEVEL="0")
    assert proc.returncode == 0, proc.stderr
    assert any(marker in proc.stderr for marker in NOISE), proc.stderr


def test_other_output_written_during_the_import_is_kept(capfd):
    import mtlstm

    lines = (
        "I0000 00:00:1796062528.239995    4742 port.cc:153] oneDNN custom ops\n"
        "WARNING: All log messages before absl::InitializeLog() is called are "
        "written to STDERR\n"
        "E0000 00:00:1796062528.2    4742 something.cc:1] a real error\n"
        "Traceback (most recent call last):\n"
    )
    assert mtlstm.drop_startup_noise(lines) == (
        "E0000 00:00:1796062528.2    4742 something.cc:1] a real error\n"
        "Traceback (most recent call last):\n"
    )
    with mtlstm._filtered_stderr():
        os.write(2, lines.encode())
    err = capfd.readouterr().err
    assert "a real error" in err
    assert "oneDNN" not in err


# --- progress ---------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def train_tiny(epochs: int, label: str) -> None:
    import keras
    import numpy as np

    from mtlstm.training import EpochProgress

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((8, 2), "float32"), np.zeros((8, 1), "float32")
    model.fit(
        x,
        y,
        validation_data=(x, y),
        epochs=epochs,
        verbose=0,
        callbacks=[EpochProgress(label, epochs, first=0)],
    )


def test_training_logs_one_summary_line_and_no_bar_off_a_terminal(capsys):
    train_tiny(3, "train")
    out, err = capsys.readouterr()
    assert re.fullmatch(r"train: epoch 3 of 3, loss \S+, val_loss \S+\n", out), out
    assert err == ""


def test_training_shows_a_bar_on_a_terminal(capsys, monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    train_tiny(2, "ablation@demand")
    assert "ablation@demand" in terminal.getvalue()
    assert "2/2" in terminal.getvalue() and "epoch" in terminal.getvalue()
    assert capsys.readouterr().out.startswith("ablation@demand: epoch 2 of 2, ")
