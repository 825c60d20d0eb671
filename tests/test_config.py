"""params.yaml schema: every invalid value fails with a ConfigError naming its key."""

from __future__ import annotations

import dataclasses
import math
import re

import pytest
from conftest import ROOT, write_params

from mtlstm.config import (
    Features,
    Ingest,
    Params,
    Split,
    Task,
    Train,
    Window,
    load_params,
    problems_of,
)
from mtlstm.errors import ConfigError, MtlstmError


def load(tmp_path, raw):
    return load_params(write_params(tmp_path, raw))


def test_default_params_yaml_parses():
    params = load_params(ROOT / "params.yaml")
    assert isinstance(params, Params)
    assert params.ingest.source == "vic_elec"
    assert params.ingest.columns == {
        "Demand": "numeric",
        "Temperature": "numeric",
        "Holiday": "boolean",
    }
    assert params.features.columns == ["Demand", "Temperature", "Holiday"]
    assert params.tasks == {
        "demand": Task(
            type="regression",
            target="Demand",
            horizon=1,
            unit="MWh per 30 min",
            predict_change=True,
        ),
        "temp_class": Task(
            type="classification",
            target="Temperature",
            horizon=1,
            bins=[15.0, 25.0],
            classes=["cold", "mild", "hot"],
            unit="class of deg C",
        ),
    }
    assert params.window == Window(lookback=24)
    assert params.split == Split(train=0.7, val=0.15)
    assert params.train.loss_weights == {"demand": 1.0, "temp_class": 0.1}
    assert params.train.selection == "task_ratio"
    assert params.train.learning_rate == 0.004
    assert params.train.loss_balancing == "uncertainty"
    assert (params.train.epochs, params.train.patience) == (40, 5)
    assert params.base.seed == 42


def test_round_trip_through_tmp_file_is_identical(tmp_path, raw_params):
    assert load(tmp_path, raw_params) == load_params(ROOT / "params.yaml")


def test_params_are_frozen(tmp_path, raw_params):
    params = load(tmp_path, raw_params)
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.window.lookback = 3


def test_ints_become_floats_where_floats_are_expected(tmp_path, raw_params):
    raw_params["train"]["learning_rate"] = 1
    raw_params["tasks"]["temp_class"]["bins"] = [15, 25]
    params = load(tmp_path, raw_params)
    assert params.train.learning_rate == 1.0
    assert isinstance(params.train.learning_rate, float)
    assert all(isinstance(b, float) for b in params.tasks["temp_class"].bins)


@pytest.mark.parametrize(
    ("section", "key", "where"),
    [
        ("train", "learning_rate", r"train\.learning_rate"),
        ("split", "val", r"split\.val"),
    ],
)
def test_an_integer_too_large_for_a_float_is_refused(
    tmp_path, raw_params, section, key, where
):
    # float(10**400) raised OverflowError: an internal error in every stage.
    raw_params[section][key] = 10**400
    with pytest.raises(
        ConfigError,
        match=rf"{where}: expected a number, got 1000+\.\.\.0+, an integer too "
        r"large for a float \(about 1\.8e308 at most\)$",
    ):
        load(tmp_path, raw_params)


def test_omitted_optional_sections_take_defaults(tmp_path, raw_params):
    for section in ("base", "window", "split", "evaluate"):
        del raw_params[section]
    params = load(tmp_path, raw_params)
    assert params.window.lookback == Window().lookback
    assert params.split == Split()


# --- file-level problems -----------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: file not found"):
        load_params(tmp_path / "nope.yaml")


def test_invalid_yaml(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("ingest: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"params\.yaml: not valid YAML"):
        load_params(path)


def test_non_utf8_bytes_name_the_file_line_and_column(tmp_path):
    # A file saved as Latin-1: UTF-8 but for one accented letter in a comment.
    path = tmp_path / "params.yaml"
    path.write_bytes("base:\n  seed: 1  # für\n".encode() + b"  # caf\xe9\n")
    with pytest.raises(
        ConfigError,
        match=r"^\S*params\.yaml: not UTF-8 text: line 3, column 8: byte 0xe9 "
        r"\(invalid continuation byte\); save the file as UTF-8$",
    ):
        load_params(path)


def test_empty_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("", encoding="utf-8")
    with pytest.raises(
        ConfigError,
        match=r"top level: expected a mapping, got None \(the file is empty or "
        r"holds only comments\)$",
    ):
        load_params(path)


# A key with nothing after it reads as null: backtest: with its example
# entries commented out (as params.yaml shows them) is not an empty mapping.
@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "backtest: {}",
            "backtest:\n#  rolling3:\n#    folds: 3",
            r"^\S*params\.yaml: backtest: expected a mapping, got None \(a key with "
            r"nothing after it reads as null\); write \{\} to leave it empty$",
        ),
        (
            "series: []",
            "series:",
            r"ingest\.series: expected a list, got None \(a key with nothing after "
            r"it reads as null\); write \[\] to leave it empty$",
        ),
        (
            "lookback: 24",
            "lookback:",
            r"window\.lookback: expected an integer, got None \(a key with nothing "
            r"after it reads as null\); give it a value$",
        ),
    ],
)
def test_a_key_with_nothing_after_it_says_how_to_write_it(tmp_path, old, new, message):
    path, _ = write_yaml(tmp_path, (old, new))
    with pytest.raises(ConfigError, match=message):
        load_params(path)


def test_config_error_is_an_mtlstm_error():
    assert issubclass(ConfigError, MtlstmError)


# --- unknown and missing keys ------------------------------------------------


def test_unknown_top_level_key(tmp_path, raw_params):
    raw_params["trian"] = {"epochs": 3}
    with pytest.raises(ConfigError, match=r"unknown key\(s\) trian; allowed: ingest"):
        load(tmp_path, raw_params)


def test_unknown_nested_key(tmp_path, raw_params):
    raw_params["train"]["lerning_rate"] = 0.01
    with pytest.raises(ConfigError, match=r"train: unknown key\(s\) lerning_rate;"):
        load(tmp_path, raw_params)


def test_unknown_keys_that_would_not_show_are_quoted(tmp_path, raw_params):
    # Printed on one line, a key "\n" or "" showed as nothing at all:
    # "train: unknown key(s) ; allowed: ...".
    for key in ("\n", "", " lr", "lerning_rate"):
        raw_params["train"][key] = 1
    with pytest.raises(
        ConfigError,
        match=r"train: unknown key\(s\) '', '\\n', ' lr', lerning_rate; allowed: ",
    ):
        load(tmp_path, raw_params)


