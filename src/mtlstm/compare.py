"""``mtlstm compare``: per task, the model next to its references, at a glance.

Reads ``metrics/scores.json`` (the evaluate stage's summary, the pipeline's one
DVC metric): per task the model's scores (primary error first), its skill
against each reference, and the single-task model's and baselines' scores. For
experiments it reads the same file's values from ``dvc exp show --json``; a
run can also be a folder holding a copy of the project (its
``metrics/scores.json``) or a scores file, e.g. the per-seed copies of an
example that ``scripts/seed_runs.py`` makes.

Prints one Markdown table per task: a row per forecaster, a column per score
with the better direction marked (↓ lower is better, ↑ higher is better), the
best value of each score column in bold, and the model's skill against each
reference (1 - model error / reference error on the task's primary error; > 0:
the model is better). With several experiments there is one model row per
experiment; a reference whose scores differ between experiments (the
single-task model after a change of the training budget) gets one row each.

With ``--spread`` the runs are read as repeats of one setting (the same params
but the seed, e.g. ``make seeds``): one row per forecaster holding each score's
mean and range over the runs, and for each reference in how many runs the model
beat it on that score. One trained model is one draw of the training noise,
which the test split's intervals do not cover; this shows how far a verdict
depends on that draw.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mtlstm.errors import MtlstmError, quote

SCORES = Path("metrics/scores.json")
LOWER_IS_BETTER = frozenset({"mae", "rmse", "smape", "log_loss", "pinball"})
HIGHER_IS_BETTER = frozenset({"accuracy", "macro_f1", "skill"})
# scores.json's skills and macro-F1 differences with the bounds of their
# intervals (metrics.with_interval): higher is better for each.
SKILL_KEYS = frozenset(
    name + suffix
    for name in ("skill", "macro_f1_diff")
    for suffix in ("", "_low", "_high")
)
ARROW = {"lower": "↓", "higher": "↑"}
LEGEND = (
    "↓ lower is better, ↑ higher is better, **bold**: the best in its column.\n"
    "skill: 1 - model error / that forecaster's error, on the task's primary\n"
    "error (the first column); above 0 the model is better."
)
SPREAD_LEGEND = (
    "↓ lower is better, ↑ higher is better. Each cell: the mean over the runs\n"
    "[lowest, highest] (one value: the same in every run); k/N: the model's\n"
    "score is better than that forecaster's in k of the N runs."
)


def direction(metric: str) -> str | None:
    """'lower' or 'higher' is better for a metric (a dotted key such as
    ``demand.mae`` or ``demand.skill.hgb_lag``); None when unknown."""
    parts = metric.split(".")
    if SKILL_KEYS.intersection(parts):
        return "higher"
    if parts[-1] in LOWER_IS_BETTER:
        return "lower"
    if parts[-1] in HIGHER_IS_BETTER:
        return "higher"
    return None


def is_better(metric: str, old: float, new: float) -> bool | None:
    """Whether ``new`` is better than ``old``; None if unknown or equal."""
    way = direction(metric)
    if way is None or old == new:
        return None
    return (new < old) if way == "lower" else (new > old)


def read_scores(path: Path = SCORES) -> dict[str, Any]:
    if not path.is_file():
        raise MtlstmError(f"{path} not found; run `dvc repro` first")
    try:
        scores = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        # A file cut short (an interrupted copy) is the input's fault, not a
        # bug of mtlstm, which is how an uncaught error would report it.
        raise MtlstmError(
            f"{path} is not valid JSON ({err}): name a project folder or its "
            f"{SCORES} as `dvc repro` writes it (rerun it there)"
        ) from None
    _check_scores(path, scores)
    return scores


def _check_scores(path: Path, scores: Any) -> None:
    """``scores`` must have the shape of ``metrics/scores.json``: per task an
    object holding the model's own scores. Another file (``evaluate.json``
    nests them under ``model``) would give a table of dashes, and in a spread
    every reference's row counted as beaten in every run that had the scores."""
    fix = f"name a project folder or its {SCORES}"
    if not isinstance(scores, dict) or not scores:
        raise MtlstmError(f"{path} is not a scores file: not an object of tasks; {fix}")
    for task, values in scores.items():
        numbers = isinstance(values, dict) and any(
            isinstance(v, int | float) and not isinstance(v, bool)
            for v in values.values()
        )
        if not numbers:
            raise MtlstmError(
                f"{path} is not a scores file: task {quote(task)} holds no score "
                f"of the model (such as its mae); {fix}"
            )


