"""Render the day-ahead example's per-step error plot and fan chart as SVG files
for the README, offline and with the standard library only.

Reads, from the example's DVC project (``examples/day_ahead/work/`` after
``make example-day-ahead``), ``plots/steps.csv``, ``plots/fan.csv`` and
``metrics/evaluate.json``, and writes per task::

    docs/img/day_ahead_steps_<task>.svg  error by step ahead, model vs references
    docs/img/day_ahead_fan_<task>.svg    the first test days: intervals shaded,
                                         median and actual (quantile tasks only)

Same inputs give the same bytes (fixed layout, fixed number formats, no dates
of the run). ``make readme-plots`` runs it; ``make check-readme-plots`` then
looks at the images in headless Chromium (scripts/check_readme_plots.py).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "examples" / "day_ahead" / "work"
OUT = ROOT / "docs" / "img"
PREFIX = "day_ahead"

# Canvas and plot area (pixels): the legend sits right of the plot.
WIDTH, HEIGHT = 860, 380
LEFT, RIGHT, TOP, BOTTOM = 70, 560, 58, 320
FONT = "DejaVu Sans, Liberation Sans, Arial, sans-serif"
# Okabe-Ito colours (readable with colour-blindness); the model in black.
COLORS = {
    "model": "#000000",
    "persistence": "#E69F00",
    "seasonal_naive": "#56B4E9",
    "hgb_lag": "#009E73",
    "naive_interval": "#0072B2",
    "single_task": "#CC79A7",
    "majority": "#D55E00",
}
OTHER = "#999999"
# Drawn dashed: the naive interval's median runs close to persistence.
DASHED = ("naive_interval",)
LABELS = {"hgb_lag": "gradient boosting (hgb_lag)", "single_task": "single-task"}
METRICS = {"mae": "MAE", "log_loss": "log-loss"}
# Central intervals, widest first (drawn first, lightest).
BAND_COLORS = ("#c6dbef", "#9ecae1", "#6baed6", "#4292c6")


class PlotError(RuntimeError):
    """Input that cannot make the plots (missing file or column)."""


# --- scales and ticks ----------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    """Maps data ``lo..hi`` onto pixels ``p0..p1``, linearly or in log10."""

    lo: float
    hi: float
    p0: float
    p1: float
    log: bool = False

    def __call__(self, value: float) -> float:
        f = math.log10 if self.log else float
        lo, hi = f(self.lo), f(self.hi)
        share = 0.5 if hi == lo else (f(value) - lo) / (hi - lo)
        return self.p0 + share * (self.p1 - self.p0)


def nice_step(span: float, count: int) -> float:
    """1, 2, 2.5 or 5 times a power of ten, near ``span / count``."""
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power * (1 + 1e-9):
            return factor * power
    return 10 * power  # pragma: no cover (the loop ends at 10)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Evenly spaced round ticks from at or below ``lo`` to at or above ``hi``
    (their ends are the axis' domain)."""
    if hi <= lo:
        lo, hi = lo - 1, hi + 1
    step = nice_step(hi - lo, count)
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    return [round(i * step, 10) for i in range(first, last + 1)]


def log_ticks(lo: float, hi: float) -> list[float]:
    """1, 2, 5 times powers of ten from the one at or below ``lo`` to the one at
    or above ``hi`` (both positive)."""
    candidates = [
        round(m * 10.0**e, 10)
        for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
        for m in (1, 2, 5)
    ]
    below = max(c for c in candidates if c <= lo * (1 + 1e-9))
    above = min(c for c in candidates if c >= hi * (1 - 1e-9))
    return [c for c in candidates if below <= c <= above]


def number(value: float) -> str:
    """A tick label: at most 4 significant digits, no exponent for the usual
    ranges, no trailing zeros."""
    text = f"{value:.4g}"
    return "0" if text == "-0" else text


