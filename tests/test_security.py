"""Hostile input gets a clear one-line error within bounded time and memory.

params.yaml: a "billion laughs" alias bomb, deep nesting, an oversized file,
huge values (refused before expansion, quoted as a short prefix). Tables: a
time range implying a grid of millions of steps for two rows (refused before
allocating), a 50 MB CSV field (never copied into the message). ``mtlstm
predict``: an --output that would clobber its own inputs or an existing file.
Subprocess checks run under ``resource`` limits (address space, CPU seconds).
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, make_project, run_stage_cli, write_params, write_text

from mtlstm import cli, ingest
from mtlstm.config import MAX_DEPTH, MAX_PARAMS_BYTES, MAX_TEXT, Ingest, load_params
from mtlstm.errors import QUOTE_LIMIT, ConfigError, DataError, MtlstmError, quote

PARAMS = (ROOT / "params.yaml").read_text(encoding="utf-8")
# A message quotes at most QUOTE_LIMIT characters of a value, plus its own text.
SHORT = 600


def laughs(levels: int = 9) -> str:
    """9 ** levels "lol"s from a few hundred bytes of YAML."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        refs = ", ".join([f"*l{i - 1}"] * 9)
        lines.append(f"l{i}: &l{i} [{refs}]")
    return "\n".join(lines) + "\n"


def with_seed(value: str) -> str:
    assert "  seed: 42\n" in PARAMS
    return PARAMS.replace("  seed: 42\n", f"  seed: {value}\n")


def params_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def limited(cpu_s: int, memory_mb: int):
    """preexec_fn: cap CPU seconds and address space of the child."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
        cap = memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    return apply


def run_limited(args: list[str], cwd: Path, cpu_s: int = 30, memory_mb: int = 1024):
    start = time.monotonic()
    proc = subprocess.run(
        args,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limited(cpu_s, memory_mb),
    )
    return proc, time.monotonic() - start


def one_line_error(proc: subprocess.CompletedProcess, prefix: str) -> str:
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix), proc.stderr[:2000]
    assert len(lines[0]) < SHORT, lines[0][:2000]
    return lines[0]


# --- quote ------------------------------------------------------------------------


def test_quote_keeps_short_values_and_cuts_long_ones():
    assert quote("abc") == "'abc'"
    assert quote([1, 2]) == "[1, 2]"
    assert quote("x" * 10_000_000) == f"{'x' * QUOTE_LIMIT!r}... (10000000 characters)"
    assert quote(10**5000) == "a number too long to show"


def test_quote_of_an_alias_bomb_or_deep_nesting_is_cheap():
    bomb: list = ["lol"] * 9
    for _ in range(30):  # 9 ** 31 items if ever expanded
        bomb = [bomb] * 9
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    start = time.monotonic()
    assert len(quote(bomb)) <= QUOTE_LIMIT + 3
    assert quote(deep) == "[[[[...]]]]"
    assert time.monotonic() - start < 1


# --- params.yaml ----------------------------------------------------------------


def test_alias_bomb_is_refused_before_expansion(tmp_path):
    path = params_file(tmp_path, laughs() + with_seed("*l8"))
    start = time.monotonic()
    with pytest.raises(ConfigError, match=r"line 1, column 5: anchors and aliases"):
        load_params(path)
    assert time.monotonic() - start < 1


def test_mtlstm_check_on_an_alias_bomb_stays_small_and_fast(tmp_path):
    """The review's case: 50 s and 2.5 GB to a MemoryError before the fix."""
    params_file(tmp_path, laughs() + with_seed("*l8"))
    proc, seconds = run_limited(
        [sys.executable, "-m", "mtlstm.cli", "check"], tmp_path, 20, 512
    )
    line = one_line_error(proc, "error: check: params.yaml: not valid YAML: line 1")
    assert "anchors and aliases (&name, *name) are not allowed" in line
    assert seconds < 20


def test_a_single_anchor_is_refused_too(tmp_path):
    path = params_file(tmp_path, with_seed("&s 42"))
    with pytest.raises(ConfigError, match=r"line 3, column 9: anchors and aliases"):
        load_params(path)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 20_000])