def test_unknown_key_inside_a_task(tmp_path, raw_params):
    raw_params["tasks"]["demand"]["horizn"] = 2
    with pytest.raises(ConfigError, match=r"tasks\.demand: unknown key\(s\) horizn"):
        load(tmp_path, raw_params)


def test_error_message_names_the_file(tmp_path, raw_params):
    raw_params["window"]["lookbak"] = 3
    path = write_params(tmp_path, raw_params)
    with pytest.raises(ConfigError, match=re.escape(f"{path}: window: unknown key")):
        load_params(path)


@pytest.mark.parametrize(
    ("section", "key", "name"),
    [(None, "ingest", "ingest"), ("train", "loss_weights", "train.loss_weights")],
)
def test_missing_required_key(tmp_path, raw_params, section, key, name):
    del (raw_params if section is None else raw_params[section])[key]
    with pytest.raises(
        ConfigError, match=rf"{re.escape(name)}: required key is missing"
    ):
        load(tmp_path, raw_params)


def test_missing_task_target(tmp_path, raw_params):
    del raw_params["tasks"]["demand"]["target"]
    with pytest.raises(ConfigError, match=r"tasks\.demand\.target: required key"):
        load(tmp_path, raw_params)


# --- wrong types -------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ("window", "lookback"),
            "24",
            r"window\.lookback: expected an integer, got '24'",
        ),
        (
            ("window", "lookback"),
            True,
            r"window\.lookback: expected an integer, got True",
        ),
        (
            ("window", "lookback"),
            24.5,
            r"window\.lookback: expected an integer, got 24.5",
        ),
        (
            ("tasks", "demand", "horizon"),
            "yes",
            r"tasks\.demand\.horizon: expected an ",
        ),
        (("base", "seed"), False, r"base\.seed: expected an integer, got False"),
        (("train", "dropout"), True, r"train\.dropout: expected a number, got True"),
        # PyYAML reads 1e-3 (no dot) as a string: it must not pass silently.
        (
            ("train", "learning_rate"),
            "1e-3",
            r"train\.learning_rate: expected a number",
        ),
        (("ingest", "source"), 5, r"ingest\.source: expected a string, got 5"),
        (("train", "layers"), 64, r"train\.layers: expected a list, got 64"),
        (("train", "layers"), [64, "32"], r"train\.layers\[1\]: expected an integer"),
        (("ingest", "columns"), ["Demand"], r"ingest\.columns: expected a mapping"),
        (("tasks", "demand"), "regression", r"tasks\.demand: expected a mapping"),
        (
            ("train", "metrics"),
            {"demand": "mae"},
            r"train\.metrics\.demand: expected a",
        ),
        (("ingest", "columns", "Demand"), "float", r"ingest\.columns\.Demand: 'float'"),
        (("ingest", "long_gaps"), "skip", r"ingest\.long_gaps: 'skip' is not one of"),
        (
            ("window", "scaler"),
            "minmax",
            r"window\.scaler: 'minmax' is not one of 'standard', 'robust'",
        ),
        (("features", "calendar"), ["hour"], r"features\.calendar\[0\]: 'hour' is not"),
    ],
)
def test_wrong_type_names_the_key(tmp_path, raw_params, path, value, message):
    *parents, leaf = path
    node = raw_params
    for p in parents:
        node = node[p]
    node[leaf] = value
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, raw_params)


@pytest.mark.parametrize(
    ("line", "written", "example"),
    [
        ("learning_rate: 0.004", "learning_rate: 1e-3", "0.001"),
        ("learning_rate: 0.004", "learning_rate: 1e-10", "1.0e-10"),
        ("epochs: 40", "epochs: 1e3", "1000"),
        ("season: 24", "season: '24'", "24"),
    ],
)
def test_number_read_as_text_says_how_to_write_it(
    tmp_path, raw_params, line, written, example
):
    # PyYAML reads 1e-3 (no dot) as text, DVC as a number: the message said
    # only "expected a number, got '1e-3'"; it now gives a spelling that reads.
    path = write_params(tmp_path, raw_params)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(line, written), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"read as text .* e\.g\. {example}$"):
        load_params(path)
    key = written.split(":")[0]
    path.write_text(text.replace(line, f"{key}: {example}"), encoding="utf-8")
    load_params(path)  # the suggestion is valid


def test_yaml_yes_is_a_bool_not_an_int(tmp_path, raw_params):
    path = write_params(tmp_path, raw_params)
    text = path.read_text(encoding="utf-8").replace("lookback: 24", "lookback: yes")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"window\.lookback: expected an integer"):
        load_params(path)


def test_unknown_task_type(tmp_path, raw_params):
    raw_params["tasks"]["demand"]["type"] = "forecast"
    with pytest.raises(
        ConfigError,
        match=r"tasks\.demand\.type: 'forecast' is not one of 'regression', "
        r"'classification'",
    ):
        load(tmp_path, raw_params)


# --- tasks -------------------------------------------------------------------


@pytest.mark.parametrize("horizon", [0, -1])
def test_horizon_must_be_positive(tmp_path, raw_params, horizon):
    raw_params["tasks"]["temp_class"]["horizon"] = horizon
    with pytest.raises(
        ConfigError, match=rf"tasks\.temp_class\.horizon: must be >= 1, got {horizon}"
    ):
        load(tmp_path, raw_params)


def test_season_shorter_than_a_regression_horizon_is_refused(tmp_path, raw_params):
    raw_params["tasks"]["demand"]["horizon"] = 48
    with pytest.raises(
        ConfigError,
        match=r"baselines\.season: 24 steps is shorter than the longest regression "
        r"horizon \(48\)",
    ):
        load(tmp_path, raw_params)


def test_a_classification_horizon_does_not_bound_the_season(tmp_path, raw_params):
    # seasonal naive forecasts regression tasks only
    raw_params["tasks"]["temp_class"]["horizon"] = 48
    assert load(tmp_path, raw_params).tasks["temp_class"].horizon == 48


