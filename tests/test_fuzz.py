"""Property-based tests (Hypothesis) over every input path a user controls.

The property, for any table, params file or `mtlstm predict` input: the run
either succeeds with finite outputs that pass their own invariants (a regular
grid inside each segment, no window across a gap or a split boundary, scalers
fitted on the training range), or exits with code 2 and one line naming what
is wrong, leaving no output behind. Never a traceback, never exit 1.

`make test` runs a short derandomized search (profile "ci": the same examples
on every run, so CI is deterministic). `make fuzz` runs a long random search
(profile "fuzz", examples saved in the git-ignored .hypothesis/); each failure
it finds is fixed and pinned here as an explicit ``@example``.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import re
import runpy
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import DEFAULT_PARAMS, ROOT, STAGES
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

from mtlstm import grid
from mtlstm.config import load_params
from mtlstm.errors import ConfigError
from mtlstm.split import row_bounds

COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    # No "explain" phase: it reruns a failure hundreds of times to annotate it.
    "phases": [Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
}
settings.register_profile(
    "ci",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "25")),
    derandomize=True,
    **COMMON,
)
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "2000")),
    database=DirectoryBasedExampleDatabase(str(ROOT / ".hypothesis" / "examples")),
    **COMMON,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

OUTPUTS = {
    "ingest": ["data/ingested.parquet", "data/ingest_summary.json"],
    "window": ["data/windows"],
    "split": ["data/split"],
}


# --- running a stage as DVC would, in-process -----------------------------------


def run_stage(name: str, project: Path) -> tuple[int, str]:
    """Exit code and stderr of ``python stages/<name>.py`` run from ``project``."""
    err = io.StringIO()
    cwd = os.getcwd()
    os.chdir(project)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            runpy.run_path(str(STAGES / f"{name}.py"), run_name="__main__")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(cwd)
    return code, err.getvalue()


def assert_clean_failure(name: str, code: int, err: str, project: Path) -> None:
    assert code == 2, f"{name} exited {code}: {err}"
    assert err.startswith(f"error: {name}: ") and err.count("\n") == 1, err
    for out in OUTPUTS[name]:
        assert not (project / out).exists(), f"{name} left {out} behind: {err}"


# --- tables ------------------------------------------------------------------------

ZONES = ["Z", "Z", "Z", "+01:00", "+05:30", "", "-00:00"]
NUMBERS = st.one_of(
    st.integers(-1000, 1000).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(-1e3, 1e3, allow_nan=False).map(lambda v: f"{v:.3f}"),
    st.sampled_from(["", " ", "abc", "1,5", "-0.0", "1e308", "-1e-320", "nan", "1e15"]),
)
FLAGS = st.sampled_from(["true", "false", "yes", "no", "1", "0", "TRUE", "maybe", ""])
VALID_FLAGS = st.sampled_from(["true", "false", "yes", "no", "1", "0"])
CATEGORIES = st.sampled_from(["a", "b", "a", "b", "c", "", " a", "ä"])


@st.composite
def messy_rows(draw) -> list[tuple[str, str, str, str]]:
    n = draw(st.integers(0, 30))
    start = pd.Timestamp("2024-03-30T20:00:00")  # a DST change in Berlin and Melbourne
    minutes = draw(
        st.lists(st.sampled_from(range(0, 3 * 24 * 60, 30)), min_size=n, max_size=n)
    )
    if draw(st.booleans()):
        minutes.sort()
    rows = []
    for m in minutes:
        zone = draw(st.sampled_from(ZONES))
        stamp = (start + pd.Timedelta(minutes=m)).isoformat() + zone
        if draw(st.integers(0, 40)) == 0:
            stamp = draw(st.sampled_from(["", "yesterday", "2024-13-01T00:00Z"]))
        rows.append((stamp, draw(NUMBERS), draw(FLAGS), draw(CATEGORIES)))
    return rows


@st.composite
def clean_rows(draw) -> list[tuple[str, str, str, str]]:
    n = draw(st.integers(8, 150))
    step = draw(st.sampled_from([30, 60, 60, 60 * 24]))
    holes = set(draw(st.lists(st.integers(1, n - 2), max_size=3)))
    start = pd.Timestamp("2024-03-29T00:00:00Z")
    rows = []
    for i in range(n):
        if i in holes:
            continue
        stamp = (start + pd.Timedelta(minutes=i * step)).strftime("%Y-%m-%dT%H:%M:%SZ")
        x = draw(st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False))
        rows.append((stamp, repr(x), draw(VALID_FLAGS), draw(st.sampled_from("ab"))))
    return rows


INGEST = st.fixed_dictionaries(
    {
        "freq": st.sampled_from(["30min", "1h", "2h", "1D"]),
        "max_fill": st.integers(0, 3),
        "long_gaps": st.sampled_from(["error", "break"]),
        "sort": st.booleans(),
        "duplicates": st.sampled_from(["error", "aggregate"]),
        "aggregate": st.fixed_dictionaries(
            {"x": st.sampled_from(["mean", "sum", "min", "max", "first", "last"])}
        ),
    }
)


def table_params(ingest: dict, timezone: str) -> dict:
    params = copy.deepcopy(DEFAULT_PARAMS)
    params["ingest"] = {
        "source": "data/raw/t.csv",
        "time_column": "t",
        "columns": {"x": "numeric", "flag": "boolean", "cat": "categorical"},
        "csv_sep": ",",
        "csv_decimal": ".",
        **ingest,
    }
    params["features"] = {
        "columns": ["x", "flag", "cat"],
        "calendar": ["hour_of_day", "day_of_week"],
        "timezone": timezone,
    }
    params["tasks"] = {"level": {"type": "regression", "target": "x", "horizon": 1}}
    params["train"]["loss_weights"] = {"level": 1.0}
    params["window"]["lookback"] = 2
    params["split"] = {"train": 0.5, "val": 0.25}
    params["baselines"]["season"] = 2
    params["backtest"] = {}
    return params


def check_ingested(project: Path, params: dict) -> pd.DataFrame:
    table = pd.read_parquet(project / "data/ingested.parquet")
    assert len(table) > 0
    assert np.isfinite(table["x"].to_numpy()).all()
    assert not table.isna().to_numpy().any()
    times = pd.DatetimeIndex(table["time"])
    assert times.is_monotonic_increasing and times.is_unique
    positions = grid.positions(
        times, params["ingest"]["freq"], params["features"]["timezone"]
    )
    segment = table["segment"].to_numpy()
    steps = np.diff(positions)
    # Inside a segment rows are consecutive grid steps; a new segment follows a
    # gap longer than max_fill.
    assert (steps[segment[1:] == segment[:-1]] == 1).all()
    assert (steps[segment[1:] != segment[:-1]] > params["ingest"]["max_fill"] + 1).all()
    return table


def check_windows(project: Path, table: pd.DataFrame) -> None:
    from mtlstm.io import load_npy, read_json

    bundle = read_json(project / "data/windows/preprocess.json")
    ends = load_npy(project / "data/windows/ends.npy")
    segment = table["segment"].to_numpy()
    lookback, horizon = bundle["lookback"], bundle["max_horizon"]
    assert (segment[ends - lookback + 1] == segment[ends + horizon]).all()
    assert np.isfinite(load_npy(project / "data/windows/scaled.npy")).all()
    train_end, _ = row_bounds(len(table), 0.5, 0.25)
    x = bundle["inputs"][0]
    assert x["column"] == "x"
    assert x["mean"] == pytest.approx(
        table["x"].iloc[:train_end].mean(), rel=1e-9, abs=1e-9
    )


def check_split(project: Path, table: pd.DataFrame) -> None:
    from mtlstm.io import load_npy

    train_end, val_end = row_bounds(len(table), 0.5, 0.25)
    bounds = {
        "train": (0, train_end),
        "val": (train_end, val_end),
        "test": (val_end, len(table)),
    }
    for name, (lo, hi) in bounds.items():
        ends = load_npy(project / f"data/split/{name}.npy")
        assert (ends - 1 >= lo).all() and (ends + 1 < hi).all()


@given(
    rows=st.one_of(clean_rows(), messy_rows()),
    ingest=INGEST,
    timezone=st.sampled_from(["UTC", "Europe/Berlin", "Australia/Melbourne"]),
    bom=st.booleans(),
    sep=st.sampled_from([",", ",", ";", "\t"]),
    declared_sep=st.sampled_from([",", ",", ";"]),
)
# Found by the fuzzer: pandas' tokenizer message ended in a newline, so the
# error took two lines.
@example(
    rows=[("", "0", "true", "a"), ("", "1,5", "true", "a")],
    ingest={
        "freq": "30min",
        "max_fill": 0,
        "long_gaps": "error",
        "sort": False,
        "duplicates": "error",
        "aggregate": {"x": "mean"},
    },
    timezone="UTC",
    bom=False,
    sep=",",
    declared_sep=",",
)
def test_any_table_runs_cleanly_or_fails_with_one_line(
    rows, ingest, timezone, bom, sep, declared_sep
):
    params = table_params(ingest, timezone)
    params["ingest"]["csv_sep"] = declared_sep  # may not match the file's
    text = sep.join(["t", "x", "flag", "cat"]) + "\n"
    text += "".join(sep.join(r) + "\n" for r in rows)
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "data/raw").mkdir(parents=True)
        (project / "data/raw/t.csv").write_bytes(
            ("\ufeff" if bom else "").encode() + text.encode()
        )
        (project / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
        code, err = run_stage("ingest", project)
        event(f"ingest exit {code}")
        if code != 0:
            return assert_clean_failure("ingest", code, err, project)
        table = check_ingested(project, params)
        code, err = run_stage("window", project)
        event(f"window exit {code}")
        if code != 0:
            return assert_clean_failure("window", code, err, project)
        check_windows(project, table)
        code, err = run_stage("split", project)
        event(f"split exit {code}")
        if code != 0:
            return assert_clean_failure("split", code, err, project)
        check_split(project, table)


# --- params.yaml ----------------------------------------------------------------------


def leaf_paths(node, prefix=()):
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from leaf_paths(value, (*prefix, key))
    yield prefix


PATHS = [p for p in leaf_paths(DEFAULT_PARAMS) if p]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.integers(-5, 100), max_size=4),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


@given(
    changes=st.lists(st.tuples(st.sampled_from(PATHS), VALUES), min_size=1, max_size=3),
    extra=st.booleans(),
)
def test_any_params_file_loads_or_fails_naming_a_key(changes, extra):
    params = copy.deepcopy(DEFAULT_PARAMS)
    for path, value in changes:
        node = params
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[path[-1]] = value
    if extra:
        params["trian"] = {"epochs": 1}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "params.yaml"
        path.write_text(yaml.safe_dump(params), encoding="utf-8")
        try:
            load_params(path)
        except ConfigError as exc:
            message = str(exc)
            assert message.startswith(f"{path}: ") and "\n" not in message, message
        else:
            assert not extra, "an unknown section must be refused"


# --- mtlstm predict against a small model --------------------------------------------


@pytest.fixture(scope="module")
def small_model(tmp_path_factory) -> Path:
    """An untrained model of the default params' shape and its bundle: what
    `predict` checks and computes does not depend on how well it was trained."""
    from conftest import synthetic_table

    from mtlstm import window
    from mtlstm.ingest import schema
    from mtlstm.io import write_json
    from mtlstm.model import build_model
    from mtlstm.tf_setup import make_deterministic, save_model

    params = load_params(ROOT / "params.yaml")
    table = synthetic_table(200)
    bundle = window.fit(table.iloc[:140], params.features, params.tasks, 4)
    bundle |= {"ingest": schema(params.ingest), "n_rows": len(table)}
    folder = tmp_path_factory.mktemp("small-model")
    make_deterministic(0)
    n_features = len(bundle["feature_names"])
    model = build_model(n_features, 4, bundle["tasks"], [4], 0.0)
    save_model(model, folder / "model.keras")
    write_json(folder / "preprocess.json", bundle)
    return folder


@st.composite
def predict_rows(draw) -> list[tuple[str, str, str, str]]:
    n = draw(st.integers(0, 24))
    start = pd.Timestamp("2024-01-01T00:00:00")
    messy = draw(st.booleans())
    rows = []
    for i in range(n):
        minutes = i * 60 if not messy else draw(st.sampled_from(range(0, 2880, 30)))
        zone = draw(st.sampled_from(ZONES)) if messy else "Z"
        stamp = (start + pd.Timedelta(minutes=minutes)).isoformat() + zone
        values = (NUMBERS, NUMBERS, FLAGS) if messy else (
            st.floats(0, 9000, allow_nan=False).map(repr),
            st.floats(-10, 45, allow_nan=False).map(repr),
            VALID_FLAGS,
        )  # fmt: skip
        rows.append((stamp, *(draw(v) for v in values)))
    return rows


@given(rows=predict_rows(), partial=st.booleans())
def test_any_predict_input_forecasts_or_fails_with_one_line(small_model, rows, partial):
    from mtlstm.cli import main

    text = "Time,Demand,Temperature,Holiday\n" + "".join(
        ",".join(r) + "\n" for r in rows
    )
    with tempfile.TemporaryDirectory() as tmp:
        source, output = Path(tmp) / "in.csv", Path(tmp) / "out.csv"
        source.write_text(text, encoding="utf-8")
        argv = ["predict", "--model", str(small_model / "model.keras")]
        argv += ["--bundle", str(small_model / "preprocess.json")]
        argv += ["--input", str(source), "--output", str(output)]
        argv += ["--allow-partial-last-step"] if partial else []
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
        event(f"predict exit {code}")
        if code != 0:
            assert code == 2, err.getvalue()
            lines = err.getvalue().splitlines()
            assert lines[-1].startswith("error: predict: "), err.getvalue()
            assert not output.exists()
            return
        forecasts = pd.read_csv(output)
        assert len(forecasts) > 0
        demand = forecasts[forecasts["task"] == "demand"]["forecast"]
        assert np.isfinite(demand.astype(float).to_numpy()).all()
        classes = forecasts[forecasts["task"] == "temp_class"]
        probabilities = classes.filter(like="p_").to_numpy()
        assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda b: b.update(lookback=6), r"4 steps x 12 features but .* makes 6 x 12"),
        (
            lambda b: b.update(feature_names=b["feature_names"][:-1]),
            r"4 steps x 12 features but .* makes 4 x 11",
        ),
    ],
)
def test_predict_refuses_the_bundle_of_another_run(
    small_model, tmp_path, change, match
):
    # The bundle of a run with another lookback or other features: exit 2 with
    # what to give instead, not a Keras shape error deep inside predict.
    import json

    from conftest import synthetic_table

    from mtlstm.cli import main

    bundle = json.loads((small_model / "preprocess.json").read_text())
    change(bundle)
    (tmp_path / "other.json").write_text(json.dumps(bundle))
    source = tmp_path / "in.csv"
    synthetic_table(30).rename(columns={"time": "Time"}).to_csv(source, index=False)
    output = tmp_path / "out.csv"
    argv = ["predict", "--model", str(small_model / "model.keras")]
    argv += ["--bundle", str(tmp_path / "other.json")]
    argv += ["--input", str(source), "--output", str(output)]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(argv) == 2, err.getvalue()
    assert "Traceback" not in err.getvalue()
    assert re.search(match, err.getvalue()), err.getvalue()
    assert "give the preprocess.json saved with the model" in err.getvalue()
    assert not output.exists()