def test_deep_nesting_is_a_clear_error_not_a_recursion_error(tmp_path, depth):
    path = params_file(tmp_path, with_seed("[" * depth + "]" * depth))
    with pytest.raises(ConfigError, match=rf"nested deeper than {MAX_DEPTH} levels"):
        load_params(path)


def test_nesting_within_the_limit_reaches_the_schema(tmp_path):
    depth = MAX_DEPTH - 2  # base and seed are two levels
    path = params_file(tmp_path, with_seed("[" * depth + "]" * depth))
    with pytest.raises(ConfigError, match=r"base\.seed: expected an integer, got \["):
        load_params(path)


def test_oversized_params_file_is_refused_unread(tmp_path):
    path = params_file(tmp_path, PARAMS + "#" + "x" * MAX_PARAMS_BYTES + "\n")
    with pytest.raises(ConfigError, match=rf"larger than {MAX_PARAMS_BYTES} bytes"):
        load_params(path)


def test_a_huge_value_is_quoted_as_a_short_prefix(tmp_path):
    path = params_file(tmp_path, with_seed('"' + "y" * 900_000 + '"'))
    with pytest.raises(ConfigError, match=r"expected an integer, got 'yyy") as info:
        load_params(path)
    assert "(900000 characters)" in str(info.value)
    assert len(str(info.value)) < SHORT


def test_an_integer_too_long_to_read_is_a_clear_error(tmp_path):
    path = params_file(tmp_path, with_seed("9" * 5000))
    with pytest.raises(ConfigError, match=r"params\.yaml: a value cannot be read"):
        load_params(path)


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        # PyYAML itself caps a plain key at 1024 characters; "? " lifts that.
        ("  enabled: true", "  " + "k" * 1000 + ": 1", r"unknown key\(s\) kkk"),
        ("source: vic_elec", 'source: "' + "s" * 5000 + '"', "at most 1024 char"),
        ("  demand:\n", "  ? " + "d" * 5000 + "\n  :\n", r"tasks: 'ddd.*1024 char"),
    ],
)
def test_long_keys_and_strings_are_refused_in_short(tmp_path, old, new, match):
    assert old in PARAMS
    path = params_file(tmp_path, PARAMS.replace(old, new, 1))
    with pytest.raises(ConfigError, match=match) as info:
        load_params(path)
    assert len(str(info.value)) < SHORT
    assert MAX_TEXT == 1024


def test_nul_byte_in_ingest_source_is_a_config_error(tmp_path, raw_params):
    raw_params["ingest"]["source"] = "data/raw/a\0.csv"
    path = write_params(tmp_path, raw_params)
    with pytest.raises(ConfigError, match=r"ingest\.source: 'data/raw/a\\x00\.csv'"):
        load_params(path)
    with pytest.raises(ConfigError, match=r"ingest\.source: .* holds a NUL byte"):
        ingest.resolve_source("data/raw/a\0.csv", tmp_path)


# --- tables ---------------------------------------------------------------------

COLUMNS = {"x": "numeric", "flag": "boolean"}


def cfg(**kwargs) -> Ingest:
    return Ingest(
        source="data/raw/a.csv", time_column="Time", columns=COLUMNS, **kwargs
    )


def ingest_all(path: Path, config: Ingest):
    src = ingest.read_table(path, config, label="data/raw/a.csv")
    typed, _ = ingest.order_rows(ingest.coerce(src, config), src)
    return ingest.fill_gaps(ingest.to_grid(typed, config), config)


FAR_APART = "Time,x,flag\n1678-01-01T00:00:00Z,1,true\n2261-12-31T00:00:00Z,2,false\n"


@pytest.mark.parametrize("freq", ["1min", "1h"])  # 306 and 5.1 million steps
def test_two_rows_centuries_apart_are_refused_before_the_grid(tmp_path, freq):
    path = write_text(tmp_path / "data" / "raw" / "a.csv", FAR_APART)
    start = time.monotonic()
    with pytest.raises(DataError, match=r"timestamps from 1678-01-01 .* to 2261-12-31"):
        ingest_all(path, cfg(freq=freq))
    assert time.monotonic() - start < 2