def test_bins_and_classes_count_mismatch(tmp_path, raw_params):
    raw_params["tasks"]["temp_class"]["classes"] = ["cold", "warm"]
    with pytest.raises(
        ConfigError,
        match=r"tasks\.temp_class\.bins: 2 edge\(s\) make 3 classes but 2 labels",
    ):
        load(tmp_path, raw_params)


def test_numeric_classification_without_bins_asks_for_bins(tmp_path, raw_params):
    # Not "0 edge(s) make 1 classes": the key to add, and an example for the
    # classes listed.
    del raw_params["tasks"]["temp_class"]["bins"]
    with pytest.raises(
        ConfigError,
        match=r"tasks\.temp_class\.bins: the target 'Temperature' is numeric, so "
        r"its 3 classes need bins, the 2 increasing value\(s\) .*e\.g\. bins: "
        r"\[10, 20\] makes 'cold' below 10, 'mild' from 10 to below 20, 'hot' "
        r"from 20 up",
    ):
        load(tmp_path, raw_params)


def test_an_empty_bins_list_still_counts_edges(tmp_path, raw_params):
    raw_params["tasks"]["temp_class"]["bins"] = []
    with pytest.raises(ConfigError, match=r"tasks\.temp_class\.bins: 0 edge\(s\)"):
        load(tmp_path, raw_params)


@pytest.mark.parametrize("bins", [[25, 15], [15, 15], [15, float("inf")]])
def test_bins_must_be_finite_and_increasing(tmp_path, raw_params, bins):
    raw_params["tasks"]["temp_class"]["bins"] = bins
    with pytest.raises(ConfigError, match=r"tasks\.temp_class\.bins: edges must be"):
        load(tmp_path, raw_params)


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        (["only"], r"tasks\.temp_class\.classes: list at least two"),
        (None, r"tasks\.temp_class\.classes: list at least two"),
        (["a", "b", "a"], r"tasks\.temp_class\.classes: a label is listed twice"),
    ],
)
def test_classes_must_be_two_or_more_distinct(tmp_path, raw_params, classes, message):
    raw_params["tasks"]["temp_class"]["classes"] = classes
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, raw_params)


def test_regression_task_rejects_bins(tmp_path, raw_params):
    raw_params["tasks"]["demand"]["bins"] = [1.0]
    with pytest.raises(ConfigError, match=r"tasks\.demand: bins/classes are only for"):
        load(tmp_path, raw_params)


def test_regression_target_must_be_numeric(tmp_path, raw_params):
    raw_params["tasks"]["demand"]["target"] = "Holiday"
    with pytest.raises(ConfigError, match=r"tasks\.demand\.target: regression needs"):
        load(tmp_path, raw_params)


def test_boolean_column_cannot_be_a_classification_target(tmp_path, raw_params):
    raw_params["tasks"]["temp_class"]["target"] = "Holiday"
    raw_params["tasks"]["temp_class"]["bins"] = None
    raw_params["tasks"]["temp_class"]["classes"] = ["no", "yes"]
    with pytest.raises(
        ConfigError, match=r"tasks\.temp_class\.target: a boolean column cannot be"
    ):
        load(tmp_path, raw_params)


def test_categorical_target_takes_classes_only(tmp_path, raw_params):
    raw_params["ingest"]["columns"]["Weather"] = "categorical"
    raw_params["tasks"]["temp_class"]["target"] = "Weather"
    with pytest.raises(ConfigError, match=r"tasks\.temp_class\.bins: a categorical"):
        load(tmp_path, raw_params)
    raw_params["tasks"]["temp_class"]["bins"] = None
    params = load(tmp_path, raw_params)
    assert params.tasks["temp_class"].bins is None


def test_task_target_must_be_declared(tmp_path, raw_params):
    raw_params["tasks"]["demand"]["target"] = "Load"
    with pytest.raises(
        ConfigError, match=r"tasks\.demand\.target: 'Load' is not declared in ingest"
    ):
        load(tmp_path, raw_params)


@pytest.mark.parametrize("name", ["2demand", "demand-1", "dem and"])
def test_task_name_must_be_an_identifier(tmp_path, raw_params, name):
    raw_params["tasks"][name] = raw_params["tasks"].pop("demand")
    raw_params["train"]["loss_weights"][name] = raw_params["train"]["loss_weights"].pop(
        "demand"
    )
    with pytest.raises(ConfigError, match=rf"tasks\.{re.escape(name)}: task names"):
        load(tmp_path, raw_params)


def test_no_tasks(tmp_path, raw_params):
    raw_params["tasks"] = {}
    raw_params["train"]["loss_weights"] = {}
    with pytest.raises(ConfigError, match="tasks: declare at least one task"):
        load(tmp_path, raw_params)


# --- train.loss_weights ------------------------------------------------------


def test_loss_weights_missing_task(tmp_path, raw_params):
    del raw_params["train"]["loss_weights"]["temp_class"]
    with pytest.raises(
        ConfigError,
        match=r"train\.loss_weights: keys must equal the task names \(demand, "
        r"temp_class\); missing: \['temp_class'\], unknown: none",
    ):
        load(tmp_path, raw_params)


def test_loss_weights_unknown_and_missing_task(tmp_path, raw_params):
    raw_params["train"]["loss_weights"]["tmp_class"] = raw_params["train"][
        "loss_weights"
    ].pop("temp_class")
    with pytest.raises(
        ConfigError,
        match=r"train\.loss_weights: .*missing: \['temp_class'\], "
        r"unknown: \['tmp_class'\]",
    ):
        load(tmp_path, raw_params)


@pytest.mark.parametrize("weight", [-0.5, float("nan"), float("inf")])
def test_loss_weight_must_be_finite_and_non_negative(tmp_path, raw_params, weight):
    raw_params["train"]["loss_weights"]["demand"] = weight
    with pytest.raises(
        ConfigError, match=r"train\.loss_weights\.demand: must be finite and >= 0"
    ):
        load(tmp_path, raw_params)


def test_all_loss_weights_zero_is_refused(tmp_path, raw_params):
    raw_params["train"]["loss_weights"] = {"demand": 0.0, "temp_class": 0}
    with pytest.raises(
        ConfigError,
        match=r"train\.loss_weights: every weight is 0, so no loss would train the "
        r"model; give at least one task a weight > 0",
    ):
        load(tmp_path, raw_params)


