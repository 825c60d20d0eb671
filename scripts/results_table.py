"""Markdown table of the test-split results: the model against its baselines.

Reads metrics/evaluate.json, where the evaluate stage puts per task:

- "model":       {metric: value}                the multi-task model
- "baselines":   {baseline: {metric: value}}    e.g. persistence
- "single_task": {metric: value} (optional)     the ablation stage's model
- "skill":       {"vs_<reference>": {value, ci_low, ci_high, dm_p, ...}}
- "macro_f1_diff" (a classification task): per reference the model's macro-F1
  minus the reference's, with its interval
- "pinball_skill" (a task with quantiles): the same on the pinball loss, and
  the model's "pinball", "coverage_<level>" and "width_<level>" beside the
  naive interval's (a baseline)

and prints one row per task and metric, with the skill over persistence for
error metrics (1 - model / persistence: 0 is no better than persistence, 1 is
perfect); then one row per task and reference with the skill on the task's
primary error, its 95% bootstrap interval, the Diebold-Mariano p-value and a
verdict ("beats gradient boosting", "sharing helped", ...) only where the
interval excludes zero; for a task with quantiles also its pinball skill, and
its interval coverage and width as rows of the first table; where
metrics/per_class.csv exists, every classification task's F1 per class and
forecaster. With ``--readme
README.md`` it replaces the text between the ``<!-- results:start -->`` and
``<!-- results:end -->`` markers instead.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START = "<!-- results:start -->"
END = "<!-- results:end -->"
# Lower is better for these: skill over persistence is 1 - model / persistence.
ERROR_METRICS = ("mae", "rmse", "smape", "log_loss")
LABELS = {
    "mae": "MAE",
    "rmse": "RMSE",
    "smape": "sMAPE",
    "log_loss": "log-loss",
    "accuracy": "accuracy",
    "macro_f1": "macro-F1",
    "pinball": "pinball",
}
MISSING = "-"
SKILL_NOTE = (
    "Skill vs persistence = 1 - model / persistence, for error metrics "
    "(0: no better than persistence; higher is better)."
)

INTERVAL_NOTE = (
    "Skill = 1 - model / reference on the primary error (MAE for regression, "
    "log-loss for classification) with its 95% moving-block bootstrap interval "
    "over the test windows, and the Diebold-Mariano p-value of equal loss. A "
    "verdict is given only where the interval excludes 0."
)
PER_CLASS_NOTE = (
    "F1 per class on the test windows (metrics/per_class.csv; it also holds "
    "precision and recall): macro-F1 is the mean over the classes, so this "
    "shows which class a macro-F1 difference comes from."
)

PINBALL_NOTE = (
    "Rows marked (pinball): the same for a task with quantiles, on its mean "
    "pinball loss over steps and quantile levels; `naive_interval` is "
    "persistence plus the empirical quantiles of its training residuals. "
    "Coverage: share of test actuals inside the central interval (bounds "
    "included; nominal: its level); width: its mean width in the target's units."
)
MACRO_F1_NOTE = (
    "Rows marked (macro-F1): the model's macro-F1 minus the reference's (each "
    "naming its class as evaluate scores it) on the same resamples of the test "
    "windows; no DM test (macro-F1 is not a mean of per-window losses)."
)
# Verdicts (better, worse) per reference; others: "beats <name>" / "loses to".
VERDICTS = {
    "single_task": ("sharing helped", "sharing hurt"),
    "hgb_lag": ("beats gradient boosting", "loses to gradient boosting"),
}
UNCLEAR = "no clear difference"

Scores = dict[str, dict[str, float]]


class TableError(RuntimeError):
    """Input that cannot make a table (missing file, missing markers)."""


def load(path: Path) -> dict:
    if not path.is_file():
        raise TableError(f"{path} not found: run `make repro` first")
    return json.loads(path.read_text(encoding="utf-8"))


def baseline_names(baselines: dict[str, Scores]) -> list[str]:
    """Every baseline named in evaluate.json, in order of first appearance."""
    names: dict[str, None] = {}
    for per_task in baselines.values():
        names.update(dict.fromkeys(per_task))
    return list(names)


def label(metric: str) -> str:
    """A metric's name in the table: coverage_80 -> "80% coverage"."""
    for prefix in ("coverage_", "width_"):
        if metric.startswith(prefix):
            level = metric.removeprefix(prefix).replace("_", ".")
            return f"{level}% {prefix.rstrip('_')}"
    return LABELS.get(metric, metric)