def test_grid_limit_message_names_the_sizes_and_the_fix(tmp_path):
    path = write_text(tmp_path / "data" / "raw" / "a.csv", FAR_APART)
    with pytest.raises(DataError) as info:
        ingest_all(path, cfg(freq="1min"))
    # Steps of the grid: (2261-12-31 - 1678-01-01) / 1 min + 1, computed by hand:
    # 584 years, 141 of them leap (1680..2260 by 4, less 1700, 1800, 1900, 2100
    # and 2200), minus the last day of 2261.
    days = 584 * 365 + 141 - 1
    assert days == (pd.Timestamp("2261-12-31") - pd.Timestamp("1678-01-01")).days
    message = str(info.value)
    assert f"a grid of about {days * 1440 + 1} steps of 1min for 2 row(s)" in message
    assert "more than the limit of 1000000" in message
    assert "use a coarser ingest.freq" in message


@pytest.mark.parametrize("freq", ["-1h", "0min"])
def test_a_step_that_is_not_positive_is_refused(tmp_path, freq):
    path = write_text(tmp_path / "data" / "raw" / "a.csv", FAR_APART)
    with pytest.raises(
        ConfigError, match=rf"ingest\.freq: '{freq}' must be a positive"
    ):
        ingest_all(path, cfg(freq=freq))


def test_a_sparse_but_sane_grid_is_still_built(tmp_path):
    # 2 rows 10 days apart at 1min: 14401 steps, under the 1,000,000 floor.
    text = "Time,x,flag\n2024-01-01T00:00:00Z,1,true\n2024-01-11T00:00:00Z,2,false\n"
    path = write_text(tmp_path / "data" / "raw" / "a.csv", text)
    table, summary = ingest_all(path, cfg(freq="1min", long_gaps="break"))
    assert len(table) == 2 and summary["dropped_gap_steps"] == 14_399


def test_ingest_stage_refuses_the_grid_within_bounded_memory(tmp_path, raw_params):
    """The review's case: 2.3 GiB allocation and a traceback before the fix."""
    raw_params["ingest"].update(
        source="data/raw/a.csv",
        columns={"x": "numeric", "flag": "boolean"},
        freq="1min",
    )
    raw_params["ingest"]["aggregate"] = {}
    raw_params["features"].update(columns=["x"], calendar=[], timezone="UTC")
    raw_params["tasks"] = {"t": {"type": "regression", "target": "x"}}
    raw_params["train"]["loss_weights"] = {"t": 1.0}
    project = make_project(tmp_path, raw_params)
    write_text(project / "data" / "raw" / "a.csv", FAR_APART)
    proc, seconds = run_limited(
        [sys.executable, str(ROOT / "stages" / "ingest.py")], project, 60, 1536
    )
    one_line_error(proc, "error: ingest: timestamps from 1678-01-01")
    assert not (project / "data" / "ingested.parquet").exists()
    assert seconds < 60


HUGE = 50 * 2**20  # a 50 MB field


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ('2024-01-01T00:00:00Z,"{big}",true', r"column 'x' is declared numeric"),
        ('2024-01-01T00:00:00Z,1,"{big}"', r"column 'flag' is declared boolean"),
        ('"{big}",1,true', r"column 'Time': cannot parse"),
    ],
)
def test_a_50_mb_field_is_quoted_as_a_short_prefix(tmp_path, row, match):
    big = "9" * 10 + "z" * HUGE
    path = tmp_path / "data" / "raw" / "a.csv"
    write_text(path, "Time,x,flag\n" + row.replace("{big}", big) + "\n")
    del big
    with pytest.raises(DataError, match=match) as info:
        ingest_all(path, cfg())
    message = str(info.value)
    assert f"({HUGE + 10} characters)" in message
    assert len(message) < SHORT and "\n" not in message


def test_a_50_mb_column_name_is_not_copied_into_the_message(tmp_path):
    path = write_text(
        tmp_path / "data" / "raw" / "a.csv", "Time," + "c" * HUGE + "\n2024-01-01,1\n"
    )
    with pytest.raises(DataError, match=r"missing column\(s\) x, flag") as info:
        ingest_all(path, cfg())
    assert len(str(info.value)) < SHORT