def test_zero_loss_weight_is_allowed(tmp_path, raw_params):
    raw_params["train"]["loss_weights"]["demand"] = 0
    assert load(tmp_path, raw_params).train.loss_weights["demand"] == 0.0


@pytest.mark.parametrize("weighting", ["none", "balanced"])
@pytest.mark.parametrize("section", ["losses", "metrics"])
def test_losses_and_metrics_name_existing_tasks(
    tmp_path, raw_params, section, weighting
):
    # With class weights the class-loss check reads train.losses too: an
    # unknown name there must still be this error, not a crash.
    raw_params["train"]["class_weighting"] = weighting
    raw_params["train"][section] = {"demnd": "mse" if section == "losses" else ["mae"]}
    with pytest.raises(
        ConfigError, match=rf"train\.{section}\.demnd: no task has this name"
    ):
        load(tmp_path, raw_params)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("layers", [], r"train\.layers: list one or more"),
        ("layers", [64, 0], r"train\.layers: list one or more"),
        ("dropout", 1.0, r"train\.dropout: must be in \[0, 1\), got 1.0"),
        ("dropout", -0.1, r"train\.dropout: must be in \[0, 1\)"),
        ("batch_size", 0, r"train\.batch_size: must be >= 1"),
        ("epochs", 0, r"train\.epochs: must be >= 1"),
        ("learning_rate", 0.0, r"train\.learning_rate: must be a finite number > 0"),
        # YAML's .nan and .inf: both passed `<= 0`, and train saved a NaN model.
        ("learning_rate", math.nan, r"train\.learning_rate: must be a finite .* nan"),
        ("learning_rate", math.inf, r"train\.learning_rate: must be a finite .* inf"),
        ("patience", -1, r"train\.patience: must be >= 0, got -1"),
        ("head_units", -1, r"train\.head_units: must be >= 0 \(0: no task-specific"),
        ("head_units", 8.5, r"train\.head_units: expected an integer, got 8\.5"),
        ("head_units", True, r"train\.head_units: expected an integer, got True"),
        ("task_lstm", -1, r"train\.task_lstm: must be >= 0 \(0: no task-specific LSTM"),
        ("task_lstm", 4.5, r"train\.task_lstm: expected an integer, got 4\.5"),
        (
            "lr_schedule",
            "cosin",
            r"train\.lr_schedule: 'cosin' is not one of 'constant', 'cosine'",
        ),
        (
            "selection",
            "per_task",
            r"train\.selection: 'per_task' is not one of 'total', 'task_ratio'",
        ),
    ],
)
def test_train_numbers(tmp_path, raw_params, key, value, message):
    raw_params["train"][key] = value
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, raw_params)


def test_head_units_and_selection_default_to_todays_model(tmp_path, raw_params):
    for key in ("head_units", "task_lstm", "selection", "lr_schedule"):
        raw_params["train"].pop(key, None)
    train = load(tmp_path, raw_params).train
    assert (train.head_units, train.task_lstm, train.selection) == (0, 0, "total")
    assert train.lr_schedule == "constant"


def test_head_units_and_selection_are_read(tmp_path, raw_params):
    raw_params["train"].update(head_units=16, task_lstm=8, selection="task_ratio")
    train = load(tmp_path, raw_params).train
    assert (train.head_units, train.task_lstm, train.selection) == (
        16,
        8,
        "task_ratio",
    )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "class_weighting",
            "balancd",
            r"train\.class_weighting: 'balancd' is not one of 'none', 'balanced'",
        ),
        ("class_weighting", True, r"train\.class_weighting: True is not one of"),
        ("focal_gamma", -0.5, r"train\.focal_gamma: must be in \[0, 10\] \(0: plain"),
        ("focal_gamma", 10.5, r"train\.focal_gamma: must be in \[0, 10\].*got 10\.5"),
        ("focal_gamma", float("nan"), r"train\.focal_gamma: must be in \[0, 10\]"),
        ("focal_gamma", "2", r"train\.focal_gamma: expected a number, got '2'"),
        ("focal_gamma", True, r"train\.focal_gamma: expected a number, got True"),
    ],
)
def test_class_loss_values(tmp_path, raw_params, key, value, message):
    raw_params["train"][key] = value
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, raw_params)


@pytest.mark.parametrize(
    "setting", [{"class_weighting": "balanced"}, {"focal_gamma": 2.0}]
)
def test_class_loss_options_exclude_a_custom_classification_loss(
    tmp_path, raw_params, setting
):
    raw_params["train"].update(setting, losses={"temp_class": "categorical_hinge"})
    with pytest.raises(
        ConfigError,
        match=r"train\.losses\.temp_class: a classification task takes its loss "
        r"from train\.class_weighting and train\.focal_gamma",
    ):
        load(tmp_path, raw_params)


def test_class_loss_options_keep_a_custom_regression_loss(tmp_path, raw_params):
    raw_params["train"].update(
        class_weighting="balanced", focal_gamma=2, losses={"demand": "mae"}
    )
    train = load(tmp_path, raw_params).train
    assert (train.class_weighting, train.focal_gamma) == ("balanced", 2.0)
    assert train.losses == {"demand": "mae"}


def test_class_loss_options_default_to_plain_cross_entropy(tmp_path, raw_params):
    for key in ("class_weighting", "focal_gamma"):
        raw_params["train"].pop(key, None)
    raw_params["train"]["losses"] = {"temp_class": "categorical_hinge"}
    train = load(tmp_path, raw_params).train
    assert (train.class_weighting, train.focal_gamma) == ("none", 0.0)


# --- window, split, evaluate -------------------------------------------------


@pytest.mark.parametrize("lookback", [10**20, 1_000_001])
def test_an_absurdly_long_lookback_is_refused(tmp_path, raw_params, lookback):
    """A lookback past int64 row arithmetic failed in the window stage as an
    internal error (a bare ValueError); refused here, as horizons are."""
    raw_params["window"]["lookback"] = lookback
    with pytest.raises(ConfigError, match=r"window\.lookback: at most 1,000,000 "):
        load(tmp_path, raw_params)
    raw_params["window"]["lookback"] = 1_000_000  # the cap itself is allowed
    assert load(tmp_path, raw_params).window.lookback == 1_000_000


@pytest.mark.parametrize("lookback", [0, -3])
def test_lookback_must_be_positive(tmp_path, raw_params, lookback):
    raw_params["window"]["lookback"] = lookback
    with pytest.raises(
        ConfigError, match=rf"window\.lookback: must be >= 1, got {lookback}"
    ):
        load(tmp_path, raw_params)


