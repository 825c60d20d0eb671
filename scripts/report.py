"""Markdown report of what a change does to the pipeline's params and metrics.

Compares a base git revision with the workspace (what `dvc repro` just left
there) using DVC's own Markdown tables:

    dvc params diff <base> --md
    dvc metrics diff <base> --md

CI posts the report on every pull request (.github/workflows/ci.yml):

    python scripts/report.py --base origin/main > report.md

Run it from anywhere inside the DVC repository. A base whose metrics are not in
the local DVC cache shows them as `-`; DVC's warning is quoted under the table.

The metrics table gains a column saying whether each change is better or worse
(by the metric's name: errors lower, accuracy, F1 and skill higher; see
mtlstm.compare), blank where the name does not say.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from mtlstm.compare import is_better

# `python -m dvc`: the DVC installed next to this interpreter, whatever PATH says.
DVC = [sys.executable, "-m", "dvc"]


class ReportError(RuntimeError):
    """A git or DVC command failed; the message says which and why."""


def run(cmd: list[str]) -> tuple[str, str]:
    """Run ``cmd`` in the current directory and return (stdout, stderr)."""
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        shown = " ".join(cmd[2:] if cmd[:2] == DVC[:2] else cmd)
        detail = (proc.stderr or proc.stdout).strip()
        raise ReportError(f"`{shown}` failed (exit {proc.returncode}): {detail}")
    return proc.stdout, proc.stderr


def short_rev(rev: str) -> str:
    """The abbreviated commit id of ``rev``; a clear error for an unknown one."""
    try:
        out, _ = run(["git", "rev-parse", "--short", "--verify", f"{rev}^{{commit}}"])
    except ReportError as err:
        raise ReportError(f"unknown git revision {rev!r}: {err}") from None
    return out.strip()


def table_rows(table: str) -> int:
    """Data rows of a Markdown table (DVC prints only the header if none)."""
    lines = [line for line in table.splitlines() if line.startswith("|")]
    return max(len(lines) - 2, 0)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def verdict(metric: str, old: str, new: str) -> str:
    """'better', 'worse', or '' (unknown direction, no change, a missing value)."""
    try:
        better = is_better(metric, float(old), float(new))
    except ValueError:
        return ""
    return "" if better is None else ("better" if better else "worse")


def mark_changes(table: str) -> str:
    """DVC's Markdown metrics diff (Path, Metric, base, workspace, Change) with
    a last column, better or worse, each column padded to one width."""
    lines = [line for line in table.splitlines() if line.startswith("|")]
    header, body = _cells(lines[0]), [_cells(line) for line in lines[2:]]
    rows = [[*header, "Better or worse"]]
    rows += [[*cells, verdict(cells[1], cells[2], cells[3])] for cells in body]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(cells: list[str]) -> str:
        return (
            "| "
            + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
            + " |"
        )

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(rows[0]), rule, *map(line, rows[1:])])


def dvc_warnings(stderr: str) -> list[str]:
    """DVC's warnings worth showing (e.g. metrics it could not load at a rev)."""
    return [line.strip() for line in stderr.splitlines() if line.strip()]


def section(title: str, kind: str, base: str) -> tuple[str, bool]:
    """One ``## title`` section from ``dvc <kind> diff <base> --md``.

    Returns the Markdown and whether anything changed.
    """
    table, stderr = run([*DVC, kind, "diff", base, "--md"])
    changed = table_rows(table) > 0
    parts = [f"## {title}", ""]
    if changed:
        parts += [mark_changes(table) if kind == "metrics" else table.strip(), ""]
    else:
        parts += [f"No {kind} changed.", ""]
    parts += [f"> {line}" for line in dvc_warnings(stderr)]
    return "\n".join(parts).rstrip() + "\n", changed


def build_report(base: str) -> str:
    """The whole report: title, revisions, params and metrics sections."""
    base_id = short_rev(base)
    head_id = short_rev("HEAD")
    params, params_changed = section("Params", "params", base)
    metrics, metrics_changed = section("Metrics", "metrics", base)
    lines = [
        "# DVC report",
        "",
        f"- base: `{base}` (`{base_id}`)",
        f"- head: `{head_id}` plus the workspace (after `dvc repro`)",
        "",
    ]
    if not (params_changed or metrics_changed):
        lines += ["**Nothing changed**: params and metrics equal the base's.", ""]
    return "\n".join(lines) + "\n" + params + "\n" + metrics


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--base", default="main", help="git revision to compare with (main)"
    )
    parser.add_argument(
        "--output", type=Path, help="write the report here (default: stdout)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = build_report(args.base)
    except ReportError as err:
        print(f"report.py: {err}", file=sys.stderr)
        return 1
    if args.output is None:
        sys.stdout.write(report)
    else:
        args.output.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
