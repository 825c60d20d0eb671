"""scripts/render_readme_plots.py (the README's SVG charts) and the parts of
scripts/check_readme_plots.py that need no browser: the PNG decoder, the ink
count and the README's image references. Hand-computed coordinates throughout:
the plot area spans x 70..560 and y 320 (bottom) .. 58 (top), 262 pixels."""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import struct
import sys
import xml.etree.ElementTree as ET
import zlib
from datetime import datetime
from pathlib import Path

import pytest
from conftest import ROOT

SVG = "{http://www.w3.org/2000/svg}"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


render = load("render_readme_plots")
check = load("check_readme_plots")

PRICE = "price: y [EUR/MWh], steps 1-24 ahead"
LEVEL = "price_level: y [price level], steps 1-24 ahead"


def series_points(svg: str, name: str) -> str:
    """The ``points`` of the polyline or polygon ``data-series="name"``."""
    root = ET.fromstring(svg.split("\n", 1)[1])  # after the XML declaration
    for element in root.iter():
        if element.get("data-series") == name:
            return element.get("points")
    raise AssertionError(f"no series {name}")


# --- scales and ticks ----------------------------------------------------------


def test_plot_area_is_the_one_the_oracles_assume():
    assert (render.LEFT, render.RIGHT, render.TOP, render.BOTTOM) == (70, 560, 58, 320)


def test_linear_and_log_scales():
    assert render.Scale(0, 10, 100, 200)(5) == 150
    assert render.Scale(0, 10, 320, 58)(10) == 58  # pixels may run downwards
    assert render.Scale(1, 100, 0, 200, log=True)(10) == pytest.approx(100)
    assert render.Scale(3, 3, 0, 200)(3) == 100  # an empty range: the middle


def test_nice_ticks():
    assert render.nice_ticks(0, 10) == [0, 2, 4, 6, 8, 10]  # step 10 / 5
    assert render.nice_ticks(1.3, 4.9) == [1, 2, 3, 4, 5]  # 0.72 -> 1
    assert render.nice_ticks(2, 4) == [2, 2.5, 3, 3.5, 4]  # 0.4 -> 0.5
    assert render.nice_ticks(5, 5) == [4, 4.5, 5, 5.5, 6]  # widened by 1


def test_log_ticks_cover_the_range_with_1_2_5():
    assert render.log_ticks(0.3, 9) == [0.2, 0.5, 1, 2, 5, 10]
    assert render.log_ticks(1, 2) == [1, 2]


def test_numbers_and_pixels_have_one_spelling():
    assert [render.number(v) for v in (2.5, 10.0, 0.2, 12.5)] == [
        "2.5",
        "10",
        "0.2",
        "12.5",
    ]
    assert [render.px(v) for v in (70.0, 123.456, -0.001, 189.5)] == [
        "70",
        "123.46",
        "0",
        "189.5",
    ]


# --- the per-step chart --------------------------------------------------------


def test_steps_chart_maps_a_two_point_series_onto_the_plot_area():
    # Errors 2..4: ticks 2, 2.5, ..., 4, so 2 is the bottom (320) and 4 the top
    # (58); 3 is halfway (189) and 3.5 three quarters up (320 - 196.5 = 123.5).
    svg = render.steps_svg(
        PRICE,
        "mae",
        {"model": [(1, 2.0), (24, 4.0)], "persistence": [(1, 3.0), (24, 3.5)]},
    )
    assert series_points(svg, "model") == "70,320 560,58"
    assert series_points(svg, "persistence") == "70,189 560,123.5"
    assert ">MAE [EUR/MWh]</text>" in svg
    assert ">price: MAE by step ahead, test split</text>" in svg
    assert "(log scale)" not in svg
    # The model is drawn last (on top) and listed first in the legend.
    assert svg.index('data-series="persistence"') < svg.index('data-series="model"')
    assert svg.index(">model</text>") < svg.index(">persistence</text>")


def test_steps_chart_draws_an_equal_reference_once_and_names_it():
    line = [(1, 3.0), (24, 3.5)]
    svg = render.steps_svg(
        PRICE,
        "mae",
        {"model": [(1, 2.0), (24, 4.0)], "persistence": line, "naive_interval": line},
    )
    assert svg.count("<polyline data-series=") == 2
    assert ">naive_interval (= persistence)</text>" in svg


def test_steps_chart_goes_logarithmic_when_errors_span_over_ten_times():
    # log-loss 0.5 .. 8: ticks 0.5, 1, 2, 5, 10; 0.5 at the bottom, 10 on top.
    svg = render.steps_svg(
        LEVEL,
        "log_loss",
        {"model": [(1, 0.5), (24, 0.5)], "persistence": [(1, 8.0), (24, 8.0)]},
    )
    assert ">log-loss (log scale)</text>" in svg
    assert series_points(svg, "model") == "70,320 560,320"
    # log10(16) / log10(20) = 0.92551 of 262 pixels (242.48) above the bottom.
    assert series_points(svg, "persistence") == "70,77.52 560,77.52"