@pytest.mark.parametrize(
    ("train", "val"),
    [
        (0.85, 0.15),  # train + val == 1: the test split would be empty
        (0.7, 0.3),
        (0.5, 0.5),
        (0.9, 0.2),
        (0.0, 0.5),
        (0.7, 0.0),
        (1.0, 0.1),
        (-0.1, 0.5),
        (float("nan"), 0.1),
    ],
)
def test_split_fractions_leave_every_split_non_empty(tmp_path, raw_params, train, val):
    raw_params["split"] = {"train": train, "val": val}
    with pytest.raises(
        ConfigError, match=r"split: need 0 < train, 0 < val and train \+ val < 1"
    ):
        load(tmp_path, raw_params)


@pytest.mark.parametrize("key", ["plot_points", "batch_size"])
def test_evaluate_numbers(tmp_path, raw_params, key):
    raw_params["evaluate"][key] = 0
    with pytest.raises(ConfigError, match="evaluate: plot_points and batch_size"):
        load(tmp_path, raw_params)


@pytest.mark.parametrize("samples", [0, 99])
def test_evaluate_bootstrap_samples(tmp_path, raw_params, samples):
    raw_params["evaluate"]["bootstrap_samples"] = samples
    with pytest.raises(
        ConfigError,
        match=rf"evaluate.bootstrap_samples: must be >= 100 .*, got {samples}$",
    ):
        load(tmp_path, raw_params)
    raw_params["evaluate"]["bootstrap_samples"] = 100
    assert load(tmp_path, raw_params).evaluate.bootstrap_samples == 100


# --- features and ingest -----------------------------------------------------


def test_feature_column_must_be_an_ingest_column(tmp_path, raw_params):
    raw_params["features"]["columns"] = ["Demand", "Humidity"]
    with pytest.raises(
        ConfigError,
        match=r"features\.columns\[1\]: 'Humidity' is not declared in ingest\.columns "
        r"\(declared: Demand, Temperature, Holiday\)",
    ):
        load(tmp_path, raw_params)


def test_feature_column_listed_twice(tmp_path, raw_params):
    raw_params["features"]["columns"] = ["Demand", "Demand"]
    with pytest.raises(
        ConfigError, match=r"features\.columns: a column is listed twice"
    ):
        load(tmp_path, raw_params)


def test_series_embedding_needs_ingest_series(tmp_path, raw_params):
    # Was accepted: only the train stage refused it, after four stages ran.
    raw_params["train"]["series_embedding"] = 4
    with pytest.raises(
        ConfigError,
        match=r"train\.series_embedding: 4 embeds .* no series are declared; set "
        r"ingest\.series",
    ):
        load(tmp_path, raw_params)
    raw_params["ingest"]["series"] = ["store"]
    raw_params["ingest"]["columns"]["store"] = "categorical"
    assert load(tmp_path, raw_params).train.series_embedding == 4


def test_calendar_feature_listed_twice(tmp_path, raw_params):
    # Was accepted: the window stage fed hour_of_day's sin/cos pair twice.
    raw_params["features"]["calendar"] = ["hour_of_day", "day_of_week", "hour_of_day"]
    with pytest.raises(
        ConfigError, match=r"features\.calendar: a calendar feature is listed twice"
    ):
        load(tmp_path, raw_params)


def test_features_cannot_be_empty(tmp_path, raw_params):
    raw_params["features"]["columns"] = []
    raw_params["features"]["calendar"] = []
    with pytest.raises(ConfigError, match="features: declare at least one column"):
        load(tmp_path, raw_params)


def test_calendar_only_features_are_allowed(tmp_path, raw_params):
    raw_params["features"]["columns"] = []
    assert load(tmp_path, raw_params).features.columns == []


@pytest.mark.parametrize("tz", ["Mars/Olympus_Mons", "Australia/Melbourn", ""])
def test_unknown_timezone(tmp_path, raw_params, tz):
    raw_params["features"]["timezone"] = tz
    with pytest.raises(ConfigError, match=r"features\.timezone: .* not a known IANA"):
        load(tmp_path, raw_params)


@pytest.mark.parametrize(
    ("freq", "message"),
    [
        ("1 hour", r"ingest\.freq: '1 hour' is not a pandas frequency \(e\.g\. 30min"),
        ("0h", r"ingest\.freq: '0h' must be a positive step"),
        ("-1D", r"ingest\.freq: '-1D' must be a positive step"),
    ],
)
def test_bad_freq_is_refused_without_reading_the_data(
    tmp_path, raw_params, freq, message
):
    # Before, only a stage that lays out the grid (or `mtlstm check` reading
    # the data) saw it: `mtlstm check --params-only` said ok.
    raw_params["ingest"]["freq"] = freq
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, raw_params)


@pytest.mark.parametrize("tz", ["Mars/Olympus_Mons", "Europe/Berln", ""])
def test_unknown_source_timezone(tmp_path, raw_params, tz):
    raw_params["ingest"]["source_timezone"] = tz
    with pytest.raises(
        ConfigError,
        match=r"ingest\.source_timezone: .* not a known IANA time zone \(e\.g\. "
        r"Europe/Berlin, America/New_York\); or null: timestamps without a zone "
        r"are UTC",
    ):
        load(tmp_path, raw_params)


def test_source_timezone_is_a_zone_or_null(tmp_path, raw_params):
    raw_params["ingest"]["source_timezone"] = "America/New_York"
    assert load(tmp_path, raw_params).ingest.source_timezone == "America/New_York"
    raw_params["ingest"]["source_timezone"] = None
    assert load(tmp_path, raw_params).ingest.source_timezone is None


def test_no_ingest_columns(tmp_path, raw_params):
    raw_params["ingest"]["columns"] = {}
    with pytest.raises(ConfigError, match=r"ingest\.columns: declare at least one"):
        load(tmp_path, raw_params)


@pytest.mark.parametrize("name", ["time", "Segment"])
def test_reserved_column_names(tmp_path, raw_params, name):
    raw_params["ingest"]["columns"][name] = "numeric"
    with pytest.raises(
        ConfigError, match=rf"ingest\.columns\.{name}: the name is reserved"
    ):
        load(tmp_path, raw_params)


