"""Static per-series attributes (features.static, train.static_embedding):
config errors, the attribute table on a hand-built panel, the constancy check,
predict's check, the model's embeddings, and the window stage on a panel."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import (
    ROOT,
    make_project,
    run_stage_cli,
    synthetic_table,
    two_tasks,
    write_params,
)
from test_series import PANEL_CSV, panel_frame, panel_params

from mtlstm import static, window
from mtlstm.config import Features, Train, load_params
from mtlstm.errors import ConfigError, DataError

# --- config -------------------------------------------------------------------


def panel_raw(raw_params: dict) -> dict:
    """The default params on a panel with two categorical columns."""
    raw = panel_params(raw_params)
    raw["ingest"]["columns"] |= {"kind": "categorical", "zone": "categorical"}
    raw["features"]["static"] = ["kind", "zone"]
    return raw


def test_static_columns_parse(tmp_path, raw_params):
    raw = panel_raw(raw_params)
    raw["train"]["static_embedding"] = 3
    params = load_params(write_params(tmp_path, raw))
    assert params.features.static == ["kind", "zone"]
    assert params.train.static_embedding == 3


def test_default_has_no_static_attributes(tmp_path, raw_params):
    params = load_params(write_params(tmp_path, raw_params))
    assert params.features.static == [] and params.train.static_embedding == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda r: r["features"].update(static=["kind", "Colour"]),
            r"features\.static\[1\]: 'Colour' is not declared in ingest\.columns "
            r"\(declared: .*\); declare it there as categorical",
        ),
        (
            lambda r: r["features"].update(static=["Temperature"]),
            r"features\.static\[0\]: 'Temperature' is declared numeric in "
            r"ingest\.columns; a static attribute is a categorical column",
        ),
        (
            lambda r: r["features"].update(static=["Holiday"]),
            r"features\.static\[0\]: 'Holiday' is declared boolean",
        ),
        (
            lambda r: r["features"].update(
                static=["kind"], columns=[*r["features"]["columns"], "kind"]
            ),
            r"features\.static\[0\]: 'kind' is also in features\.columns",
        ),
        (
            lambda r: r["features"].update(static=["kind", "kind"]),
            r"features\.static: a column is listed twice",
        ),
        (
            lambda r: r["ingest"].update(series=[]),
            r"features\.static: static attributes take one value per series, but "
            r"no series are declared; set ingest\.series",
        ),
        (
            lambda r: r["train"].update(static_embedding=-2),
            r"train\.static_embedding: must be >= 0",
        ),
        (
            lambda r: (
                r["features"].update(static=[]),
                r["train"].update(static_embedding=4),
            ),
            r"train\.static_embedding: 4 embeds the static attributes of each "
            r"series, but features\.static lists none",
        ),
    ],
)
def test_config_errors(tmp_path, raw_params, change, message):
    raw = panel_raw(raw_params)
    change(raw)
    with pytest.raises(ConfigError, match=message):
        load_params(write_params(tmp_path, raw))


# --- the attribute table --------------------------------------------------------

NAMES = ["a", "b", "c"]


def hand_panel() -> pd.DataFrame:
    """Three series, the rows not grouped: a (kind x, zone N), b (y, N),
    c (x, S); c starts late (its rows are all after the training range)."""
    series = ["a", "b", "a", "b", "a", "b", "c", "c"]
    kind = {"a": "x", "b": "y", "c": "x"}
    zone = {"a": "N", "b": "N", "c": "S"}
    hours = pd.to_timedelta([0, 0, 1, 1, 2, 2, 2, 3], unit="h")
    return pd.DataFrame(
        {
            "time": pd.Timestamp("2024-01-01", tz="UTC") + hours,
            "series": series,
            "kind": [kind[s] for s in series],
            "zone": [zone[s] for s in series],
        }
    )


TRAIN = np.array([True, True, True, True, False, False, False, False])


def test_table_oracle_on_a_three_series_panel():
    table = hand_panel()
    assert static.fit(table, TRAIN, [], NAMES) == {}  # bundles stay as before
    fitted = static.fit(table, TRAIN, ["kind"], NAMES)
    # Training rows hold x (a) and y (b); c has no training rows, but its x is
    # a trained value, so it gets x's code.
    assert fitted == {
        "static": [{"column": "kind", "categories": ["x", "y"], "codes": [0, 1, 0]}]
    }
    every_row = np.ones(len(table), dtype=bool)
    fitted = static.fit(table, every_row, ["kind", "zone"], NAMES)
    assert fitted["static"][1] == {
        "column": "zone",
        "categories": ["N", "S"],
        "codes": [0, 0, 1],
    }
    json.dumps(fitted)  # JSON-safe: it goes into preprocess.json


def test_value_unseen_in_training_is_refused():
    with pytest.raises(
        DataError,
        match=r"features\.static: series 'c' has zone 'S', which no series holds "
        r"in the training time range \(seen: \['N'\]\), so its embedding could "
        r"not be learned; move split\.train later",
    ):
        static.fit(hand_panel(), TRAIN, ["zone"], NAMES)


def test_a_varying_attribute_names_column_series_values_and_times():
    table = hand_panel()
    table.loc[5, "kind"] = "z"  # b: y at hour 0, z at hour 2
    table.loc[7, "kind"] = "y"  # c varies too
    with pytest.raises(
        DataError,
        match=r"features\.static: column 'kind' is not constant within series "
        r"'b': 'y' at 2024-01-01 00:00:00\+00:00 but 'z' at "
        r"2024-01-01 02:00:00\+00:00 \(2 series vary\); .* or list the column "
        r"in features\.columns",
    ):
        static.fit(table, TRAIN, ["kind"], NAMES)


def test_an_empty_attribute_is_named():
    table = hand_panel()
    table.loc[3, "zone"] = None
    with pytest.raises(
        DataError,
        match=r"column 'zone' is empty in series 'b' at 2024-01-01 01:00:00",
    ):
        static.fit(table, TRAIN, ["zone"], NAMES)


def test_a_series_without_rows_gets_a_valid_code():
    # A backtest fold ends before series c starts (its names are the whole
    # table's): c has no row, so no window to embed. It was refused as
    # "series 'c' has kind None, which no series holds in the training range".
    table = hand_panel()
    before_c = (table["series"] != "c").to_numpy()
    fitted = static.fit(table[before_c], TRAIN[before_c], ["kind", "zone"], NAMES)
    assert fitted == {
        "static": [
            {"column": "kind", "categories": ["x", "y"], "codes": [0, 1, 0]},
            {"column": "zone", "categories": ["N"], "codes": [0, 0, 0]},
        ]
    }


def late_series_panel(depot: str, late_from: int):
    """Three series of 200 rows (north, south, west), series ``depot`` of kind
    'depot' and the others 'shop', south starting at row ``late_from``; the
    params with ``kind`` static and lookback 6; the series names."""
    import dataclasses

    from mtlstm.config import load_params as load

    names = ["north", "south", "west"]
    parts = []
    for i, region in enumerate(names):
        kind = "depot" if region == depot else "shop"
        part = synthetic_table(200, seed=i).assign(kind=kind)
        part.insert(1, "series", region)
        part["segment"] = i
        parts.append(part.iloc[late_from:] if region == "south" else part)
    table = pd.concat(parts, ignore_index=True)
    params = load(ROOT / "params.yaml")
    ingest = params.ingest
    params = dataclasses.replace(
        params,
        ingest=dataclasses.replace(
            ingest, series=["region"], columns={**ingest.columns, "kind": "categorical"}
        ),
        features=dataclasses.replace(params.features, static=["kind"]),
        window=dataclasses.replace(params.window, lookback=6),
    )
    return table, params, names


def test_a_panel_backtest_fold_before_a_series_starts():
    import dataclasses

    from mtlstm import backtest

    table, params, names = late_series_panel(depot="west", late_from=180)
    times = backtest.period_times(table)
    ranges = backtest.fold_ranges(len(times), 0.7, 0.15, 2)
    assert ranges[0]["test"] == (140, 170)  # south starts at step 180
    fold = backtest.prepare_panel_fold(table, params, ranges[0], times, names)
    assert fold["bundle"]["static"] == [
        {"column": "kind", "categories": ["depot", "shop"], "codes": [1, 0, 0]}
    ]
    assert 1 not in fold["codes"]  # no row (so no window) of south in the fold
    last = backtest.prepare_panel_fold(table, params, ranges[1], times, names)
    assert last["bundle"]["static"][0]["codes"] == [1, 1, 0]
    # backtest.mode refit would carry fold 1's codes (south: the placeholder
    # depot) into fold 2: refused, as different feature counts are.
    import runpy

    fold_model = runpy.run_path(str(ROOT / "stages" / "backtest.py"))["fold_model"]
    small = dataclasses.replace(params.train, layers=[2], static_embedding=2)
    params = dataclasses.replace(params, train=small)
    model = fold_model(params, fold, None)
    assert fold_model(params, fold, model) is model  # same codes: warm-started
    with pytest.raises(ConfigError, match=r"static attribute codes differ"):
        fold_model(params, last, model)


def test_a_panel_backtest_fold_refuses_a_value_first_seen_after_its_training_range():
    """A fold fits the static categories on its own training rows: a series
    that starts in the fold's validation period with a value no series holds
    before it is refused, although the fold's rows hold that value. Catches
    prepare_panel_fold fitting static.fit on every row of the fold."""
    from mtlstm import backtest

    table, params, names = late_series_panel(depot="south", late_from=115)
    times = backtest.period_times(table)
    ranges = backtest.fold_ranges(len(times), 0.7, 0.15, 2)
    assert ranges[0]["val"] == (110, 140)  # south (depot) starts at step 115
    with pytest.raises(
        DataError,
        match=r"^features\.static: series 'south' has kind 'depot', which no series "
        r"holds in the training time range \(seen: \['shop'\]\)",
    ):
        backtest.prepare_panel_fold(table, params, ranges[0], times, names)


def test_without_series_is_refused():
    with pytest.raises(DataError, match=r"the table has no series column"):
        static.fit(hand_panel(), TRAIN, ["kind"], None)


def test_predict_input_must_keep_the_trained_attributes():
    table = hand_panel()
    bundle = {"series": {"names": NAMES}, **static.fit(table, TRAIN, ["kind"], NAMES)}
    static.check_input(table, bundle, "new.csv")  # same values: fine
    static.check_input(table[table["series"] != "a"], bundle, "new.csv")  # a subset
    static.check_input(table, {"series": {"names": NAMES}}, "new.csv")  # no static
    changed = table.assign(kind=table["kind"].where(table["series"] != "b", "x"))
    with pytest.raises(
        DataError,
        match=r"new\.csv: series 'b' has kind 'x', but the model was trained with "
        r"'y' for it",
    ):
        static.check_input(changed, bundle, "new.csv")
    with pytest.raises(DataError, match=r"lacks the static attribute column 'kind'"):
        static.check_input(table.drop(columns="kind"), bundle, "new.csv")


# --- the model ----------------------------------------------------------------

TASKS = two_tasks([1, 2])
FEATURES = Features(
    columns=["Demand", "Temperature", "Holiday"], calendar=[], timezone="UTC"
)


def _cfg(**kw) -> Train:
    base = {
        "loss_weights": {"demand": 1.0, "temp_class": 1.0},
        "layers": [4],
        "epochs": 1,
        "batch_size": 8,
    }
    return Train(**{**base, **kw})


def tiny_panel_bundle():
    """72 rows as three series of 24 (codes 0, 1, 2), with two static
    attributes: kind x, y, x and zone N, S, T."""
    table = synthetic_table(72)
    bundle = window.fit(table, FEATURES, TASKS, 6)
    table["series"] = np.repeat(NAMES, 24)
    table["kind"] = np.repeat(["x", "y", "x"], 24)
    table["zone"] = np.repeat(["N", "S", "T"], 24)
    bundle |= {"n_rows": 72, "series": {"names": NAMES, "scaling": "global"}}
    bundle |= static.fit(table, np.ones(72, bool), ["kind", "zone"], NAMES)
    codes = np.repeat(np.array([0, 1, 2], np.int32), 24)
    return table, bundle, codes


def test_model_has_one_embedding_per_attribute_and_trains(tmp_path):
    import keras

    from mtlstm.dataset import input_names, make_dataset, make_input_dataset
    from mtlstm.model import SeriesLookup, embeds_series, make_model
    from mtlstm.tf_setup import load_model, save_model

    table, bundle, codes = tiny_panel_bundle()
    scaled = window.transform(table, bundle)
    cfg = _cfg(static_embedding=3)
    assert embeds_series(cfg) and not embeds_series(_cfg())
    model = make_model(cfg, bundle, scaled.shape[1])
    assert input_names(model) == ["features", "series"]
    embeddings = [
        layer for layer in model.layers if isinstance(layer, keras.layers.Embedding)
    ]
    assert [(e.name, e.input_dim, e.output_dim) for e in embeddings] == [
        ("static_0_kind", 2, 3),
        ("static_1_zone", 3, 3),
    ]
    lookups = [layer for layer in model.layers if isinstance(layer, SeriesLookup)]
    assert [layer.codes for layer in lookups] == [[0, 1, 0], [0, 1, 2]]
    # The trunk's 4 units, then 3 + 3 embedded dimensions.
    assert model.get_layer("trunk_and_known").output.shape[-1] == 10

    ends = window.window_ends(np.repeat([0, 1, 2], 24), 6, 2)
    targets = window.targets(table, bundle)
    ds = make_dataset(scaled, targets, ends, bundle, 8, shuffle_seed=0, series=codes)
    before = [w.copy() for w in embeddings[1].get_weights()]
    history = model.fit(ds, steps_per_epoch=-(-len(ends) // 8), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.allclose(before[0], embeddings[1].get_weights()[0])

    # Saved and loaded in safe mode: the table travels with the model.
    save_model(model, tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras", list(TASKS))
    batch = next(iter(make_input_dataset(scaled, ends[:5], bundle, 5, codes)))
    np.testing.assert_allclose(
        loaded.predict(batch, verbose=0)["demand"],
        model.predict(batch, verbose=0)["demand"],
        rtol=1e-6,
    )


def test_lookup_reads_the_table_by_series_code():
    from mtlstm.model import SeriesLookup

    out = SeriesLookup([2, 0, 1])(np.array([1, 2, 0, 0], np.int32))
    assert np.asarray(out).tolist() == [0, 1, 2, 2]


def test_static_and_series_embeddings_side_by_side():
    from mtlstm.model import make_model

    _, bundle, _ = tiny_panel_bundle()
    model = make_model(_cfg(static_embedding=2, series_embedding=5), bundle, 3)
    assert model.get_layer("series_embedding").input_dim == 3
    assert model.get_layer("trunk_and_known").output.shape[-1] == 4 + 5 + 2 + 2


def test_static_embedding_needs_static_attributes_in_the_bundle():
    from mtlstm.model import make_model

    _, bundle, _ = tiny_panel_bundle()
    del bundle["static"]
    with pytest.raises(
        ConfigError,
        match=r"train\.static_embedding: > 0 embeds each series' static "
        r"attributes, but data/windows/preprocess\.json holds none",
    ):
        make_model(_cfg(static_embedding=2), bundle, 3)
    # 0: declared attributes stay unused, the model is the plain one.
    _, bundle, _ = tiny_panel_bundle()
    assert [t.name for t in make_model(_cfg(), bundle, 3).inputs] == ["features"]


# --- the window stage on a panel -------------------------------------------------

KIND = {"north": "city", "south": "rural", "west": "city"}
PREDICT_ARGS = ["--input", "new.csv", "--output", "out.csv"]


def static_panel(tmp_path, raw_params, frame):
    raw = panel_raw(raw_params)
    raw["features"]["static"] = ["kind"]
    del raw["ingest"]["columns"]["zone"]
    project = make_project(tmp_path, raw)
    frame.to_csv(project / PANEL_CSV, index=False)
    assert run_stage_cli("ingest", project).returncode == 0
    return project, run_stage_cli("window", project)


def test_window_stage_writes_the_table_and_no_per_step_input(tmp_path, raw_params):
    frame = panel_frame().assign(kind=lambda f: f["region"].map(KIND))
    project, proc = static_panel(tmp_path, raw_params, frame)
    assert proc.returncode == 0, proc.stderr
    folder = project / "data" / "windows"
    bundle = json.loads((folder / "preprocess.json").read_text())
    assert bundle["series"]["names"] == ["north", "south", "west"]
    assert bundle["static"] == [
        {"column": "kind", "categories": ["city", "rural"], "codes": [0, 1, 0]}
    ]
    assert not any("kind" in name for name in bundle["feature_names"])
    assert np.load(folder / "scaled.npy").shape[1] == len(bundle["feature_names"])


def test_window_stage_refuses_a_varying_attribute(tmp_path, raw_params):
    frame = panel_frame(shuffle=False).assign(kind=lambda f: f["region"].map(KIND))
    frame.loc[
        (frame["region"] == "south") & (frame["Time"] >= "2024-03-04"), "kind"
    ] = "city"
    assert_window_stage_refuses(
        tmp_path,
        raw_params,
        frame,
        "features.static: column 'kind' is not constant within series 'south': "
        "'rural' at 2024-03-01 00:00:00+00:00 but 'city' at 2024-03-04 00:00:00+00:00",
    )


def assert_window_stage_refuses(tmp_path, raw_params, frame, message: str) -> None:
    """The window stage on ``frame`` fails with ``message`` and writes no bundle."""
    project, proc = static_panel(tmp_path, raw_params, frame)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert not (project / "data" / "windows" / "preprocess.json").exists()


def test_window_stage_refuses_a_static_value_first_seen_after_training(
    tmp_path, raw_params
):
    """The stage hands static.fit the training time range's rows only: west
    starts after it (hour 90 of 120; training: the first 84 hours) with a
    kind no series holds in it. Catches the stage fitting the static
    categories on every row."""
    frame = panel_frame().assign(
        kind=lambda f: f["region"].map({"north": "city", "south": "rural"})
    )
    west = frame["region"] == "west"
    frame.loc[west, "kind"] = "depot"
    frame = frame[~west | (frame["Time"] >= "2024-03-04T18:00:00Z")]
    assert_window_stage_refuses(
        tmp_path,
        raw_params,
        frame,
        "features.static: series 'west' has kind 'depot', which no series holds in "
        "the training time range (seen: ['city', 'rural'])",
    )


def test_train_and_predict_use_the_stored_codes(tmp_path, raw_params):
    import subprocess
    import sys

    frame = panel_frame(rows=150).assign(kind=lambda f: f["region"].map(KIND))
    raw = panel_raw(raw_params)
    raw["features"]["static"] = ["kind"]
    del raw["ingest"]["columns"]["zone"]
    raw["train"].update(layers=[4], epochs=1, batch_size=64, static_embedding=2)
    project = make_project(tmp_path, raw)
    frame.to_csv(project / PANEL_CSV, index=False)
    for stage in ("ingest", "window", "split", "train"):
        proc = run_stage_cli(stage, project)
        assert proc.returncode == 0, (stage, proc.stderr)
    saved = json.loads((project / "models" / "preprocess.json").read_text())
    assert saved["static"][0]["codes"] == [0, 1, 0]

    def predict(new: pd.DataFrame) -> subprocess.CompletedProcess:
        new.to_csv(project / "new.csv", index=False)
        return subprocess.run(
            [sys.executable, "-m", "mtlstm.cli", "predict", "--force", *PREDICT_ARGS],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=300,
        )

    new = frame[frame["Time"] >= "2024-03-06T12:00:00Z"]
    proc = predict(new)
    assert proc.returncode == 0, proc.stderr
    assert set(pd.read_csv(project / "out.csv")["series"]) == set(KIND)
    proc = predict(new.assign(kind="city"))  # south was rural in training
    assert proc.returncode == 2
    assert "series 'south' has kind 'city', but the model was trained with 'rural'" in (
        proc.stderr
    )
