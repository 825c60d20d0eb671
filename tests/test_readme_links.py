"""Every in-page link of README.md (``[text](#anchor)``) lands on a heading,
with GitHub's anchors: lower case, punctuation but hyphens dropped, spaces as
hyphens, a repeated heading suffixed -1, -2, ...; a renamed heading fails here."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT

LINK = re.compile(r"\]\(#([^)\s]+)\)")


def github_anchor(heading: str) -> str:
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """The anchors of the Markdown's headings (not of lines in code blocks)."""
    seen: dict[str, int] = {}
    out = set()
    fenced = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        found = None if fenced else re.match(r"#{1,6} (.+)", line)
        if not found:
            continue
        base = github_anchor(found[1])
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Configure: `params.yaml`", "configure-paramsyaml"),
        (
            "Example: France's day-ahead electricity prices",
            "example-frances-day-ahead-electricity-prices",
        ),
        (
            "Environment: locked dependencies, any recent Python",
            "environment-locked-dependencies-any-recent-python",
        ),
    ],
)
def test_github_anchor(heading, anchor):
    assert github_anchor(heading) == anchor


def test_repeated_headings_get_numbered_anchors():
    text = "## demand\n```\n## demand\n```\n## demand\n### Run times\n"
    assert anchors(text) == {"demand", "demand-1", "run-times"}


def test_every_in_page_link_of_the_readme_lands_on_a_heading():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    links = set(LINK.findall(text))
    assert "run-times" in links, "the README's links were not found"
    assert links - anchors(text) == set()