def test_aggregate_of_undeclared_column(tmp_path, raw_params):
    raw_params["ingest"]["aggregate"]["Load"] = "sum"
    with pytest.raises(
        ConfigError, match=r"ingest\.aggregate\.Load: not a declared column"
    ):
        load(tmp_path, raw_params)


@pytest.mark.parametrize("how", ["mean", "sum"])
def test_categorical_column_cannot_be_averaged(tmp_path, raw_params, how):
    raw_params["ingest"]["columns"]["Weather"] = "categorical"
    raw_params["ingest"]["aggregate"]["Weather"] = how
    with pytest.raises(
        ConfigError, match=rf"ingest\.aggregate\.Weather: {how} cannot aggregate"
    ):
        load(tmp_path, raw_params)


def test_max_fill_must_be_non_negative(tmp_path, raw_params):
    raw_params["ingest"]["max_fill"] = -1
    with pytest.raises(ConfigError, match=r"ingest\.max_fill: must be >= 0, got -1"):
        load(tmp_path, raw_params)


def test_dataclasses_validate_when_built_directly():
    # The checks live in Params.__post_init__, so code paths that build Params
    # without load_params are validated too.
    ingest = Ingest(columns={"x": "numeric"})
    with pytest.raises(ConfigError, match=r"window\.lookback: must be >= 1"):
        Params(
            ingest=ingest,
            features=Features(columns=["x"]),
            tasks={"t": Task(type="regression", target="x")},
            train=Train(loss_weights={"t": 1.0}),
            window=Window(lookback=0),
        )
    assert math.isclose(Split().train + Split().val, 0.85)


# --- mtlstm check: the whole file, before dvc repro runs any stage -----------


def test_cli_check_accepts_the_default_params(capsys):
    from mtlstm.cli import main

    assert main(["check", str(ROOT / "params.yaml")]) == 0
    assert "ok (2 task(s): demand, temp_class)" in capsys.readouterr().out


def test_cli_check_rejects_an_unknown_top_level_section(tmp_path, raw_params, capsys):
    # No stage declares an unknown section, so DVC alone would never rerun
    # anything for it: `make repro` runs this check first.
    from mtlstm.cli import main

    raw_params["bogus_section"] = 1
    assert main(["check", str(write_params(tmp_path, raw_params))]) == 2
    err = capsys.readouterr().err
    assert "error: check:" in err
    assert "unknown key(s) bogus_section" in err


# --- predict_change ----------------------------------------------------------


def test_predict_change_only_for_regression(tmp_path, raw_params):
    raw_params["tasks"]["temp_class"]["predict_change"] = True
    with pytest.raises(
        ConfigError, match=r"tasks\.temp_class\.predict_change: only for regression"
    ):
        load(tmp_path, raw_params)


def test_predict_change_must_be_a_boolean(tmp_path, raw_params):
    raw_params["tasks"]["demand"]["predict_change"] = "yes"
    with pytest.raises(ConfigError, match=r"tasks\.demand\.predict_change: expected"):
        load(tmp_path, raw_params)


def test_ordinal_defaults_to_no_task_and_is_read(tmp_path, raw_params):
    raw_params["train"].pop("ordinal", None)
    assert load(tmp_path, raw_params).train.ordinal == []
    raw_params["train"]["ordinal"] = ["temp_class"]
    assert load(tmp_path, raw_params).train.ordinal == ["temp_class"]


@pytest.mark.parametrize(
    ("ordinal", "message"),
    [
        (["temp"], r"train\.ordinal\[0\]: 'temp' is not a task; tasks: demand"),
        (["demand"], r"train\.ordinal\[0\]: 'demand' is a regression task"),
        (["temp_class", "temp_class"], r"train\.ordinal: a task is listed twice"),
        ("temp_class", r"train\.ordinal: expected a list"),
    ],
)
def test_ordinal_names_binned_classification_tasks(
    tmp_path, raw_params, ordinal, message
):
    raw_params["train"]["ordinal"] = ordinal
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, raw_params)


def test_ordinal_needs_ordered_classes(tmp_path, raw_params):
    raw_params["ingest"]["columns"]["Weather"] = "categorical"
    raw_params["tasks"]["temp_class"].update(target="Weather", bins=None)
    raw_params["train"]["ordinal"] = ["temp_class"]
    with pytest.raises(
        ConfigError,
        match=r"train\.ordinal\[0\]: 'temp_class' has no bins, so its classes "
        r"have no order; remove it from train\.ordinal",
    ):
        load(tmp_path, raw_params)


# --- params.yaml as written: duplicate keys, YAML 1.1 words as names ---------


def write_yaml(tmp_path, *edits):
    """The project's params.yaml text with each ``(old, new)`` replaced once."""
    text = (ROOT / "params.yaml").read_text(encoding="utf-8")
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    return path, text


def line_of(text, needle):
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize(
    ("old", "new", "key", "gap"),
    [
        ("  epochs: 40\n", "  epochs: 40\n  epochs: 3\n", "epochs", 1),
        # A second section: DVC refuses the file, so check must too.
        ("base:\n  seed: 42\n", "base:\n  seed: 42\nbase:\n  seed: 1\n", "base", 2),
    ],
)
def test_duplicate_key_names_both_lines(tmp_path, old, new, key, gap):
    path, text = write_yaml(tmp_path, (old, new))
    first = line_of(text, old)
    with pytest.raises(
        ConfigError,
        match=rf"params\.yaml: not valid YAML: line {first + gap}, column \d+: "
        rf"duplicate key '{key}' \(first at line {first}\); keep one$",
    ):
        load_params(path)


def test_duplicate_key_on_one_line(tmp_path):
    path, _ = write_yaml(
        tmp_path, ("base:\n  seed: 42\n", "base: {seed: 1, seed: 2}\n")
    )
    with pytest.raises(
        ConfigError,
        match=r"line 2, column 17: duplicate key 'seed' \(first at line 2\); keep one",
    ):
        load_params(path)