def px(value: float) -> str:
    """A pixel coordinate, two decimals (the same bytes on every machine)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def points(xs: list[float], ys: list[float]) -> str:
    return " ".join(f"{px(x)},{px(y)}" for x, y in zip(xs, ys, strict=True))


# --- SVG pieces ------------------------------------------------------------------


def text(x: float, y: float, content: str, **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<text x="{px(x)}" y="{px(y)}"{extra}>{escape(content)}</text>'


def document(title: str, body: list[str]) -> str:
    """A standalone SVG with a white background, a <title> for screen readers
    and the chart title on top."""
    head = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="{FONT}" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
    ]
    return "\n".join([*head, *body, "</svg>"]) + "\n"


def axes(
    x: Scale,
    y: Scale,
    xticks: list[tuple[float, str]],
    yticks: list[float],
    xtitle: str,
    ytitle: str,
    title: str,
    subtitle: str,
) -> list[str]:
    """Grid, ticks, axis lines and titles of the plot area."""
    out = [text(LEFT, 22, title, font_size="15", font_weight="bold")]
    if subtitle:
        out.append(text(LEFT, 40, subtitle, font_size="12", fill="#444444"))
    for value in yticks:
        py = y(value)
        out.append(
            f'<line x1="{px(LEFT)}" y1="{px(py)}" x2="{px(RIGHT)}" y2="{px(py)}" '
            'stroke="#e5e5e5"/>'
        )
        out.append(text(LEFT - 6, py + 4, number(value), text_anchor="end"))
    for value, label in xticks:
        vx = x(value)
        out.append(
            f'<line x1="{px(vx)}" y1="{px(BOTTOM)}" x2="{px(vx)}" '
            f'y2="{px(BOTTOM + 5)}" stroke="#333333"/>'
        )
        out.append(text(vx, BOTTOM + 18, label, text_anchor="middle"))
    out.append(
        f'<polyline points="{points([LEFT, LEFT, RIGHT], [TOP, BOTTOM, BOTTOM])}" '
        'fill="none" stroke="#333333"/>'
    )
    out.append(text((LEFT + RIGHT) / 2, BOTTOM + 40, xtitle, text_anchor="middle"))
    middle = (TOP + BOTTOM) / 2
    out.append(
        text(
            18,
            middle,
            ytitle,
            text_anchor="middle",
            transform=f"rotate(-90 18 {px(middle)})",
        )
    )
    return out


def legend(entries: list[tuple[str, str, str]]) -> list[str]:
    """Right of the plot, one row per (label, colour, kind): kind "line",
    "dashed", "bold" (the model), "dots" (actual values) or "band" (an
    interval)."""
    out = []
    x0 = RIGHT + 20
    for i, (label, color, kind) in enumerate(entries):
        yy = TOP + 8 + 20 * i
        if kind == "band":
            out.append(
                f'<rect x="{px(x0)}" y="{px(yy - 6)}" width="22" height="12" '
                f'fill="{color}"/>'
            )
        elif kind == "dots":
            out.append(
                f'<circle cx="{px(x0 + 11)}" cy="{px(yy)}" r="2.5" fill="{color}"/>'
            )
        else:
            width = "2.5" if kind == "bold" else "1.8"
            dash = ' stroke-dasharray="6 3"' if kind == "dashed" else ""
            out.append(
                f'<line x1="{px(x0)}" y1="{px(yy)}" x2="{px(x0 + 22)}" y2="{px(yy)}" '
                f'stroke="{color}" stroke-width="{width}"{dash}/>'
            )
        out.append(text(x0 + 28, yy + 4, label))
    return out


# --- the two charts ------------------------------------------------------------


def task_parts(label: str) -> tuple[str, str]:
    """A plots CSV's task label ("price: y [EUR/MWh], steps 1-24 ahead") as
    (name, unit); the unit is "" when the label has none."""
    name = label.split(":", 1)[0]
    unit = label[label.find("[") + 1 : label.find("]")] if "[" in label else ""
    return name, unit


def steps_svg(
    label: str, metric: str, series: dict[str, list[tuple[float, float]]]
) -> str:
    """Error by step ahead: one line per forecaster (the model bold, black). A
    reference whose errors equal an earlier one's is named in the legend but
    not drawn twice. The error axis is logarithmic where the errors span more
    than a factor of 10 (log-loss of persistence against a calibrated model)."""
    name, unit = task_parts(label)
    values = [e for s in series.values() for _, e in s]
    steps = [s for line in series.values() for s, _ in line]
    log = min(values) > 0 and max(values) / min(values) > 10
    yticks = (
        log_ticks(min(values), max(values))
        if log
        else nice_ticks(min(values), max(values))
    )
    y = Scale(yticks[0], yticks[-1], BOTTOM, TOP, log=log)
    x = Scale(min(steps), max(steps), LEFT, RIGHT)
    xt = [float(s) for s in nice_ticks(min(steps), max(steps), 8)]
    xticks = [(s, number(s)) for s in xt if min(steps) <= s <= max(steps)]
    order = sorted(series, key=lambda n: (n != "model", list(series).index(n)))
    lines: list[str] = []
    entries: list[tuple[str, str, str]] = []
    drawn: dict[str, list[tuple[float, float]]] = {}
    for ref in order:
        line = series[ref]
        same = next((d for d, v in drawn.items() if v == line), None)
        shown = LABELS.get(ref, ref)
        color = COLORS.get(ref, OTHER)
        if same is not None:
            entries.append((f"{shown} (= {LABELS.get(same, same)})", color, "line"))
            continue
        drawn[ref] = line
        width = "2.5" if ref == "model" else "1.8"
        dash = ' stroke-dasharray="6 3"' if ref in DASHED else ""
        lines.append(
            f'<polyline data-series="{escape(ref)}" '
            f'points="{points([x(s) for s, _ in line], [y(e) for _, e in line])}" '
            f'fill="none" stroke="{color}" stroke-width="{width}"{dash} '
            'stroke-linejoin="round"/>'
        )
        kind = "bold" if ref == "model" else "dashed" if ref in DASHED else "line"
        entries.append((shown, color, kind))
    body = lines[::-1]  # the model last, on top
    metric_name = METRICS.get(metric, metric)
    ytitle = f"{metric_name} [{unit}]" if metric == "mae" and unit else metric_name
    if log:
        ytitle += " (log scale)"
    title = f"{name}: {metric_name} by step ahead, test split"
    subtitle = f"{label}; lower is better"
    frame = axes(x, y, xticks, yticks, "step ahead (hours)", ytitle, title, subtitle)
    return document(title, [*frame, *body, *legend(entries)])


@dataclass
class Fan:
    """One task's rows of fan.csv: per time the median and the actual, and per
    central interval ("80%") its lower and upper bounds."""

    times: list[datetime]
    median: list[float]
    actual: list[float]
    bands: dict[str, tuple[list[float], list[float]]]


def fan_svg(label: str, fan: Fan, coverage: dict[str, float]) -> str:
    """The first test days: each central interval shaded (widest lightest),
    the median as a line, the actual as dots; ``coverage`` ("80%" -> share of
    the whole test split inside) goes into the legend."""
    name, unit = task_parts(label)
    start = fan.times[0]
    hours = [(t - start).total_seconds() / 3600 for t in fan.times]
    values = [*fan.median, *fan.actual]
    for lower, upper in fan.bands.values():
        values += [*lower, *upper]
    yticks = nice_ticks(min(values), max(values), 6)
    y = Scale(yticks[0], yticks[-1], BOTTOM, TOP)
    x = Scale(hours[0], hours[-1], LEFT, RIGHT)
    # A tick at every midnight UTC, labelled with the day.
    xticks = [
        (h, t.strftime("%a %d %b"))
        for h, t in zip(hours, fan.times, strict=True)
        if t.hour == 0 and t.minute == 0
    ]
    if len(xticks) > 8:
        xticks = xticks[:: math.ceil(len(xticks) / 8)]
    body: list[str] = []
    entries: list[tuple[str, str, str]] = []
    widths = {
        k: sum(u - lo for lo, u in zip(*v, strict=True)) for k, v in fan.bands.items()
    }
    for i, key in enumerate(sorted(fan.bands, key=lambda k: -widths[k])):
        lower, upper = fan.bands[key]
        color = BAND_COLORS[min(i, len(BAND_COLORS) - 1)]
        outline = points(
            [x(h) for h in hours] + [x(h) for h in reversed(hours)],
            [y(v) for v in upper] + [y(v) for v in reversed(lower)],
        )
        body.append(
            f'<polygon data-series="{escape(key)}" points="{outline}" '
            f'fill="{color}" stroke="none"/>'
        )
        shown = f"{key} interval"
        if key in coverage:
            shown += f" (test coverage {coverage[key]:.1%})"
        entries.append((shown, color, "band"))
    body.append(
        f'<polyline data-series="median" '
        f'points="{points([x(h) for h in hours], [y(v) for v in fan.median])}" '
        'fill="none" stroke="#08306b" stroke-width="1.8" stroke-linejoin="round"/>'
    )
    entries.append(("median forecast", "#08306b", "line"))
    body.append('<g data-series="actual" fill="#D55E00">')
    body += [
        f'<circle cx="{px(x(h))}" cy="{px(y(v))}" r="2"/>'
        for h, v in zip(hours, fan.actual, strict=True)
    ]
    body.append("</g>")
    entries.append(("actual", "#D55E00", "dots"))
    ytitle = f"{name} [{unit}]" if unit else name
    days = (hours[-1] + 1) / 24
    title = f"{name}: forecast intervals, first {days:g} test days"
    subtitle = f"{label}; each day's hours forecast at once, one origin a day"
    frame = axes(x, y, xticks, yticks, "target time (UTC)", ytitle, title, subtitle)
    return document(title, [*frame, *body, *legend(entries)])


# --- reading the example's outputs ---------------------------------------------


def read_rows(path: Path, columns: list[str]) -> list[dict[str, str]]:
    if not path.is_file():
        raise PlotError(
            f"{path} not found: run `make example-day-ahead` first (or pass --work)"
        )
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise PlotError(
                f"{path}: no column {', '.join(missing)}; expected {', '.join(columns)}"
                " (written by the evaluate stage)"
            )
        return list(reader)


def read_steps(path: Path) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """{task label: {reference: [(step, error), ...]}} in the file's order."""
    out: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for row in read_rows(path, ["task", "step", "reference", "error"]):
        line = out.setdefault(row["task"], {}).setdefault(row["reference"], [])
        line.append((float(row["step"]), float(row["error"])))
    return out