def test_ingest_stage_on_a_50_mb_field_bounded(tmp_path, raw_params):
    raw_params["ingest"]["source"] = "data/raw/a.csv"
    project = make_project(tmp_path, raw_params)
    field = "1" + "z" * HUGE
    write_text(
        project / "data" / "raw" / "a.csv",
        f"Time,Demand,Temperature,Holiday\n2024-01-01T00:00:00Z,{field},1,true\n",
    )
    del field
    proc = run_stage_cli("ingest", project)
    one_line_error(proc, "error: ingest: data/raw/a.csv line 2: column 'Demand'")


# --- mtlstm predict -------------------------------------------------------------


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    paths = {
        "input": write_text(tmp_path / "in.csv", "Time,x\n2024-01-01,1\n"),
        "model": write_text(tmp_path / "models" / "model.keras", "MODEL"),
        "bundle": write_text(tmp_path / "models" / "preprocess.json", "{}"),
    }
    return paths


def predict_args(files: dict[str, Path], output: Path | str, *extra: str):
    argv = ["predict", "--input", str(files["input"]), "--model", str(files["model"])]
    argv += ["--bundle", str(files["bundle"]), "--output", str(output), *extra]
    return cli._parser().parse_args(argv)


@pytest.mark.parametrize("victim", ["input", "model", "bundle"])
def test_predict_refuses_to_overwrite_its_own_inputs(files, victim, monkeypatch):
    before = {k: p.read_bytes() for k, p in files.items()}
    monkeypatch.chdir(files["model"].parent)
    # Spelled differently from the option (relative, via ..): resolved first.
    other = Path("..") / files[victim].parent.name / files[victim].name
    if victim == "input":
        other = Path("..") / files[victim].name
    for output in (files[victim], other):
        args = predict_args(files, output, "--force")
        with pytest.raises(MtlstmError, match=rf"is the --{victim} file; write"):
            args.run(args)
    assert {k: p.read_bytes() for k, p in files.items()} == before


def test_predict_refuses_a_symlink_to_its_model(files, tmp_path):
    link = tmp_path / "out.csv"
    link.symlink_to(files["model"])
    args = predict_args(files, link, "--force")
    with pytest.raises(MtlstmError, match=r"is the --model file"):
        args.run(args)
    assert files["model"].read_text() == "MODEL"


def test_predict_refuses_to_replace_an_existing_file_without_force(files, tmp_path):
    old = write_text(tmp_path / "old.csv", "keep me")
    args = predict_args(files, old)
    with pytest.raises(MtlstmError, match=r"old\.csv exists; pass --force to replace"):
        args.run(args)
    assert old.read_text() == "keep me"
    # With --force the output check passes; the fake bundle then fails reading.
    forced = predict_args(files, old, "--force")
    with pytest.raises(Exception) as info:
        forced.run(forced)
    assert "exists; pass --force" not in str(info.value)


def test_predict_refuses_a_folder_or_a_missing_folder(files, tmp_path):
    args = predict_args(files, tmp_path)
    with pytest.raises(MtlstmError, match=r"is a folder; name a CSV file"):
        args.run(args)
    args = predict_args(files, tmp_path / "absent" / "p.csv")
    with pytest.raises(MtlstmError, match=r"p\.csv: folder .*absent not found"):
        args.run(args)


@pytest.mark.parametrize("size", ["0", "-5"])
def test_predict_refuses_a_batch_size_below_one(files, tmp_path, size):
    args = predict_args(files, tmp_path / "p.csv", "--batch-size", size)
    with pytest.raises(MtlstmError, match=rf"--batch-size must be >= 1, got {size}$"):
        args.run(args)


def test_predict_command_refusal_is_one_line_exit_2(files, capsys):
    code = cli.main(
        [
            "predict",
            "--input",
            str(files["input"]),
            "--output",
            str(files["input"]),
            "--model",
            str(files["model"]),
            "--bundle",
            str(files["bundle"]),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: predict: --output ") and err.count("\n") == 1
    assert files["input"].read_text() == "Time,x\n2024-01-01,1\n"