def fmt(value: float | None) -> str:
    """Two decimals from 1 up (thousands separated), three below 1."""
    if value is None:
        return MISSING
    return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.3f}"


def skill(metric: str, model: float | None, persistence: float | None) -> str:
    """1 - model / persistence as a signed percentage, for error metrics only."""
    if metric not in ERROR_METRICS:
        return "n/a"
    if model is None or not persistence:
        return MISSING
    return f"{1 - model / persistence:+.1%}"


def header(names: list[str], single: Scores | None) -> list[str]:
    cells = ["task", "metric", "model", *names]
    if single is not None:
        cells.append("single-task")
    if "persistence" in names:
        cells.append("skill vs persistence")
    return cells


def rows(
    evaluate: Scores, baselines: dict[str, Scores], single: Scores | None
) -> list[list[str]]:
    """One row per task and metric, in evaluate.json's order."""
    names = baseline_names(baselines)
    out = []
    for task, scores in evaluate.items():
        for metric, value in scores.items():
            base = {n: baselines.get(task, {}).get(n, {}) for n in names}
            row = [f"`{task}`", label(metric), fmt(value)]
            row += [fmt(base[n].get(metric)) for n in names]
            if single is not None:
                row.append(fmt(single.get(task, {}).get(metric)))
            if "persistence" in names:
                row.append(skill(metric, value, base["persistence"].get(metric)))
            out.append(row)
    return out


