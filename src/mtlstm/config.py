"""The one schema of ``params.yaml``: frozen dataclasses that reject unknown keys.

Every stage parses the whole file, so a typo anywhere fails every stage loudly
instead of being ignored. Each stage then reads only the sections listed for it
in ``STAGE_PARAMS``, which a test keeps equal to the ``params:`` of ``dvc.yaml``.

Parsing does not stop at the first problem: every key that can be checked is,
and all problems are raised together as one ``ConfigProblems`` (a stage prints
the first and a count; ``mtlstm check`` prints every one). A check that needs a
section which itself failed to parse is skipped rather than reported twice.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
import zoneinfo
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from mtlstm import tasks as task_shape
from mtlstm.errors import ConfigError, quote, shorten

TASK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# Bounds on hostile input: params.yaml is read whole, nested and quoted in
# messages, so its size, depth and every key and string in it are capped.
MAX_PARAMS_BYTES = 1_000_000
MAX_DEPTH = 20
MAX_TEXT = 1024
RESERVED_COLUMNS = ("time", "segment")
MIN_BOOTSTRAP = 100  # evaluate.bootstrap_samples
MAX_SEED = 2**32 - 1  # base.seed: numpy.random.seed's range
# A list or mapping stops collecting its items' problems after this many (a
# hostile 1 MB file of bad list items must not print a million lines).
MAX_PROBLEMS = 50

# The Keras layer (and input) names mtlstm.model and mtlstm.heads give; a task's
# head is a layer named after the task, and Keras refuses a model with two
# layers of one name, so no task may take one of these. They live here, not in
# model.py, because config must not import TensorFlow; a test reads them back
# off model.py's and heads.py's source (test_reserved_layer_names_match_...).
MODEL_LAYER_NAMES = (
    "features",
    "known_future",
    "known_future_flat",
    "series",
    "series_embedding",
    "trunk_and_known",
)
# ... names with a layer index or a features.static column in them ...
MODEL_LAYER_PATTERNS = (
    "trunk_lstm_<i>",
    "trunk_dropout_<i>",
    "static_<i>_<column>",  # and its static_<i>_<column>_code
    "member_<i>",  # train.ensemble: each member model is a layer
)
# ... and each task's layers besides its head: <task><suffix>.
TASK_LAYER_SUFFIXES = (
    "_hidden",
    "_change",
    "_raw",
    "_last_value",
    "_last_value_3d",
    "_ordinal",
    "_logits",
    "_steps",
    "_lstm",
    "_and_known",
)
# train.task_lstm > 0 adds a task's <task>_lstm and <task>_and_known and drops
# the trunk's join, trunk_and_known (mtlstm.model.build_model): no model holds
# both, so a task named trunk (whose trunk_and_known only exists with
# task_lstm) clashes with none of the model's layers.
TASK_LSTM_SUFFIXES = ("_lstm", "_and_known")
WITHOUT_TASK_LSTM = ("trunk_and_known",)
_MODEL_LAYER = re.compile(
    "|".join(
        re.sub(r"<(\w+)>", lambda m: r"\d+" if m[1] == "i" else r"\w+", p)
        for p in MODEL_LAYER_PATTERNS
    )
)

# Which params.yaml sections (or single keys) each stage reads; dvc.yaml declares
# exactly these. ablation reads the trunk, heads and budget of train, but not how
# the multi-task losses are weighted (a loss-weight change must not retrain it),
# nor train.selection: with one task every selection rule trains identically
# (mtlstm.selection; tested).
TRAIN_BUDGET = tuple(
    f"train.{key}"
    for key in (
        "layers",
        "head_units",
        "task_lstm",
        "dropout",
        "batch_size",
        "epochs",
        "learning_rate",
        "lr_schedule",
        "ema_momentum",
        "patience",
        "losses",
        "metrics",
        "class_weighting",
        "focal_gamma",
        "series_embedding",
        "static_embedding",
        # The single-task model gets as many members as the multi-task one.
        "ensemble",
        # ... and averages as many of its best epochs.
        "checkpoint_average",
        # Its head is the one the task has in the multi-task model.
        "ordinal",
    )
)
STAGE_PARAMS: dict[str, tuple[str, ...]] = {
    # features.timezone: grid steps of a day or longer are local calendar days.
    "ingest": ("ingest", "features.timezone"),
    "window": ("features", "tasks", "window", "split"),
    "split": ("split",),
    "baselines": ("base", "baselines"),
    "train": ("base", "train"),
    # ablation: train.distribute too, for the global batch (stages/ablation.py).
    "ablation": ("base", "ablation", *TRAIN_BUDGET, "train.distribute"),
    # evaluate: base.seed seeds the bootstrap, one season is its block length.
    "evaluate": ("base", "baselines.season", "evaluate"),
    # backtest: baselines.season for each fold's seasonal naive baseline, and
    # its own entry only (DVC fills ${key}: backtest@a reads backtest.a), so a
    # change to one backtest reruns that one alone.
    "backtest": (
        "base",
        "features",
        "tasks",
        "window",
        "split",
        "train",
        "baselines.season",
        "backtest.${key}",
    ),
}


@dataclass(frozen=True)
class Base:
    seed: int = 42


@dataclass(frozen=True)
class Ingest:
    source: str = "vic_elec"
    time_column: str = "Time"
    columns: dict[str, Literal["numeric", "boolean", "categorical"]] = field(
        default_factory=dict
    )
    freq: str = "1h"
    aggregate: dict[str, Literal["mean", "sum", "min", "max", "first", "last"]] = field(
        default_factory=dict
    )
    max_fill: int = 2
    # Per column, what to do with a value missing inside a row (others present):
    # error (the default) | ffill | interpolate (numeric only); see mtlstm.ingest.
    missing: dict[str, Literal["error", "ffill", "interpolate"]] = field(
        default_factory=dict
    )
    long_gaps: Literal["error", "break"] = "error"
    sort: bool = True
    duplicates: Literal["error", "aggregate"] = "error"
    csv_sep: str = ","
    csv_decimal: str = "."
    # The IANA zone of timestamps written without one (local wall times; see
    # mtlstm.ingest.parse_times); None: UTC, or local days on a daily grid.
    source_timezone: str | None = None
    # Id columns of a long table (one row per series and time): each series
    # gets its own grid, fills and checks; [] = one series (see mtlstm.ingest).
    series: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Features:
    columns: list[str] = field(default_factory=list)
    calendar: list[Literal["hour_of_day", "day_of_week", "day_of_year"]] = field(
        default_factory=list
    )
    timezone: str = "UTC"
    # Inputs whose values at the target times are known when forecasting (a
    # calendar feature, a holiday flag, a published forecast): entries of
    # columns or calendar, fed at rows e+1 .. e+max_horizon (mtlstm.window).
    known_future: list[str] = field(default_factory=list)
    # Categorical columns constant within each series (ingest.series), such as a
    # store's type: one value per series, embedded with train.static_embedding
    # instead of fed per time step (mtlstm.static).
    static: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Task:
    type: Literal["regression", "classification"]
    target: str
    # One step (3), or every step of a range ([1, 24]); see mtlstm.tasks.
    horizon: int | list[int] = 1
    bins: list[float] | None = None
    classes: list[str] | None = None
    unit: str = ""
    predict_change: bool = False
    # Regression only: quantile levels, 0.5 included (see mtlstm.tasks).
    quantiles: list[float] | None = None
    # Binned classification only: decide the class by binning this regression
    # task's forecast (same target and horizon) instead of the head's argmax.
    decide_by: str | None = None


@dataclass(frozen=True)
class Window:
    lookback: int = 24
    # global: one mean/std per numeric column and regression target;
    # per_series: one per series (ingest.series), on its training rows only.
    scaling: Literal["global", "per_series"] = "global"
    # standard: mean and std; robust: median and IQR / 1.349 (the std of a
    # normal column), so one absurd value cannot squash the rest to a constant.
    scaler: Literal["standard", "robust"] = "standard"


@dataclass(frozen=True)
class Split:
    train: float = 0.7
    val: float = 0.15


@dataclass(frozen=True)
class Train:
    loss_weights: dict[str, float]
    loss_balancing: Literal["fixed", "uncertainty"] = "fixed"
    distribute: Literal["none", "mirrored", "multi_worker"] = "none"
    # multi_worker only: data (every worker loads all rows, keeps its slice of
    # each batch) | series (each loads its own series' rows; see mtlstm.distribute)
    shard: Literal["data", "series"] = "data"
    layers: list[int] = field(default_factory=lambda: [64, 32])
    head_units: int = 0  # > 0: a task-specific Dense(head_units, relu) per head
    # > 0: each task's own LSTM(task_lstm) over every step of the shared trunk's
    # output (the top recurrent layer per task, the lower ones shared); 0: off.
    task_lstm: int = 0
    dropout: float = 0.1
    batch_size: int = 256
    epochs: int = 20
    learning_rate: float = 0.001
    # constant | cosine: per epoch, half a cosine from learning_rate towards 0
    lr_schedule: Literal["constant", "cosine"] = "constant"
    # > 0: train on, validate and keep a moving average of the weights (0: off)
    ema_momentum: float = 0.0
    patience: int = 3
    # Which epoch to keep: total val loss | each task's own (see mtlstm.selection)
    selection: Literal["total", "task_ratio"] = "total"
    losses: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, list[str]] = field(default_factory=dict)
    # Classification heads: balanced weighs class c by n / (k * n_c), counted on
    # the training windows (none: every window 1); focal_gamma > 0 multiplies
    # each window's cross-entropy by (1 - p_true) ** focal_gamma (0: plain).
    class_weighting: Literal["none", "balanced"] = "none"
    focal_gamma: float = 0.0
    # > 0: an Embedding(series, series_embedding) of each window's series code,
    # concatenated to the trunk's output (needs ingest.series); 0: off.
    series_embedding: int = 0
    # > 0: an Embedding(values, static_embedding) of each features.static
    # attribute of each window's series, concatenated likewise; 0: off.
    static_embedding: int = 0
    # N >= 2: train N models seeded base.seed, base.seed + 1, ... on the same
    # data and budget, and save one model whose every head is their mean
    # (mtlstm.model.average_models); 1: one model.
    ensemble: int = 1
    # K >= 2: each model is the mean of its run's K best epochs by the
    # selection rule (a checkpoint ensemble: no extra training, K x the
    # forecasting time; mtlstm.selection.EpochSnapshots); 1: the best epoch.
    checkpoint_average: int = 1
    # Binned classification tasks whose head is ordinal: one score and ordered
    # cut points (mtlstm.heads.OrdinalProbabilities) instead of a softmax.
    ordinal: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Baselines:
    season: int = 24


@dataclass(frozen=True)
class Ablation:
    enabled: bool = True


@dataclass(frozen=True)
class Backtest:
    folds: int = 3
    mode: Literal["retrain", "refit"] = "retrain"


@dataclass(frozen=True)
class Evaluate:
    plot_points: int = 336
    batch_size: int = 1024
    bootstrap_samples: int = 1000  # resamples behind each skill's 95% interval


@dataclass(frozen=True)
class Params:
    ingest: Ingest
    features: Features
    tasks: dict[str, Task]
    train: Train
    base: Base = field(default_factory=Base)
    window: Window = field(default_factory=Window)
    split: Split = field(default_factory=Split)
    baselines: Baselines = field(default_factory=Baselines)
    ablation: Ablation = field(default_factory=Ablation)
    evaluate: Evaluate = field(default_factory=Evaluate)
    # Named backtests, one DVC stage each (backtest@<name>); none by default.
    backtest: dict[str, Backtest] = field(default_factory=dict)

    def __post_init__(self) -> None:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        _raise_all(_params_problems(fields))


class ConfigProblems(ConfigError):
    """Every problem found in one pass over ``params.yaml``, one message each in
    ``problems``. Its text is the first problem and how many more there are, so
    a stage still prints one line; ``mtlstm check`` prints them all."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        text = self.problems[0]
        if len(self.problems) > 1:
            text += (
                f" (and {len(self.problems) - 1} more problem(s); "
                "`mtlstm check` lists them all)"
            )
        super().__init__(text)