# YAML 1.1 (PyYAML) reads these words unquoted as booleans or null; DVC reads
# params.yaml as YAML 1.2, where they are strings: a name must be quoted.
@pytest.mark.parametrize(
    ("edits", "message"),
    [
        (
            [
                ("  demand:\n    type", "  no:\n    type"),
                ("    demand: 1.0", "    no: 1.0"),
            ],
            r"^[^ ]*params\.yaml: tasks: key False is not a name: YAML reads no, off "
            r"and false unquoted as False; quote the name, e.g\. 'no'",
        ),
        (
            [("    Holiday: boolean", "    on: boolean")],
            r"ingest\.columns: key True is not a name: YAML reads yes, on and true "
            r"unquoted as True; quote the name, e.g\. 'yes'",
        ),
        (
            [("    demand: 1.0", "    ~: 1.0")],
            r"train\.loss_weights: key None is not a name: YAML reads null and ~ "
            r"unquoted as null; quote the name, e.g\. 'null'",
        ),
        (
            [("    Holiday: boolean", "    2024: boolean")],
            r"ingest\.columns: key 2024 is not a name: YAML reads it as a number; "
            r"quote the name, e.g\. '2024'",
        ),
        (
            [("  epochs: 40", "  off: 40")],
            r"train: key False is not a name: YAML reads no, off and false",
        ),
        (
            [("classes: [cold, mild, hot]", "classes: [yes, no, maybe]")],
            r"tasks\.temp_class\.classes\[0\]: expected a string, got True: YAML "
            r"reads yes, on and true unquoted as True; quote it, e.g\. 'yes'",
        ),
        (
            [("columns: [Demand, Temperature, Holiday]", "columns: [Demand, null]")],
            r"features\.columns\[1\]: expected a string, got None: YAML reads null "
            r"and ~ unquoted as null; quote it, e.g\. 'null'",
        ),
    ],
)
def test_yaml_booleans_and_nulls_are_not_names(tmp_path, edits, message):
    path, _ = write_yaml(tmp_path, *edits)
    with pytest.raises(ConfigError, match=message):
        load_params(path)


# YAML 1.1 (PyYAML) reads a leading 0 as octal and colons as base 60; DVC
# (YAML 1.2) reads 010 as 10 and 1:30 as text, so the stages would train with
# a number `dvc params diff` never shows, and a name's hint quoted '8'.
@pytest.mark.parametrize(
    ("edits", "message"),
    [
        (
            [("  seed: 42", "  seed: 010")],
            r"^[^ ]*params\.yaml: not valid YAML: line 3, column 9: 010 reads as 8 "
            r"here \(YAML 1\.1: octal\) but as 10 in DVC; quote it if it is a name "
            r"\('010'\), else write 8 or 10$",
        ),
        (
            [("    Holiday: boolean", "    0017: numeric")],
            r"line 13, column 5: 0017 reads as 15 here .* but as 17 in DVC; quote "
            r"it if it is a name \('0017'\), else write 15 or 17$",
        ),
        (
            [("classes: [cold, mild, hot]", "classes: [01, 02, 03]")],
            r"line 52, column 15: 01 has a leading 0 \(YAML 1\.1: octal\); quote it "
            r"if it is a name \('01'\), else write 1$",
        ),
        (
            [("  lookback: 24", "  lookback: 1:30")],
            r"1:30 reads as 90 here \(YAML 1\.1: base 60\) but as text in DVC; "
            r"quote it if it is a name \('1:30'\), else write 90$",
        ),
    ],
)
def test_integers_yaml_1_1_reads_unlike_dvc_are_refused(tmp_path, edits, message):
    path, _ = write_yaml(tmp_path, *edits)
    with pytest.raises(ConfigError, match=message):
        load_params(path)


@pytest.mark.parametrize("written", ["0", "+42", "0x2A", "1_000"])
def test_integers_both_yaml_versions_read_alike_still_load(tmp_path, written):
    path, _ = write_yaml(tmp_path, ("  seed: 42", f"  seed: {written}"))
    assert load_params(path).base.seed == int(written.replace("_", ""), 0)


def test_quoted_yaml_words_are_names(tmp_path, raw_params):
    raw_params["tasks"]["no"] = raw_params["tasks"].pop("demand")
    raw_params["train"]["loss_weights"]["no"] = raw_params["train"]["loss_weights"].pop(
        "demand"
    )
    raw_params["tasks"]["temp_class"]["classes"] = ["yes", "no", "null"]
    params = load(tmp_path, raw_params)  # safe_dump quotes them
    assert list(params.tasks) == ["temp_class", "no"]
    assert params.tasks["temp_class"].classes == ["yes", "no", "null"]


# --- ingest: time column, CSV dialect ----------------------------------------


@pytest.mark.parametrize("name", ["Time", "ts"])
def test_time_column_is_not_a_feature_column(tmp_path, raw_params, name):
    raw_params["ingest"]["time_column"] = name
    raw_params["ingest"]["columns"][name] = "numeric"
    with pytest.raises(
        ConfigError,
        match=rf"ingest\.columns\.{name}: '{name}' is ingest\.time_column, read as "
        r"each row's timestamp, not a column of values; remove it from "
        r"ingest\.columns",
    ):
        load(tmp_path, raw_params)


@pytest.mark.parametrize(
    ("sep", "decimal", "message"),
    [
        ("", ".", r"ingest\.csv_sep: must be exactly one character.*, got ''"),
        ("::", ".", r"ingest\.csv_sep: must be exactly one character.*, got '::'"),
        (",", ",,", r"ingest\.csv_decimal: must be exactly one character.*',,'"),
        (",", "", r"ingest\.csv_decimal: must be exactly one character"),
        ("\n", ".", r"ingest\.csv_sep: .*not a line break or double quote"),
        ('"', ".", r"ingest\.csv_sep: .*not a line break or double quote"),
        (
            ",",
            ",",
            r"ingest\.csv_decimal: ',' is also ingest\.csv_sep, so every number "
            r"would be split in two; use another separator \(a decimal comma goes "
            r"with csv_sep: ';'\)",
        ),
    ],
)
def test_csv_sep_and_decimal_are_one_distinct_character(
    tmp_path, raw_params, sep, decimal, message
):
    raw_params["ingest"].update(csv_sep=sep, csv_decimal=decimal)
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, raw_params)


def test_csv_tab_and_decimal_comma_are_allowed(tmp_path, raw_params):
    raw_params["ingest"].update(csv_sep="\t", csv_decimal=",")
    ingest = load(tmp_path, raw_params).ingest
    assert (ingest.csv_sep, ingest.csv_decimal) == ("\t", ",")