# --- the fan chart -------------------------------------------------------------


def two_hour_fan() -> render.Fan:
    times = [
        datetime.fromisoformat(t)
        for t in ("2016-07-21T00:00:00Z", "2016-07-21T01:00:00Z")
    ]
    return render.Fan(
        times=times,
        median=[10, 20],
        actual=[12, 18],
        bands={"80%": ([5, 15], [15, 25])},
    )


def test_fan_chart_shades_the_interval_between_its_bounds():
    # Values 5..25: ticks 5, 10, ..., 25 (step 20 / 6 -> 5), so y(v) = 320 -
    # (v - 5) / 20 * 262: y(5) 320, y(10) 254.5, y(15) 189, y(20) 123.5, y(25) 58.
    svg = render.fan_svg(PRICE, two_hour_fan(), {"80%": 0.793})
    # Along the upper bound, then back along the lower one.
    assert series_points(svg, "80%") == "70,189 560,58 560,189 70,320"
    assert series_points(svg, "median") == "70,254.5 560,123.5"
    # Actual 12 and 18: 320 - 7 / 20 * 262 = 228.3 and 320 - 13 / 20 * 262 = 149.7.
    assert '<circle cx="70" cy="228.3" r="2"/>' in svg
    assert '<circle cx="560" cy="149.7" r="2"/>' in svg
    assert ">80% interval (test coverage 79.3%)</text>" in svg
    assert ">price [EUR/MWh]</text>" in svg
    assert ">target time (UTC)</text>" in svg
    assert ">Thu 21 Jul</text>" in svg  # a tick at midnight UTC


def test_fan_chart_draws_the_widest_interval_first_and_lightest():
    fan = two_hour_fan()
    fan.bands = {"50%": ([8, 18], [12, 22]), "80%": ([5, 15], [15, 25])}
    svg = render.fan_svg(PRICE, fan, {})
    assert svg.index('data-series="80%"') < svg.index('data-series="50%"')
    assert re.search(r'data-series="80%"[^>]*fill="#c6dbef"', svg)


# --- from the example's files ----------------------------------------------------


def write_csv(path: Path, rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """An example project's plots and metrics, as evaluate writes them."""
    steps = [["task", "step", "reference", "error"]]
    for label, ref, errors in (
        (PRICE, "model", (2.0, 4.0)),
        (PRICE, "persistence", (3.0, 3.5)),
        (LEVEL, "model", (0.5, 0.5)),
        (LEVEL, "majority", (8.0, 8.0)),
    ):
        steps += [[label, s, ref, e] for s, e in zip((1, 24), errors, strict=True)]
    write_csv(tmp_path / "plots" / "steps.csv", steps)
    write_csv(
        tmp_path / "plots" / "fan.csv",
        [
            ["task", "time", "interval", "lower", "upper", "median", "actual"],
            [PRICE, "2016-07-21T00:00:00Z", "80%", 5, 15, 10, 12],
            [PRICE, "2016-07-21T01:00:00Z", "80%", 15, 25, 20, 18],
        ],
    )
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "evaluate.json").write_text(
        '{"price": {"model": {"mae": 3.0, "coverage_80": 0.5}},'
        ' "price_level": {"model": {"log_loss": 0.5}}}',
        encoding="utf-8",
    )
    return tmp_path


def test_render_writes_each_chart_the_same_bytes_every_time(work, tmp_path):
    first = render.render(work, tmp_path / "a")
    second = render.render(work, tmp_path / "b")
    assert [p.name for p in first] == [
        "day_ahead_steps_price.svg",
        "day_ahead_steps_price_level.svg",
        "day_ahead_fan_price.svg",
    ]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes()
        root = ET.parse(a).getroot()  # well-formed, sized, titled
        assert (root.get("width"), root.get("height")) == ("860", "380")
        assert root.find(f"{SVG}title").text
    fan = (tmp_path / "a" / "day_ahead_fan_price.svg").read_text(encoding="utf-8")
    assert series_points(fan, "80%") == "70,189 560,58 560,189 70,320"
    assert ">80% interval (test coverage 50.0%)</text>" in fan
    level = (tmp_path / "a" / "day_ahead_steps_price_level.svg").read_text("utf-8")
    assert ">log-loss (log scale)</text>" in level  # from evaluate.json's log_loss