@contextmanager
def _collecting(problems: list[str]) -> Iterator[None]:
    """Record a ConfigError raised inside the block in ``problems`` and go on."""
    try:
        yield
    except ConfigProblems as exc:
        problems.extend(exc.problems)
    except ConfigError as exc:
        problems.append(str(exc))


def _raise_all(problems: list[str]) -> None:
    if problems:
        raise ConfigProblems(problems)


def problems_of(exc: ConfigError) -> list[str]:
    """Each problem an error stands for (one, unless it is ``ConfigProblems``)."""
    return list(exc.problems) if isinstance(exc, ConfigProblems) else [str(exc)]


def load_params(path: str | Path = "params.yaml") -> Params:
    """Parse and validate ``params.yaml``; every problem names the offending key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found; run from the project root")
    raw = _read_yaml(path)
    try:
        return parse(Params, raw, "")
    except ConfigError as exc:
        raise ConfigProblems([f"{path}: {p}" for p in problems_of(exc)]) from None


def load_ingest(path: str | Path = "params.yaml") -> tuple[Ingest, str] | None:
    """The ingest section and features.timezone alone, or None when either is
    broken or the file cannot be read (``load_params`` reports why): lets
    ``mtlstm check`` read the data although another section fails."""
    try:
        raw = _read_yaml(Path(path))
        ingest = parse(Ingest, raw["ingest"], "ingest")
        _check_ingest(ingest)
        timezone = (raw.get("features") or {}).get("timezone", Features.timezone)
        zoneinfo.ZoneInfo(timezone)
    # ZoneInfoNotFoundError is a KeyError.
    except (ConfigError, KeyError, TypeError, AttributeError, ValueError, OSError):
        return None
    return ingest, timezone


def _read_yaml(path: Path) -> Any:
    """``yaml.safe_load`` with bounded work: size capped, no aliases, no deep
    nesting (a "billion laughs" document expands aliases into gigabytes)."""
    with path.open("rb") as f:
        data = f.read(MAX_PARAMS_BYTES + 1)
    if len(data) > MAX_PARAMS_BYTES:
        raise ConfigError(
            f"{path}: larger than {MAX_PARAMS_BYTES} bytes; params.yaml holds "
            "settings only, not data"
        )
    try:
        return yaml.load(data.decode("utf-8"), Loader=_BoundedLoader)
    except UnicodeDecodeError as exc:
        raise ConfigError(_not_utf8(path, data, exc)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from None
    except (RecursionError, ValueError) as exc:  # e.g. an int of 5000 digits
        raise ConfigError(f"{path}: a value cannot be read: {str(exc)[:200]}") from None


def _not_utf8(path: Path, data: bytes, exc: UnicodeDecodeError) -> str:
    """Where the first byte that is not UTF-8 is: a file saved as Latin-1 or
    cp1252 is often UTF-8 but for one accented letter in a comment."""
    line = data.count(b"\n", 0, exc.start) + 1
    # Counted in characters: the bytes before the bad one decode.
    before = data[data.rfind(b"\n", 0, exc.start) + 1 : exc.start]
    column = len(before.decode("utf-8")) + 1
    return (
        f"{path}: not UTF-8 text: line {line}, column {column}: byte "
        f"0x{data[exc.start]:02x} ({exc.reason}); save the file as UTF-8"
    )


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line: where (line, column) and what, without PyYAML's snippet."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or problem is None:
        return " ".join(str(exc).split())[:300]
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem[:300]}"


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors, aliases and nesting deeper than
    ``MAX_DEPTH``, before building any object."""

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise yaml.composer.ComposerError(
                None,
                None,
                "anchors and aliases (&name, *name) are not allowed in params.yaml; "
                "write each value out",
                event.start_mark,
            )
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested deeper than {MAX_DEPTH} levels",
                    event.start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def]
        """Refuse a key written twice in one mapping: PyYAML keeps the last
        value silently, while DVC (ruamel) refuses the whole file."""
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=False)
            try:
                seen = first.get(key)
            except TypeError:  # a list or mapping as a key: PyYAML's own error
                break
            if seen is not None:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {quote(key_node.value)} (first at line "
                    f"{seen + 1}); keep one",
                    key_node.start_mark,
                )
            first[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


# Integers PyYAML (YAML 1.1) reads unlike DVC (ruamel, YAML 1.2): a leading 0
# is octal (010: 8; DVC: 10), and colons are base 60 (1:30: 90; DVC: text).
_OCTAL = re.compile(r"[-+]?0[0-7_]+")
_BASE_60 = re.compile(r"[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+")


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    """PyYAML's integer, refused where DVC reads the same text otherwise: the
    stages would run with a number that `dvc params diff` never shows."""
    value = yaml.SafeLoader.construct_yaml_int(loader, node)
    text = node.value
    if _OCTAL.fullmatch(text):
        decimal = int(text.replace("_", ""))
        if decimal == value:  # 01: a name such as a class code, or 1
            reads, fix = "has a leading 0 (YAML 1.1: octal)", f"{value}"
        else:
            reads = f"reads as {value} here (YAML 1.1: octal) but as {decimal} in DVC"
            fix = f"{value} or {decimal}"
    elif _BASE_60.fullmatch(text):
        reads = f"reads as {value} here (YAML 1.1: base 60) but as text in DVC"
        fix = f"{value}"
    else:
        return value
    raise yaml.constructor.ConstructorError(
        None,
        None,
        f"{text} {reads}; quote it if it is a name ({text!r}), else write {fix}",
        node.start_mark,
    )


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def parse(tp: Any, value: Any, key: str) -> Any:
    """Convert YAML data into ``tp``, rejecting unknown keys and wrong types."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _parse_dataclass(tp, value, key)
    if origin in (types.UnionType, typing.Union):
        return _parse_optional(tp, value, key)
    if origin is Literal:
        if value not in typing.get_args(tp):
            allowed = ", ".join(repr(a) for a in typing.get_args(tp))
            raise ConfigError(f"{key}: {quote(value)} is not one of {allowed}")
        return value
    if origin is list:
        _expect(isinstance(value, list), key, "a list", value)
        (item,) = typing.get_args(tp)
        problems: list[str] = []
        items = []
        for i, v in enumerate(value):
            with _collecting(problems):
                items.append(parse(item, v, f"{key}[{i}]"))
            if len(problems) >= MAX_PROBLEMS:
                problems.append(f"{key}: stopped after {MAX_PROBLEMS} problems")
                break
        _raise_all(problems)
        return items
    if origin is dict:
        _expect(isinstance(value, dict), key, "a mapping", value)
        _, item = typing.get_args(tp)
        problems, entries = [], {}
        for k, v in value.items():
            with _collecting(problems):
                _raise_all(_key_problems([k], key))
                entries[_text(k, key)] = parse(item, v, f"{key}.{k}")
            if len(problems) >= MAX_PROBLEMS:
                problems.append(f"{key}: stopped after {MAX_PROBLEMS} problems")
                break
        _raise_all(problems)
        return entries
    return _parse_scalar(tp, value, key)


def _parse_dataclass(tp: Any, value: Any, key: str) -> Any:
    where = key or "top level"
    _expect(isinstance(value, dict), where, "a mapping", value)
    hints = typing.get_type_hints(tp)
    fields = {f.name: f for f in dataclasses.fields(tp)}
    problems = _key_problems(value, where)
    unknown = sorted({k for k in value if isinstance(k, str)} - set(fields))
    if unknown:
        shown = ", ".join(_key_name(k) for k in unknown[:10])
        more = f" ({len(unknown)} in all)" if len(unknown) > 10 else ""
        problems.append(
            f"{where}: unknown key(s) {shown}{more}; allowed: {', '.join(fields)}"
        )
    kwargs, failed = {}, set()
    for name, f in fields.items():
        sub = f"{key}.{name}" if key else name
        if name in value:
            before = len(problems)
            with _collecting(problems):
                kwargs[name] = parse(hints[name], value[name], sub)
            if len(problems) > before:
                failed.add(name)
        elif (
            f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ):
            problems.append(f"{sub}: required key is missing")
            failed.add(name)
    if problems and tp is Params:
        # The cross-section checks whose sections all parsed still run.
        problems += _params_problems(_with_defaults(tp, kwargs, failed))
    _raise_all(problems)
    return tp(**kwargs)


def _key_name(key: str) -> str:
    """An unknown key as written, or quoted where it would not show: an empty
    key, or one with a line break or edge spaces ("unknown key(s) ; allowed")."""
    if key and key.isprintable() and key.strip() == key:
        return shorten(key)
    return quote(key)


def _with_defaults(tp: Any, kwargs: dict[str, Any], failed: set[str]) -> dict:
    """``kwargs`` plus the default of every field neither given nor failed."""
    out = dict(kwargs)
    for f in dataclasses.fields(tp):
        if f.name in out or f.name in failed:
            continue
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def _parse_optional(tp: Any, value: Any, key: str) -> Any:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if value is None:
        if len(args) == len(typing.get_args(tp)):  # None is not allowed
            raise ConfigError(f"{key}: expected {_either(args)}, got null")
        return None
    if len(args) == 1:
        return parse(args[0], value, key)
    # A union such as int | list[int]: a YAML list takes the list member.
    lists = [a for a in args if typing.get_origin(a) is list]
    others = [a for a in args if typing.get_origin(a) is not list]
    chosen = lists if isinstance(value, list) else others
    if not chosen:
        raise ConfigError(f"{key}: expected {_either(args)}, got {quote(value)}")
    try:
        return parse(chosen[0], value, key)
    except ConfigError as exc:
        if isinstance(value, list):
            raise
        raise ConfigError(
            f"{key}: expected {_either(args)}, got {quote(value)}"
        ) from exc


def _either(args: list[Any]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "a boolean"}
    return " or ".join(
        "a list" if typing.get_origin(a) is list else names.get(a, str(a)) for a in args
    )


def _parse_scalar(tp: Any, value: Any, key: str) -> Any:
    # bool is an int in Python; YAML `yes`/`true` must never pass as a number.
    if tp is bool:
        _expect(isinstance(value, bool), key, "true or false", value)
    elif tp is int:
        _number_text(value, key, "an integer")
        _expect(
            isinstance(value, int) and not isinstance(value, bool),
            key,
            "an integer",
            value,
        )
    elif tp is float:
        _number_text(value, key, "a number")
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        _expect(ok, key, "a number", value)
        return _as_float(value, key)
    elif tp is str:
        if value is None or isinstance(value, bool):
            reads, example = _yaml_reading(value)
            raise ConfigError(
                f"{key}: expected a string, got {quote(value)}: {reads}; quote it, "
                f"e.g. {example!r}"
            )
        _expect(isinstance(value, str), key, "a string", value)
        _text(value, key)
    return value


def _as_float(value: int | float, key: str) -> float:
    # An integer of 309 or more digits has no float: float() raised
    # OverflowError, which stopped every stage as an internal error.
    try:
        return float(value)
    except OverflowError:
        raise ConfigError(
            f"{key}: expected a number, got {quote(value)}, an integer too large "
            "for a float (about 1.8e308 at most)"
        ) from None


def _number_text(value: Any, key: str, what: str) -> None:
    """Refuse text that reads as a number, saying how to write it: PyYAML reads
    e-notation without a dot (``1e-3``, ``1e3``) as text, while DVC (YAML 1.2)
    reads a number, so 'expected a number, got '1e-3'' alone puzzles."""
    if not isinstance(value, str):
        return
    try:
        number = float(value)
    except ValueError:
        return
    if not math.isfinite(number):
        return  # 'nan', 'inf': words, not a way of writing a number
    if what == "an integer":
        if not number.is_integer():
            return
        example = str(int(number))
    else:
        example = repr(number)
        mantissa, e, exponent = example.partition("e")
        if e and "." not in mantissa:  # 1e-10: PyYAML's float needs the dot
            example = f"{mantissa}.0e{exponent}"
    raise ConfigError(
        f"{key}: expected {what}, got {quote(value)}, which YAML read as text "
        "(quoted, or e-notation without a dot such as 1e-3); write it unquoted "
        f"with digits, e.g. {example}"
    )


# What YAML 1.1 (PyYAML) reads as True, False and null unquoted. DVC reads
# params.yaml as YAML 1.2, where most of these words are strings, so a name
# that is one of them must be quoted for both to read the same name.
_YAML_WORDS = {
    True: ("yes, on and true", "yes"),
    False: ("no, off and false", "no"),
    None: ("null and ~", "null"),
}


def _yaml_reading(value: Any) -> tuple[str, str]:
    """What YAML made of an unquoted name, and the name quoted, for messages."""
    if value is None or isinstance(value, bool):
        words, example = _YAML_WORDS[value]
        return (
            f"YAML reads {words} unquoted as {'null' if value is None else value}",
            example,
        )
    kind = "a number" if isinstance(value, int | float) else f"a {type(value).__name__}"
    return f"YAML reads it as {kind}", shorten(value)


def _key_problems(keys: Any, where: str) -> list[str]:
    """Every mapping key in params.yaml is a name: one that YAML read as
    anything but a string (``no: ...`` as False) would silently become the
    name 'False' here, while DVC reads 'no'."""
    problems = []
    for k in keys:
        if not isinstance(k, str):
            reads, example = _yaml_reading(k)
            problems.append(
                f"{where}: key {quote(k)} is not a name: {reads}; quote the name, "
                f"e.g. {example!r}"
            )
    return problems


def _expect(ok: bool, key: str, what: str, value: Any) -> None:
    if not ok:
        raise ConfigError(
            f"{key}: expected {what}, got {quote(value)}{_if_null(key, what, value)}"
        )


def _if_null(key: str, what: str, value: Any) -> str:
    """How to write it, when YAML read null: a key with nothing after it (a
    ``backtest:`` whose entries are all commented out) is null, not empty."""
    if value is not None:
        return ""
    if key == "top level":
        return " (the file is empty or holds only comments)"
    empty = {"a mapping": "{}", "a list": "[]"}.get(what)
    fix = f"write {empty} to leave it empty" if empty else "give it a value"
    return f" (a key with nothing after it reads as null); {fix}"


def _text(value: Any, key: str) -> str:
    """A key or string value of at most ``MAX_TEXT`` characters (messages quote
    names whole), without NUL bytes (which no path or name may hold)."""
    text = str(value)
    if len(text) > MAX_TEXT or "\0" in text:
        raise ConfigError(
            f"{key}: {quote(text)}: names and strings in params.yaml hold at most "
            f"{MAX_TEXT} characters and no NUL byte"
        )
    return text


def _params_problems(sections: dict[str, Any]) -> list[str]:
    """Every problem of the checks across sections, each check run only when all
    the sections it reads are in ``sections`` (parsed)."""
    problems: list[str] = []
    for needs, check in _PARAMS_CHECKS:
        if all(name in sections for name in needs):
            with _collecting(problems):
                check(*(sections[name] for name in needs))
    return problems


def _check_ingest(ingest: Ingest) -> None:
    problems: list[str] = []
    if not ingest.columns:
        problems.append("ingest.columns: declare at least one column and its kind")
    for name in ingest.columns:
        if name == ingest.time_column:
            problems.append(
                f"ingest.columns.{name}: {quote(name)} is ingest.time_column, read "
                "as each row's timestamp, not a column of values; remove it from "
                "ingest.columns"
            )
        elif name.lower() in RESERVED_COLUMNS:
            problems.append(f"ingest.columns.{name}: the name is reserved; rename it")
    problems += _csv_dialect_problems(ingest)
    problems += _freq_problems(ingest.freq)
    if ingest.source_timezone is not None and not _known_zone(ingest.source_timezone):
        problems.append(
            f"ingest.source_timezone: {quote(ingest.source_timezone)} is not a known "
            "IANA time zone (e.g. Europe/Berlin, America/New_York); or null: "
            "timestamps without a zone are UTC"
        )
    for name, how in ingest.aggregate.items():
        if name not in ingest.columns:
            problems.append(
                f"ingest.aggregate.{name}: not a declared column "
                f"(declared: {', '.join(ingest.columns)})"
            )
        elif ingest.columns[name] == "categorical" and how in ("mean", "sum"):
            problems.append(
                f"ingest.aggregate.{name}: {how} cannot aggregate a categorical "
                "column; use first, last, min or max"
            )
    if ingest.max_fill < 0:
        problems.append(f"ingest.max_fill: must be >= 0, got {ingest.max_fill}")
    if len(set(ingest.series)) != len(ingest.series):
        problems.append("ingest.series: a column is named twice")
    for name in ingest.series:
        if name == ingest.time_column:
            problems.append(
                f"ingest.series: {quote(name)} is the time column; name the id "
                "column(s) of each series"
            )
    if ingest.series and "series" in ingest.columns:
        problems.append(
            "ingest.columns.series: the name is reserved when ingest.series is "
            "set (the output's series id column); rename it"
        )
    for name, how in ingest.missing.items():
        if name not in ingest.columns:
            problems.append(
                f"ingest.missing.{name}: not a declared column "
                f"(declared: {', '.join(ingest.columns)})"
            )
        elif how == "interpolate" and ingest.columns[name] != "numeric":
            problems.append(
                f"ingest.missing.{name}: interpolate needs a numeric column; use "
                f"ffill for a {ingest.columns[name]} column"
            )
    _raise_all(problems)


def _freq_problems(freq: str) -> list[str]:
    """``ingest.freq`` must be a positive pandas step: checked here, so that
    ``mtlstm check --params-only`` and every stage see it, not only a stage
    that lays out the grid."""
    from mtlstm import grid  # pandas, for this check only

    try:
        step = grid.offset(freq)
    except ConfigError as exc:
        return [str(exc)]
    if step.n <= 0:
        return [f"ingest.freq: {quote(freq)} must be a positive step"]
    return []


def _known_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _csv_dialect_problems(ingest: Ingest) -> list[str]:
    """pandas takes one character for each (longer ones as a regex, "" not at
    all), and a decimal mark equal to the separator would split every number."""
    problems = []
    for name in ("csv_sep", "csv_decimal"):
        mark = getattr(ingest, name)
        if len(mark) != 1 or mark in '\r\n"':
            problems.append(
                f"ingest.{name}: must be exactly one character, not a line break "
                f'or double quote (e.g. ",", ";" or "\\t"), got {quote(mark)}'
            )
    if not problems and ingest.csv_sep == ingest.csv_decimal:
        problems.append(
            f"ingest.csv_decimal: {quote(ingest.csv_decimal)} is also ingest.csv_sep, "
            "so every number would be split in two; use another separator (a "
            "decimal comma goes with csv_sep: ';')"
        )
    return problems


def _check_features(features: Features, ingest: Ingest) -> None:
    problems: list[str] = []
    if not features.columns and not features.calendar:
        problems.append("features: declare at least one column or calendar feature")
    for i, name in enumerate(features.columns):
        if name not in ingest.columns:
            problems.append(
                f"features.columns[{i}]: {quote(name)} is not declared in "
                f"ingest.columns (declared: {', '.join(ingest.columns)})"
            )
    if len(set(features.columns)) != len(features.columns):
        problems.append("features.columns: a column is listed twice")
    # As for columns: a repeat would add the same sin/cos pair twice, silently.
    if len(set(features.calendar)) != len(features.calendar):
        problems.append(
            "features.calendar: a calendar feature is listed twice; keep one"
        )
    problems += _known_future_problems(features)
    problems += _static_problems(features, ingest)
    if not _known_zone(features.timezone):
        problems.append(
            f"features.timezone: {quote(features.timezone)} is not a known IANA "
            "time zone (e.g. UTC, Europe/Berlin, Australia/Melbourne)"
        )
    _raise_all(problems)


def _known_future_problems(features: Features) -> list[str]:
    inputs = [*features.columns, *features.calendar]
    problems = [
        f"features.known_future[{i}]: {quote(name)} is not an input; list it in "
        f"features.columns or features.calendar (inputs: {', '.join(inputs)})"
        for i, name in enumerate(features.known_future)
        if name not in inputs
    ]
    if len(set(features.known_future)) != len(features.known_future):
        problems.append("features.known_future: a column is listed twice")
    return problems


def _static_problems(features: Features, ingest: Ingest) -> list[str]:
    """features.static: declared categorical columns of a panel, each once, and
    not also a per-step input (mtlstm.static)."""
    problems = []
    if features.static and not ingest.series:
        problems.append(
            "features.static: static attributes take one value per series, but "
            "no series are declared; set ingest.series (the id columns) or "
            "features.static: []"
        )
    for i, name in enumerate(features.static):
        key = f"features.static[{i}]: {quote(name)}"
        if name not in ingest.columns:
            problems.append(
                f"{key} is not declared in ingest.columns (declared: "
                f"{', '.join(ingest.columns)}); declare it there as categorical"
            )
        elif ingest.columns[name] != "categorical":
            problems.append(
                f"{key} is declared {ingest.columns[name]} in ingest.columns; a "
                "static attribute is a categorical column (declare it "
                f"categorical), or list a {ingest.columns[name]} column in "
                "features.columns"
            )
        elif name in features.columns:
            problems.append(
                f"{key} is also in features.columns; a static attribute is "
                "constant within each series, so its per-step one-hot would "
                "repeat the embedding at every step: list it in one of the two"
            )
    if len(set(features.static)) != len(features.static):
        problems.append("features.static: a column is listed twice")
    return problems


def _check_static_embedding(features: Features, t: Train) -> None:
    if t.static_embedding > 0 and not features.static:
        raise ConfigError(
            f"train.static_embedding: {t.static_embedding} embeds the static "
            "attributes of each series, but features.static lists none; list "
            "them there (categorical columns constant within each series) or set "
            "train.static_embedding: 0"
        )


def _check_known_future_targets(features: Features, tasks: dict[str, Task]) -> None:
    """A task's target at the target time is the answer, never a known input."""
    for name, task in tasks.items():
        if task.target in features.known_future:
            raise ConfigError(
                f"features.known_future: {quote(task.target)} is the target of task "
                f"{name!r}, so its future values are what the model forecasts; "
                "remove it from features.known_future"
            )


def _check_tasks(tasks: dict[str, Task], ingest: Ingest) -> None:
    if not tasks:
        raise ConfigError("tasks: declare at least one task")
    problems: list[str] = []
    for name, task in tasks.items():
        with _collecting(problems):
            _check_task(name, task, ingest)
            if task.decide_by is not None:
                source = tasks.get(task.decide_by)
                task_shape.check_decide_by(f"tasks.{name}", task, source)
    problems += _layer_name_problems(tasks)
    _raise_all(problems)


def reserved_layer(name: str) -> bool:
    """Whether the model itself names a layer ``name`` (whatever the tasks)."""
    return name in MODEL_LAYER_NAMES or bool(_MODEL_LAYER.fullmatch(name))


def task_layers(name: str) -> list[str]:
    """The names of the layers task ``name`` adds to the model, head first."""
    return [name, *(name + suffix for suffix in TASK_LAYER_SUFFIXES)]


def layer_clash(name: str, owners: dict[str, str]) -> str | None:
    """Why task ``name``'s layers cannot join the model's own and ``owners``
    (layer name -> the task that adds it), or None when they can. Keras would
    fail in train only: 'The name "features" is used 2 times in the model'."""
    layers = task_layers(name)
    for layer in layers:
        apart = (
            layer in WITHOUT_TASK_LSTM
            and layer.removeprefix(name) in TASK_LSTM_SUFFIXES
        )
        if reserved_layer(layer) and not apart:
            reserved = ", ".join((*MODEL_LAYER_NAMES, *MODEL_LAYER_PATTERNS))
            return (
                f"the model names one of its own layers {layer!r}; rename the task "
                f"(reserved: {reserved}; a task's layers are <task> and <task>"
                f"{', <task>'.join(TASK_LAYER_SUFFIXES)})"
            )
    for layer in layers:
        if layer in owners:
            return (
                f"task {owners[layer]!r} names a layer {layer!r} too; rename one of "
                "the two tasks"
            )
    return None


def _layer_name_problems(tasks: dict[str, Task]) -> list[str]:
    owners: dict[str, str] = {}
    problems = []
    for name in tasks:
        clash = layer_clash(name, owners)
        if clash:
            problems.append(f"tasks.{name}: {clash}")
        owners.update(dict.fromkeys(task_layers(name), name))
    return problems


def _check_task(name: str, task: Task, ingest: Ingest) -> None:
    key = f"tasks.{name}"
    if not TASK_NAME.match(name):
        raise ConfigError(
            f"{key}: task names must start with a letter and hold only letters, "
            "digits and _ (the name becomes the Keras head's layer name)"
        )
    problems: list[str] = []
    with _collecting(problems):
        task_shape.check(key, task.type, task.horizon, task.quantiles)
    if task.type == "classification" and task.predict_change:
        problems.append(f"{key}.predict_change: only for regression tasks")
    if task.target not in ingest.columns:
        problems.append(
            f"{key}.target: {quote(task.target)} is not declared in ingest.columns"
        )
    else:
        with _collecting(problems):
            if task.type == "regression":
                _check_regression(key, task, ingest)
            else:
                _check_classification(key, task, ingest)
    _raise_all(problems)


def _check_regression(key: str, task: Task, ingest: Ingest) -> None:
    if task.bins is not None or task.classes is not None:
        raise ConfigError(f"{key}: bins/classes are only for classification tasks")
    if ingest.columns[task.target] != "numeric":
        raise ConfigError(f"{key}.target: regression needs a numeric column")


def _check_classification(key: str, task: Task, ingest: Ingest) -> None:
    kind = ingest.columns[task.target]
    if not task.classes or len(task.classes) < 2:
        raise ConfigError(f"{key}.classes: list at least two class labels")
    if len(set(task.classes)) != len(task.classes):
        raise ConfigError(f"{key}.classes: a label is listed twice")
    if kind == "numeric":
        if task.bins is None:
            raise ConfigError(_bins_needed(key, task))
        bins = task.bins
        if len(bins) + 1 != len(task.classes):
            raise ConfigError(
                f"{key}.bins: {len(bins)} edge(s) make {len(bins) + 1} classes but "
                f"{len(task.classes)} labels are listed; give one more label than edges"
            )
        if any(not math.isfinite(b) for b in bins) or bins != sorted(set(bins)):
            raise ConfigError(
                f"{key}.bins: edges must be finite and strictly increasing"
            )
    elif kind == "categorical":
        if task.bins is not None:
            raise ConfigError(f"{key}.bins: a categorical target takes classes only")
    else:
        raise ConfigError(f"{key}.target: a {kind} column cannot be a target")


def _bins_needed(key: str, task: Task) -> str:
    """A numeric target's classes come from cutting its values at ``bins``: say
    so, with an example for exactly the classes listed."""
    classes = task.classes or []
    edges = [10 * (i + 1) for i in range(len(classes) - 1)]
    example = f"{classes[0]!r} below {edges[0]}"
    if len(edges) > 1:
        example += f", {classes[1]!r} from {edges[0]} to below {edges[1]}"
    more = ", ..." if len(classes) > 3 else ""
    example += f"{more}, {classes[-1]!r} from {edges[-1]} up"
    return (
        f"{key}.bins: the target {quote(task.target)} is numeric, so its "
        f"{len(classes)} classes need bins, the {len(edges)} increasing value(s) "
        f"where one class ends and the next begins; e.g. bins: {edges} makes "
        f"{example}. (Or declare the column categorical in ingest.columns.)"
    )


# A sanity cap on window.lookback (horizons have theirs: tasks.MAX_STEPS): a
# million steps is a year of half-minutes, far beyond any LSTM window.
MAX_LOOKBACK = 1_000_000


def _check_window(window: Window) -> None:
    if window.lookback <= 0:
        raise ConfigError(f"window.lookback: must be >= 1, got {window.lookback}")
    if window.lookback > MAX_LOOKBACK:
        # Row arithmetic past int64 failed as an internal error in `window`.
        raise ConfigError(
            f"window.lookback: at most {MAX_LOOKBACK:,} steps (a sanity cap, as "
            f"for horizons), got {quote(window.lookback)}"
        )


def _check_scaling(window: Window, ingest: Ingest) -> None:
    if window.scaling == "per_series" and not ingest.series:
        raise ConfigError(
            "window.scaling: per_series needs the series' id column(s) in "
            "ingest.series; set them, or use window.scaling: global"
        )


def _check_shard(train: Train, ingest: Ingest) -> None:
    if train.shard != "series":
        return
    if train.distribute != "multi_worker":
        raise ConfigError(
            "train.shard: series splits the panel's series between the workers "
            f"of train.distribute: multi_worker, but train.distribute is "
            f"{train.distribute!r}; set train.distribute: multi_worker, or use "
            "train.shard: data"
        )
    if not ingest.series:
        raise ConfigError(
            "train.shard: series needs a panel: the series' id column(s) in "
            "ingest.series; set them, or use train.shard: data"
        )


def _check_series_embedding(train: Train, ingest: Ingest) -> None:
    # Here, not only in the train stage (mtlstm.model.series_names): that
    # error came after ingest, window, split and baselines had run, and
    # `mtlstm check` passed the file. The series codes come from ingest.series.
    if train.series_embedding > 0 and not ingest.series:
        raise ConfigError(
            f"train.series_embedding: {train.series_embedding} embeds each "
            "window's series, but no series are declared; set ingest.series "
            "(the id columns) or train.series_embedding: 0"
        )


def _check_split(s: Split) -> None:
    if not (0 < s.train < 1 and 0 < s.val < 1 and s.train + s.val < 1):
        raise ConfigError(
            f"split: need 0 < train, 0 < val and train + val < 1 (the rest is test), "
            f"got train={s.train}, val={s.val}"
        )


def _check_seed(base: Base) -> None:
    if not 0 <= base.seed <= MAX_SEED:
        raise ConfigError(
            f"base.seed: must be in [0, {MAX_SEED}] (2**32 - 1, the seeds NumPy "
            f"and scikit-learn take), got {base.seed}"
        )


def _check_ensemble_seeds(base: Base, train: Train) -> None:
    """An ensemble seeds its members base.seed, base.seed + 1, ...
    (stages/train.py): the last one must be a seed too."""
    if base.seed + train.ensemble - 1 > MAX_SEED >= base.seed:
        raise ConfigError(
            f"train.ensemble: {train.ensemble} models are seeded base.seed .. "
            f"base.seed + {train.ensemble - 1}, past {MAX_SEED}; lower base.seed "
            f"to at most {MAX_SEED - train.ensemble + 1}"
        )


def _check_season_steps(baselines: Baselines) -> None:
    # Whatever the tasks: evaluate's bootstrap takes blocks of one season, even
    # when no regression task has a seasonal naive forecast.
    if baselines.season < 1:
        raise ConfigError(
            f"baselines.season: must be >= 1 (steps in one season; also the block "
            f"length of evaluate's bootstrap), got {baselines.season}"
        )


def _check_season(tasks: dict[str, Task], baselines: Baselines) -> None:
    if baselines.season < 1:
        return  # reported once, by _check_season_steps
    # Seasonal naive forecasts regression tasks only: a classification task's
    # horizon puts no bound on the season.
    horizons = []
    for t in tasks.values():
        if t.type == "regression":
            try:
                horizons.append(task_shape.bounds(t.horizon)[1])
            except ConfigError:  # reported once, under tasks.<name>.horizon
                continue
    if horizons and baselines.season < max(horizons):
        raise ConfigError(
            f"baselines.season: {baselines.season} steps is shorter than the "
            f"longest regression horizon ({max(horizons)}); the seasonal naive "
            "forecast must be observed at the forecast origin"
        )


def _check_backtests(backtests: dict[str, Backtest]) -> None:
    problems: list[str] = []
    for name, bt in backtests.items():
        if not TASK_NAME.match(name):
            problems.append(
                f"backtest.{name}: names start with a letter and hold only letters, "
                "digits and _ (the name becomes the stage backtest@<name>)"
            )
        if bt.folds < 1:
            problems.append(f"backtest.{name}.folds: must be >= 1, got {bt.folds}")
    _raise_all(problems)


def _check_evaluate(e: Evaluate) -> None:
    problems: list[str] = []
    if e.plot_points <= 0 or e.batch_size <= 0:
        problems.append("evaluate: plot_points and batch_size must be >= 1")
    if e.bootstrap_samples < MIN_BOOTSTRAP:
        problems.append(
            f"evaluate.bootstrap_samples: must be >= {MIN_BOOTSTRAP} for a 95% "
            f"interval's 2.5% tails, got {e.bootstrap_samples}"
        )
    _raise_all(problems)


def _check_train(t: Train, tasks: dict[str, Task]) -> None:
    task_names = list(tasks)
    problems: list[str] = []
    if set(t.loss_weights) != set(task_names):
        missing = sorted(set(task_names) - set(t.loss_weights))
        extra = sorted(set(t.loss_weights) - set(task_names))
        problems.append(
            "train.loss_weights: keys must equal the task names "
            f"({', '.join(task_names)}); missing: {missing or 'none'}, "
            f"unknown: {extra or 'none'}"
        )
    for name, w in t.loss_weights.items():
        if not math.isfinite(w) or w < 0:
            problems.append(f"train.loss_weights.{name}: must be finite and >= 0")
    if t.loss_weights and not any(w > 0 for w in t.loss_weights.values()):
        problems.append(
            "train.loss_weights: every weight is 0, so no loss would train the "
            "model; give at least one task a weight > 0"
        )
    for section in ("losses", "metrics"):
        for name in getattr(t, section):
            if name not in task_names:
                problems.append(f"train.{section}.{name}: no task has this name")
    problems += _ordinal_problems(t, tasks)
    if not t.layers or any(u <= 0 for u in t.layers):
        problems.append("train.layers: list one or more positive unit counts")
    if t.series_embedding < 0:
        problems.append(
            f"train.series_embedding: must be >= 0 (0: no series embedding), "
            f"got {t.series_embedding}"
        )
    if t.static_embedding < 0:
        problems.append(
            f"train.static_embedding: must be >= 0 (0: static attributes not "
            f"embedded), got {t.static_embedding}"
        )
    if t.ensemble < 1:
        problems.append(
            f"train.ensemble: must be >= 1 (1: one model; N: the mean of N models "
            f"seeded base.seed, base.seed + 1, ...), got {t.ensemble}"
        )
    if t.checkpoint_average < 1:
        problems.append(
            f"train.checkpoint_average: must be >= 1 (1: the best epoch; K: the "
            f"mean of the K best epochs), got {t.checkpoint_average}"
        )
    if t.head_units < 0:
        problems.append(
            f"train.head_units: must be >= 0 (0: no task-specific layer), "
            f"got {t.head_units}"
        )
    if t.task_lstm < 0:
        problems.append(
            f"train.task_lstm: must be >= 0 (0: no task-specific LSTM layer), "
            f"got {t.task_lstm}"
        )
    if not 0 <= t.ema_momentum < 1:
        problems.append(
            f"train.ema_momentum: must be in [0, 1) (0: no weight averaging), "
            f"got {t.ema_momentum}"
        )
    if not 0 <= t.dropout < 1:
        problems.append(f"train.dropout: must be in [0, 1), got {t.dropout}")
    for name in ("batch_size", "epochs"):
        if getattr(t, name) <= 0:
            problems.append(f"train.{name}: must be >= 1")
    # isfinite too: YAML's .nan passes every comparison, and a NaN or infinite
    # rate trains a model of NaN weights that the stage saves without error.
    if not (math.isfinite(t.learning_rate) and t.learning_rate > 0):
        problems.append(
            f"train.learning_rate: must be a finite number > 0 (e.g. 0.001), "
            f"got {t.learning_rate}"
        )
    if t.patience < 0:
        problems.append(f"train.patience: must be >= 0, got {t.patience}")
    _raise_all(problems)


def _ordinal_problems(t: Train, tasks: dict[str, Task]) -> list[str]:
    """An ordinal head needs ordered classes: a classification task's bins."""
    problems = []
    for i, name in enumerate(t.ordinal):
        key = f"train.ordinal[{i}]: {quote(name)}"
        if name not in tasks:
            problems.append(f"{key} is not a task; tasks: {', '.join(tasks)}")
        elif tasks[name].type != "classification":
            problems.append(f"{key} is a regression task; list classification tasks")
        elif tasks[name].bins is None:
            problems.append(
                f"{key} has no bins, so its classes have no order; remove it "
                "from train.ordinal (a softmax head fits unordered classes)"
            )
    if len(set(t.ordinal)) != len(t.ordinal):
        problems.append("train.ordinal: a task is listed twice")
    return problems


MAX_FOCAL_GAMMA = 10.0


def _check_class_loss(t: Train, tasks: dict[str, Task]) -> None:
    if not (math.isfinite(t.focal_gamma) and 0 <= t.focal_gamma <= MAX_FOCAL_GAMMA):
        raise ConfigError(
            f"train.focal_gamma: must be in [0, {MAX_FOCAL_GAMMA:g}] (0: plain "
            f"cross-entropy; 2 is the usual focal loss), got {t.focal_gamma}"
        )
    if t.class_weighting == "none" and t.focal_gamma == 0:
        return
    for name in t.losses:
        # An unknown task name is _check_train's error, reported beside this one.
        if name in tasks and tasks[name].type == "classification":
            raise ConfigError(
                f"train.losses.{name}: a classification task takes its loss from "
                "train.class_weighting and train.focal_gamma when either is set; "
                f"remove train.losses.{name} or set class_weighting none and "
                "focal_gamma 0"
            )


def _check_quantile_losses(t: Train, tasks: dict[str, Task]) -> None:
    """A quantile head is trained with the pinball loss of its own levels."""
    for name in t.losses:
        if name in tasks and tasks[name].quantiles is not None:
            raise ConfigError(
                f"train.losses.{name}: a task with quantiles is trained with the "
                f"pinball loss of tasks.{name}.quantiles; remove this entry"
            )


# Params' checks across sections: (the sections each reads, the check). A check
# runs only when all its sections parsed, so one broken section is reported once.
_PARAMS_CHECKS: tuple[tuple[tuple[str, ...], Callable[..., None]], ...] = (
    (("ingest",), _check_ingest),
    (("tasks", "ingest"), _check_tasks),
    (("features", "ingest"), _check_features),
    (("features", "tasks"), _check_known_future_targets),
    (("window",), _check_window),
    (("window", "ingest"), _check_scaling),
    (("train", "ingest"), _check_shard),
    (("train", "ingest"), _check_series_embedding),
    (("split",), _check_split),
    (("baselines",), _check_season_steps),
    (("tasks", "baselines"), _check_season),
    (("base",), _check_seed),
    (("base", "train"), _check_ensemble_seeds),
    (("backtest",), _check_backtests),
    (("evaluate",), _check_evaluate),
    (("train", "tasks"), _check_train),
    (("features", "train"), _check_static_embedding),
    (("train", "tasks"), _check_class_loss),
    (("train", "tasks"), _check_quantile_losses),
)