def read_fan(path: Path) -> dict[str, Fan]:
    """{task label: Fan} from fan.csv (one row per time and interval)."""
    columns = ["task", "time", "interval", "lower", "upper", "median", "actual"]
    out: dict[str, Fan] = {}
    for row in read_rows(path, columns):
        fan = out.setdefault(row["task"], Fan([], [], [], {}))
        lower, upper = fan.bands.setdefault(row["interval"], ([], []))
        lower.append(float(row["lower"]))
        upper.append(float(row["upper"]))
        if len(lower) > len(fan.times):
            fan.times.append(datetime.fromisoformat(row["time"]))
            fan.median.append(float(row["median"]))
            fan.actual.append(float(row["actual"]))
    return out


def render(work: Path, out: Path, prefix: str = PREFIX) -> list[Path]:
    """Write every chart of the example in ``work`` into ``out``; the paths."""
    metrics_path = work / "metrics" / "evaluate.json"
    if not metrics_path.is_file():
        raise PlotError(f"{metrics_path} not found: run `make example-day-ahead` first")
    report = json.loads(metrics_path.read_text(encoding="utf-8"))
    steps = read_steps(work / "plots" / "steps.csv")
    fans = read_fan(work / "plots" / "fan.csv")
    charts: dict[Path, str] = {}
    for label, series in steps.items():
        name, _ = task_parts(label)
        if name not in report:
            raise PlotError(f"{metrics_path}: no task {name} (of steps.csv)")
        metric = "mae" if "mae" in report[name]["model"] else "log_loss"
        charts[out / f"{prefix}_steps_{name}.svg"] = steps_svg(label, metric, series)
    for label, fan in fans.items():
        name, _ = task_parts(label)
        model = report.get(name, {}).get("model", {})
        coverage = {
            f"{k.removeprefix('coverage_')}%": v  # fan.csv's interval names
            for k, v in model.items()
            if k.startswith("coverage_")
        }
        charts[out / f"{prefix}_fan_{name}.svg"] = fan_svg(label, fan, coverage)
    if not charts:
        raise PlotError(f"{work / 'plots'}: steps.csv and fan.csv have no rows")
    out.mkdir(parents=True, exist_ok=True)
    for path, svg in charts.items():
        path.write_text(svg, encoding="utf-8")
    return list(charts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=WORK, help="example project")
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the SVGs")
    args = parser.parse_args(argv)
    try:
        paths = render(args.work, args.out)
    except (PlotError, OSError, ValueError) as err:
        print(f"render_readme_plots.py: {err}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"render_readme_plots.py: wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