def test_render_without_the_example_says_what_to_run(tmp_path):
    with pytest.raises(
        render.PlotError,
        match=r"evaluate\.json not found: run `make example-day-ahead`",
    ):
        render.render(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_render_names_a_missing_column(work, tmp_path, capsys):
    write_csv(
        work / "plots" / "steps.csv",
        [["task", "step", "reference"], [PRICE, 1, "model"]],
    )
    with pytest.raises(render.PlotError, match=r"steps\.csv: no column error"):
        render.render(work, tmp_path / "out")
    assert render.main(["--work", str(work), "--out", str(tmp_path / "out")]) == 1
    assert "no column error" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing written


def test_render_names_a_task_missing_from_the_metrics(work, tmp_path):
    (work / "metrics" / "evaluate.json").write_text('{"price": {"model": {"mae": 1}}}')
    with pytest.raises(render.PlotError, match="no task price_level"):
        render.render(work, tmp_path / "out")


# --- check_readme_plots: PNG decoding ---------------------------------------------


def png(width: int, height: int, color: int, raw: bytes) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_paeth_picks_the_nearest_of_left_up_and_up_left():
    assert check.paeth(10, 20, 20) == 10  # p = 10: left
    assert check.paeth(10, 20, 10) == 20  # p = 20: up
    assert check.paeth(10, 20, 15) == 15  # p = 15: up-left


def test_decode_png_undoes_every_row_filter():
    # 2 x 5 RGB, one row per filter type; the filtered bytes and the pixels
    # they stand for, worked out by hand (PNG spec, section 9).
    raw = bytes(
        [
            *(0, 10, 20, 30, 40, 50, 60),  # none
            *(1, 1, 2, 3, 4, 5, 6),  # sub: + the pixel to the left
            *(2, 10, 20, 30, 40, 50, 60),  # up: + the row above
            *(3, 1, 1, 1, 1, 1, 1),  # average: + floor((left + up) / 2)
            *(4, 2, 2, 2, 2, 2, 2),  # paeth (here always up)
        ]
    )
    width, height, rows = check.decode_png(png(2, 5, 2, raw))
    assert (width, height) == (2, 5)
    assert [list(r) for r in rows] == [
        [10, 20, 30, 40, 50, 60],
        [1, 2, 3, 5, 7, 9],
        [11, 22, 33, 45, 57, 69],
        [6, 12, 17, 26, 35, 44],  # 1 + 11 // 2, ..., 1 + (6 + 45) // 2, ...
        [8, 14, 19, 28, 37, 46],
    ]


def test_decode_png_drops_alpha_and_refuses_what_it_cannot_read():
    assert [
        list(r) for r in check.decode_png(png(1, 1, 6, bytes([0, 1, 2, 3, 255])))[2]
    ] == [[1, 2, 3]]
    with pytest.raises(check.CheckError, match="not a PNG"):
        check.decode_png(b"GIF89a")
    with pytest.raises(check.CheckError, match="colour type 0"):
        check.decode_png(png(1, 1, 0, bytes([0, 7])))
    with pytest.raises(check.CheckError, match="unknown filter 9"):
        check.decode_png(png(1, 1, 2, bytes([9, 1, 2, 3])))
    with pytest.raises(check.CheckError, match="PNG data of 3 bytes for 1 x 1"):
        check.decode_png(png(1, 1, 2, bytes([0, 1, 2])))


def test_ink_counts_non_white_and_coloured_pixels():
    # white, black, red, light grey (240 counts as white), mid grey
    row = bytearray([255, 255, 255, 0, 0, 0, 230, 20, 20, 240, 240, 240, 128, 128, 128])
    assert check.ink([row]) == (3 / 5, 1 / 5)


# --- check_readme_plots: the README's references ------------------------------------


def test_references_finds_markdown_and_html_images():
    text = (
        'x\n![Error by step](docs/a.svg) and ![](b.png "t")\n'
        '<img src="c.svg" alt="C">\n'
    )
    refs = check.references(text)
    assert [(r.line, r.alt, r.target) for r in refs] == [
        (2, "Error by step", "docs/a.svg"),
        (2, "", "b.png"),
        (3, "C", "c.svg"),
    ]


def test_problems_name_missing_files_alt_text_and_remote_images(tmp_path):
    (tmp_path / "here.svg").write_text("<svg/>")
    readme = tmp_path / "README.md"
    readme.write_text(
        "![ok](here.svg)\n![gone](gone.svg)\n![](here.svg)\n![cdn](https://x.org/a.svg)\n"
    )
    assert check.problems(readme) == [
        "README.md:2: gone.svg does not exist",
        "README.md:3: here.svg has no alt text",
        "README.md:4: https://x.org/a.svg is not a file in the repository",
    ]
    assert check.main(["--readme", str(readme), "--no-browser"]) == 1


def test_the_readme_shows_the_day_ahead_charts_and_every_image_exists():
    readme = ROOT / "README.md"
    assert check.problems(readme) == []
    targets = {r.target for r in check.references(readme.read_text(encoding="utf-8"))}
    assert {
        "docs/img/day_ahead_steps_price.svg",
        "docs/img/day_ahead_steps_price_level.svg",
        "docs/img/day_ahead_fan_price.svg",
    } <= targets
    for target in targets:
        root = ET.parse(ROOT / target).getroot()
        assert root.tag == f"{SVG}svg" and root.find(f"{SVG}title").text
        assert check.svg_size(ROOT / target) == (860, 380)


# --- scripts/results_table.py: the rows of a task with quantiles ---------------------

results_table = load("results_table")


def test_results_table_shows_coverage_width_and_pinball_skill(tmp_path):
    report = {
        "price": {
            "model": {
                "mae": 4.0,
                "pinball": 1.5,
                "coverage_80": 0.793,
                "width_80": 13.4,
            },
            "baselines": {
                "persistence": {"mae": 10.0},
                "naive_interval": {
                    "mae": 10.0,
                    "pinball": 3.0,
                    "coverage_80": 0.775,
                    "width_80": 30.8,
                },
            },
            "skill": {"vs_persistence": {"value": 0.6, "ci_low": 0.5, "ci_high": 0.7}},
            "pinball_skill": {
                "vs_naive_interval": {
                    "value": 0.5,
                    "ci_low": 0.45,
                    "ci_high": 0.55,
                    "dm_p": 1e-6,
                },
                "vs_single_task": {
                    "value": 0.078,
                    "ci_low": -0.01,
                    "ci_high": 0.1,
                    "dm_p": 0.2,
                },
            },
        }
    }
    (tmp_path / "evaluate.json").write_text(json.dumps(report), encoding="utf-8")
    text = results_table.results_table(tmp_path)
    assert "| `price` | pinball | 1.50 | - | 3.00 | n/a |" in text
    assert "| `price` | 80% coverage | 0.793 | - | 0.775 | n/a |" in text
    assert "| `price` | 80% width | 13.40 | - | 30.80 | n/a |" in text
    assert (
        "| `price` | naive_interval (pinball) | +50.0% | [+45.0%, +55.0%] | <0.001"
        " | beats naive_interval |"
    ) in text
    assert (
        "| `price` | single-task (pinball) | +7.8% | [-1.0%, +10.0%] | 0.200"
        " | no clear difference |"
    ) in text
    assert text.endswith(results_table.PINBALL_NOTE)
    assert results_table.label("coverage_97_5") == "97.5% coverage"


def test_results_table_without_quantiles_has_no_pinball_note(tmp_path):
    report = {
        "demand": {
            "model": {"mae": 4.0},
            "baselines": {"persistence": {"mae": 10.0}},
            "skill": {"vs_persistence": {"value": 0.6, "ci_low": 0.5, "ci_high": 0.7}},
        }
    }
    (tmp_path / "evaluate.json").write_text(json.dumps(report), encoding="utf-8")
    text = results_table.results_table(tmp_path)
    assert text.endswith(results_table.INTERVAL_NOTE)
    assert "pinball" not in text


def test_references_read_alt_text_over_several_lines():
    refs = check.references("a\n\n![Error by step,\nmodel vs baselines](x.svg)\n")
    assert [(r.line, r.alt, r.target) for r in refs] == [
        (3, "Error by step, model vs baselines", "x.svg")
    ]


def test_svg_size_refuses_what_chromium_would_show_as_an_error_page(tmp_path):
    good = tmp_path / "good.svg"
    good.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="30" height="20"/>')
    assert check.svg_size(good) == (30, 20)
    cases = {
        "broken.svg": (
            '<svg xmlns="http://www.w3.org/2000/svg"><g></svg>',
            "not well-formed",
        ),
        "html.svg": ("<html/>", "root element html"),
        "sized.svg": (
            '<svg xmlns="http://www.w3.org/2000/svg" width="100%"/>',
            "no width and height",
        ),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_text(content)
        with pytest.raises(check.CheckError, match=message):
            check.svg_size(tmp_path / name)


def test_results_table_shows_the_macro_f1_difference_rows(tmp_path):
    report = {
        "level": {
            "model": {"log_loss": 0.5, "macro_f1": 0.84},
            "baselines": {"hgb_lag": {"log_loss": 0.5, "macro_f1": 0.78}},
            "skill": {"vs_hgb_lag": {"value": 0.0, "ci_low": -0.2, "ci_high": 0.2}},
            "macro_f1_diff": {
                "vs_hgb_lag": {"value": 0.06, "ci_low": 0.021, "ci_high": 0.1},
            },
        }
    }
    (tmp_path / "evaluate.json").write_text(json.dumps(report), encoding="utf-8")
    text = results_table.results_table(tmp_path)
    assert (
        "| `level` | hgb_lag (macro-F1) | +0.060 | [+0.021, +0.100] | - "
        "| beats gradient boosting |"
    ) in text
    assert text.endswith(results_table.MACRO_F1_NOTE)