def code(text: str) -> str:
    """``text`` as a Markdown code span in a table cell, whatever it holds (a
    class label is any text of params.yaml): fenced by one backtick more than
    its longest run of them, padded where it starts or ends with one, and its
    pipes escaped (GitHub splits a row at a pipe even inside a code span)."""
    run = max((len(ticks) for ticks in re.findall("`+", text)), default=0)
    fence = "`" * (run + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    escaped = text.replace("|", "\\|")
    return f"{fence}{pad}{escaped}{pad}{fence}"


def markdown(cells: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(cells) + " |", "|" + "---|" * len(cells)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


KINDS = (  # evaluate.json key, row suffix, number format
    ("skill", "", "{:+.1%}"),
    ("pinball_skill", " (pinball)", "{:+.1%}"),
    ("macro_f1_diff", " (macro-F1)", "{:+.3f}"),
)


def intervals(report: dict) -> list[list[str]]:
    """One row per task and reference that has a skill interval: on the
    primary error, then on the pinball loss for a task with quantiles, then
    the macro-F1 difference for a classification task."""
    out = []
    for task, r in report.items():
        for kind, suffix, number in KINDS:
            for key, s in r.get(kind, {}).items():
                if not isinstance(s, dict) or "ci_low" not in s:
                    continue  # an evaluate.json from before the intervals
                name = key.removeprefix("vs_")
                shown = name.replace("_", "-") if name == "single_task" else name
                low, high = bound(number, s["ci_low"]), bound(number, s["ci_high"])
                out.append(
                    [
                        f"`{task}`",
                        shown + suffix,
                        number.format(s["value"]),
                        f"[{low}, {high}]",
                        p_value(s.get("dm_p")),
                        verdict(name, s["ci_low"], s["ci_high"]),
                    ]
                )
    return out


def bound(number: str, value: float) -> str:
    """An interval bound in ``number``'s format, with more decimals where that
    rounds a nonzero bound to 0: "[+0.0%, +6.0%]" beside "sharing helped"
    quoted an interval touching 0 next to a verdict given only where the
    interval excludes 0."""
    decimals = int(re.search(r"\.(\d+)", number).group(1))
    text = number.format(value)
    while value != 0 and not re.search("[1-9]", text) and decimals < 12:
        decimals += 1
        text = re.sub(r"\.\d+", f".{decimals}", number, count=1).format(value)
    return text


def p_value(p: float | None) -> str:
    if p is None:
        return MISSING
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def verdict(reference: str, low: float, high: float) -> str:
    """Better or worse than ``reference`` only if the interval excludes 0."""
    better, worse = VERDICTS.get(
        reference, (f"beats {reference}", f"loses to {reference}")
    )
    if low > 0:
        return better
    if high < 0:
        return worse
    return UNCLEAR


def split_report(report: dict) -> tuple[Scores, dict[str, Scores], Scores | None]:
    """evaluate.json's per-task report as model, baselines and single-task scores
    (None when the ablation was switched off for every task)."""
    evaluate = {task: r["model"] for task, r in report.items()}
    baselines = {task: r.get("baselines", {}) for task, r in report.items()}
    single = {t: r["single_task"] for t, r in report.items() if "single_task" in r}
    return evaluate, baselines, single or None


def results_table(metrics_dir: Path) -> str:
    """The Markdown table (plus the skill note when it has that column)."""
    report = load(metrics_dir / "evaluate.json")
    evaluate, baselines, single = split_report(report)
    cells = header(baseline_names(baselines), single)
    text = markdown(cells, rows(evaluate, baselines, single))
    if cells[-1] == "skill vs persistence":
        text += "\n\n" + SKILL_NOTE
    body = intervals(report)
    if body:
        cells = ["task", "reference", "skill", "95% interval", "DM p", "verdict"]
        text += "\n\n" + markdown(cells, body) + "\n\n" + INTERVAL_NOTE
        if any(row[1].endswith(" (pinball)") for row in body):
            text += " " + PINBALL_NOTE
        if any(row[1].endswith(" (macro-F1)") for row in body):
            text += " " + MACRO_F1_NOTE
    cells, body = per_class(metrics_dir / "per_class.csv")
    if body:
        text += "\n\n" + markdown(cells, body) + "\n\n" + PER_CLASS_NOTE
    return text


def per_class(path: Path) -> tuple[list[str], list[list[str]]]:
    """metrics/per_class.csv as one row per task and class: its test windows and
    every forecaster's F1 (columns in the file's order); no rows without it."""
    if not path.is_file():
        return [], []
    with path.open(newline="", encoding="utf-8") as f:
        records = list(csv.DictReader(f))
    forecasters = list(dict.fromkeys(r["forecaster"] for r in records))
    f1: dict[tuple[str, str], dict[str, str]] = {}
    windows: dict[tuple[str, str], str] = {}
    for r in records:
        key = (r["task"], r["class"])
        windows[key] = r["windows"]
        f1.setdefault(key, {})[r["forecaster"]] = fmt(float(r["f1"]))
    shown = [n.replace("_", "-") if n == "single_task" else n for n in forecasters]
    cells = ["task", "class", "test windows", *[f"F1 {n}" for n in shown]]
    body = [
        [f"`{task}`", code(label), f"{int(windows[task, label]):,}"]
        + [f1[task, label].get(n, MISSING) for n in forecasters]
        for task, label in f1
    ]
    return cells, body


def replace_block(text: str, block: str) -> str:
    """``text`` with everything between the START and END markers replaced."""
    start = text.find(START)
    end = text.find(END, start + len(START)) if start >= 0 else -1
    if start < 0 or end < 0:
        raise TableError(
            f"markers not found: the file needs a line {START} followed by a "
            f"line {END}; it was left unchanged"
        )
    return text[: start + len(START)] + "\n" + block + "\n" + text[end:]


def update_readme(path: Path, table: str) -> None:
    """Put ``table`` between the markers in ``path``; untouched on error."""
    text = path.read_text(encoding="utf-8")
    try:
        updated = replace_block(text, table)
    except TableError as err:
        raise TableError(f"{path}: {err}") from None
    if updated != text:
        path.write_text(updated, encoding="utf-8")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--metrics-dir",
        type=Path,
        default=ROOT / "metrics",
        help="folder with evaluate.json (and per_class.csv, if there)",
    )
    parser.add_argument(
        "--readme", type=Path, help="replace the table between the markers here"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        table = results_table(args.metrics_dir)
        if args.readme is None:
            print(table)
            return 0
        update_readme(args.readme, table)
    except (TableError, OSError, json.JSONDecodeError) as err:
        print(f"results_table.py: {err}", file=sys.stderr)
        return 1
    print(f"results_table.py: updated the results in {args.readme}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