def dvc_exp_show(
    dvc: list[str] | None = None, all_commits: bool = False
) -> list[dict[str, Any]]:
    """``dvc exp show --json`` (``-A``: every commit's experiments) in the
    current directory, parsed."""
    cmd = [*(dvc or [sys.executable, "-m", "dvc"]), "exp", "show", "--json"]
    cmd += ["-A"] if all_commits else []
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise MtlstmError(
            f"`dvc exp show --json` failed: {detail[-1] if detail else 'no output'}"
        )
    return json.loads(proc.stdout)


def _rows(shown: list[dict[str, Any]]):
    """Every (name, rev, data) of ``dvc exp show --json``: the workspace, the
    baseline commits and their experiments."""
    for entry in shown:
        yield entry.get("name"), entry["rev"], entry.get("data") or {}
        for exp in entry.get("experiments") or []:
            for rev in exp.get("revs") or []:
                yield rev.get("name"), rev["rev"], rev.get("data") or {}


def read_experiments(wanted: list[str]) -> dict[str, dict[str, Any]]:
    """``pick_experiments`` over ``dvc exp show``: the current commit's
    experiments, or every commit's when a wanted one is not among them (it ran
    before the last commit, e.g. ``make seeds`` and then ``git commit``)."""
    shown = dvc_exp_show()
    rows = list(_rows(shown))
    if not all(_matching(rows, want) for want in wanted):
        shown = dvc_exp_show(all_commits=True)
    return pick_experiments(shown, wanted)


def scores_path(arg: str) -> Path | None:
    """The scores file an argument names: an existing ``.json`` file, or the
    ``metrics/scores.json`` of an existing project folder; None when it names
    no file or folder (then it is an experiment)."""
    path = Path(arg)
    if path.is_file():
        return path
    if not path.is_dir():
        return None
    if not (path / SCORES).is_file():
        raise MtlstmError(
            f"{path / SCORES} not found: {quote(arg)} is a folder but not a "
            "project whose pipeline has run; run `dvc repro` there first"
        )
    return path / SCORES


def read_runs(wanted: list[str]) -> dict[str, dict[str, Any]]:
    """{label: scores} for each argument, in order: a scores file or a project
    folder (another copy of the project, e.g. one per seed) read from disk,
    labelled as given; anything else an experiment of ``dvc exp show``."""
    twice = sorted({arg for arg in wanted if wanted.count(arg) > 1})
    if twice:
        raise MtlstmError(f"named more than once: {', '.join(map(quote, twice))}")
    paths = {arg: scores_path(arg) for arg in wanted}
    named = [arg for arg, path in paths.items() if path is None]
    experiments = list((read_experiments(named) if named else {}).items())
    if len(experiments) < len(named):
        raise MtlstmError(f"two of {', '.join(map(quote, named))} are one experiment")
    from_exp = dict(zip(named, experiments, strict=True))
    out = {}
    for arg, path in paths.items():
        label, scores = from_exp[arg] if path is None else (arg, read_scores(path))
        out[label] = scores
    return out


def _matching(rows: list[tuple], want: str) -> list[tuple]:
    """The rows named ``want``, or whose commit is or starts with it (4 or more
    characters)."""
    return [
        (name, rev, data)
        for name, rev, data in rows
        if want in (name, rev) or (len(want) >= 4 and rev.startswith(want))
    ]