# --- base.seed, baselines.season ---------------------------------------------


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_seed_must_fit_32_bits(tmp_path, raw_params, seed):
    raw_params["base"]["seed"] = seed
    with pytest.raises(
        ConfigError,
        match=rf"base\.seed: must be in \[0, 4294967295\] .*, got {seed}$",
    ):
        load(tmp_path, raw_params)


def test_seed_range_ends_are_allowed(tmp_path, raw_params):
    for seed in (0, 2**32 - 1):
        raw_params["base"]["seed"] = seed
        assert load(tmp_path, raw_params).base.seed == seed


def test_ensemble_seeds_must_fit_32_bits(tmp_path, raw_params):
    raw_params["base"]["seed"] = 2**32 - 2
    raw_params["train"]["ensemble"] = 3
    with pytest.raises(
        ConfigError,
        match=r"train\.ensemble: 3 models are seeded base\.seed \.\. base\.seed "
        r"\+ 2, past 4294967295; lower base\.seed to at most 4294967293",
    ):
        load(tmp_path, raw_params)


@pytest.mark.parametrize("season", [0, -24])
@pytest.mark.parametrize("classification_only", [False, True])
def test_season_must_be_positive(tmp_path, raw_params, season, classification_only):
    # Also with no regression task: evaluate's bootstrap blocks are one season.
    if classification_only:
        del raw_params["tasks"]["demand"], raw_params["train"]["loss_weights"]["demand"]
    raw_params["baselines"]["season"] = season
    with pytest.raises(ConfigError, match=r"baselines\.season: must be >= 1") as exc:
        load(tmp_path, raw_params)
    # One problem: not also "shorter than the longest regression horizon".
    (problem,) = problems_of(exc.value)
    assert re.search(rf"baselines\.season: must be >= 1 .*, got {season}$", problem)


def test_season_is_checked_when_the_tasks_are_broken(tmp_path, raw_params):
    raw_params["tasks"] = "none"
    raw_params["baselines"]["season"] = 0
    with pytest.raises(ConfigError, match=r"tasks: expected a mapping") as exc:
        load(tmp_path, raw_params)
    assert any("baselines.season: must be >= 1" in p for p in problems_of(exc.value))


# --- task names against the model's Keras layer names ------------------------


def rename_task(raw, old, new):
    raw["tasks"][new] = raw["tasks"].pop(old)
    raw["train"]["loss_weights"][new] = raw["train"]["loss_weights"].pop(old)


@pytest.mark.parametrize(
    "name",
    [
        "features",
        "known_future",
        "known_future_flat",
        "series",
        "series_embedding",
        "trunk_and_known",
        "trunk_lstm_0",
        "trunk_dropout_12",
        "member_1",
        "static_0_store_type",
        "static_1_x_code",
    ],
)
def test_task_name_cannot_be_a_model_layer_name(tmp_path, raw_params, name):
    rename_task(raw_params, "demand", name)
    with pytest.raises(
        ConfigError,
        match=rf"tasks\.{name}: the model names one of its own layers "
        rf"'{name}'; rename the task \(reserved: features, .*trunk_lstm_<i>.*\)",
    ):
        load(tmp_path, raw_params)


@pytest.mark.parametrize(
    ("name", "layer"),
    [("static_0", "static_0_hidden"), ("trunk_and_known", "trunk_and_known")],
)
def test_task_layer_cannot_be_a_model_layer_name(tmp_path, raw_params, name, layer):
    rename_task(raw_params, "demand", name)
    with pytest.raises(
        ConfigError,
        match=rf"tasks\.{name}: the model names one of its own layers '{layer}'",
    ):
        load(tmp_path, raw_params)


def test_a_task_named_trunk_is_no_model_layer(tmp_path, raw_params):
    # Its trunk_and_known (train.task_lstm > 0) and the trunk's own join
    # (train.task_lstm 0) are never in one model: the name is free.
    rename_task(raw_params, "demand", "trunk")
    assert "trunk" in load(tmp_path, raw_params).tasks


@pytest.mark.parametrize(
    "suffix", ["_hidden", "_last_value", "_logits", "_change", "_lstm", "_and_known"]
)
def test_task_name_cannot_be_another_tasks_layer(tmp_path, raw_params, suffix):
    raw_params["tasks"][f"demand{suffix}"] = dict(raw_params["tasks"]["demand"])
    raw_params["train"]["loss_weights"][f"demand{suffix}"] = 1.0
    with pytest.raises(
        ConfigError,
        match=rf"tasks\.demand{suffix}: task 'demand' names a layer "
        rf"'demand{suffix}' too; rename one of the two tasks",
    ):
        load(tmp_path, raw_params)


def _layer_name_templates(path):
    """Every Keras name ``path`` writes as a literal: ``name="..."`` or
    ``name=f"..."`` arguments, and f-strings assigned to ``name`` or ``core``,
    with each ``{...}`` as ``{}``."""
    import ast

    def template(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr):
            return "".join(
                v.value if isinstance(v, ast.Constant) else "{}" for v in node.values
            )
        return None

    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        values = []
        if isinstance(node, ast.keyword) and node.arg == "name":
            values = [node.value]
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id in ("name", "core") for t in node.targets
        ):
            values = [n for n in ast.walk(node.value) if isinstance(n, ast.JoinedStr)]
        found |= {t for t in map(template, values) if t is not None}
    return found


def test_reserved_layer_names_match_the_model_source():
    # The model is built with TensorFlow, which config must not import: the
    # reserved names live in config, and this reads them off model.py's source.
    from mtlstm import config

    src = ROOT / "src" / "mtlstm"
    found = _layer_name_templates(src / "model.py") | _layer_name_templates(
        src / "heads.py"
    )
    not_layers = {"mtlstm", "mtlstm_ensemble", "{}_class_loss", "{}_pinball"}
    # A static attribute's code layer: its embedding's name (static_<i>_<column>,
    # assigned to ``name``) + _code.
    found -= not_layers | {"{}_code"}
    expected = (
        set(config.MODEL_LAYER_NAMES)
        | {"{}" + s for s in config.TASK_LAYER_SUFFIXES}
        | {re.sub(r"<\w+>", "{}", p) for p in config.MODEL_LAYER_PATTERNS}
    )
    assert found == expected
    assert config.reserved_layer("static_0_store_type_code")
    assert not config.reserved_layer("demand")