def pick_experiments(
    shown: list[dict[str, Any]], wanted: list[str], path: Path = SCORES
) -> dict[str, dict[str, Any]]:
    """{label: scores} for each wanted experiment, matched by name, by (a prefix
    of at least 4 characters of) its commit, or ``workspace``."""
    rows = list(_rows(shown))
    out = {}
    for want in wanted:
        found = _matching(rows, want)
        if not found:
            known = [name or rev[:7] for name, rev, _ in rows]
            raise MtlstmError(
                f"no experiment {quote(want)} in `dvc exp show`; known: "
                f"{', '.join(known)}"
            )
        name, rev, data = found[0]
        metrics = (data.get("metrics") or {}).get(path.as_posix()) or {}
        if "data" not in metrics:
            raise MtlstmError(
                f"experiment {quote(want)} has no {path}: it failed or ran before "
                "the evaluate stage wrote it; rerun it"
            )
        out[name or (rev if rev == "workspace" else rev[:7])] = metrics["data"]
    return out


def _fmt(value: Any) -> str:
    """Four significant digits, never an exponent: 200.9, 39.83, 0.8753, 12346."""
    if value is None:
        return "-"
    if not isinstance(value, int | float) or isinstance(value, bool):
        return str(value)
    if value == 0 or not math.isfinite(value):
        return str(value)
    decimals = max(0, 3 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


def _skill(value: Any) -> str:
    return "-" if value is None else f"{value:+.3f}"


def _best(values: list[Any], way: str | None) -> Any:
    numbers = [v for v in values if isinstance(v, int | float)]
    if way is None or not numbers:
        return None
    return min(numbers) if way == "lower" else max(numbers)


def task_rows(
    runs: dict[str, dict[str, Any]], task: str
) -> tuple[list[str], list[tuple[str, dict[str, Any], dict[str, Any]]]]:
    """The score names (primary first) and the rows of one task's table:
    (label, scores, {run label: model skill against this row's forecaster})."""
    have = {label: run[task] for label, run in runs.items() if task in run}
    several = len(have) > 1
    names = _score_names(next(iter(have.values())))
    rows = []
    for label, scores in have.items():
        model = {k: v for k, v in scores.items() if k in names}
        rows.append((f"model ({label})" if several else "model", model, {}))
    for ref in _references(have.values()):
        per_run = {
            label: _reference(scores, ref)
            for label, scores in have.items()
            if _reference(scores, ref) is not None
        }
        groups: list[tuple[dict[str, Any], list[str]]] = []
        for label, values in per_run.items():
            for seen, labels in groups:
                if seen == values:
                    labels.append(label)
                    break
            else:
                groups.append((values, [label]))
        for values, labels in groups:
            name = ref if len(groups) == 1 else f"{ref} ({', '.join(labels)})"
            skill = {label: have[label].get("skill", {}).get(ref) for label in labels}
            rows.append((name, values, skill))
    return names, rows


def _score_names(scores: dict[str, Any]) -> list[str]:
    """A task's own score names (primary first), not its nested references."""
    return [k for k, v in scores.items() if not isinstance(v, dict)]


def _references(have: Iterable[dict[str, Any]]) -> list[str]:
    """The single-task model and the baselines that some run of a task has,
    in the order they first appear."""
    refs: list[str] = []
    for scores in have:
        found = ["single_task", *scores.get("baselines", {})]
        refs += [r for r in found if r not in refs and _reference(scores, r)]
    return refs


def _reference(scores: dict[str, Any], ref: str) -> dict[str, Any] | None:
    if ref == "single_task":
        return scores.get("single_task")
    return scores.get("baselines", {}).get(ref)


def render_task(runs: dict[str, dict[str, Any]], task: str) -> str:
    names, rows = task_rows(runs, task)
    labels = [label for label, run in runs.items() if task in run]
    skill_cols = ["skill ↑"] if len(labels) == 1 else [f"skill {x} ↑" for x in labels]
    header = ["forecaster", *map(_score_header, names), *skill_cols]
    best = {n: _best([r[1].get(n) for r in rows], direction(n)) for n in names}
    table = []
    for label, scores, skill in rows:
        cells = [label]
        for n in names:
            value = scores.get(n)
            text = _fmt(value)
            if value is not None and value == best[n]:
                text = f"**{text}**"
            cells.append(text)
        cells += [_skill(skill.get(x)) if x in skill else "" for x in labels]
        table.append(cells)
    return "\n".join([f"## {task}", "", _markdown(header, table)])


def _score_header(name: str) -> str:
    """A score's column title with its better direction: ``mae ↓``."""
    return f"{name} {ARROW[direction(name)]}" if direction(name) else name


def _markdown(header: list[str], table: list[list[str]]) -> str:
    """A Markdown table: the first column left-aligned, the others right."""
    widths = [max(len(c[i]) for c in [header, *table]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            ":" + "-" * (w + 1) if i == 0 else "-" * (w + 1) + ":"
            for i, w in enumerate(widths)
        )
        + "|"
    )
    return "\n".join([line(header), rule, *map(line, table)])


def render(runs: dict[str, dict[str, Any]]) -> str:
    """One table per task (in the order tasks first appear), then the legend."""
    if not runs:
        raise MtlstmError("nothing to compare")
    parts = [render_task(runs, task) for task in _tasks_in_order(runs)]
    return "\n\n".join([*parts, LEGEND]) + "\n"


def _tasks_in_order(runs: dict[str, dict[str, Any]]) -> list[str]:
    tasks: list[str] = []
    for run in runs.values():
        tasks += [t for t in run if t not in tasks]
    return tasks


def _spread_cell(metric: str, values: list[Any], model: list[Any] | None) -> str:
    """``mean [lowest, highest]`` of one score over the runs, and with the
    model's values of the same runs ``k/N``: the model better in k of N."""
    numbers = [v for v in values if isinstance(v, int | float)]
    if not numbers:
        return "-"
    low, high = min(numbers), max(numbers)
    text = (
        _fmt(low)
        if low == high
        else f"{_fmt(sum(numbers) / len(numbers))} [{_fmt(low)}, {_fmt(high)}]"
    )
    if model is None or direction(metric) is None:
        return text  # no better direction (an interval's coverage, width): no k/N
    pairs = [
        (ref, own)
        for ref, own in zip(values, model, strict=True)
        if isinstance(ref, int | float) and isinstance(own, int | float)
    ]
    wins = sum(is_better(metric, ref, own) is True for ref, own in pairs)
    return f"{text} {wins}/{len(pairs)}"


def render_spread_task(runs: dict[str, dict[str, Any]], task: str) -> str:
    """One task's table over repeated runs: a row per forecaster."""
    have = [run[task] for run in runs.values() if task in run]
    labels = [label for label, run in runs.items() if task in run]
    names = _score_names(have[0])
    header = ["forecaster", *map(_score_header, names)]
    model = {n: [scores.get(n) for scores in have] for n in names}
    table = [["model", *(_spread_cell(n, model[n], None) for n in names)]]
    for ref in _references(have):
        found = [_reference(scores, ref) or {} for scores in have]
        table.append(
            [
                ref,
                *(_spread_cell(n, [f.get(n) for f in found], model[n]) for n in names),
            ]
        )
    title = f"## {task} ({len(labels)} runs: {', '.join(labels)})"
    return "\n".join([title, "", _markdown(header, table)])


def render_spread(runs: dict[str, dict[str, Any]]) -> str:
    """One spread table per task over two or more repeated runs, then the
    legend."""
    if len(runs) < 2:
        raise MtlstmError(
            f"--spread needs two or more runs to spread over, got {len(runs)}: "
            "name the experiments (e.g. those `make seeds` ran) and `workspace`"
        )
    parts = [render_spread_task(runs, task) for task in _tasks_in_order(runs)]
    return "\n\n".join([*parts, SPREAD_LEGEND]) + "\n"
