"""The HTML report's page, read back as a parser reads it: self-contained, every section reachable
from the navigation, every figure embedded with its caption and data, every run in the table —
for an ordinary grid, a single run, a grid whose runs all diverged and a 1,000-run design."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import TINY_CONFIG
from synthetic_results import THOUSAND_FACTORS, grid_config, render_report, write_tables
from trickbench.report.render import enabled_figures
from trickbench.report.html import RUNS_PAGE_SIZE, pm, slug

#: the 1,000-run report must stay mailable; it measured 1.7 MB when written
THOUSAND_RUNS_MAX_BYTES = 3_000_000


class Page(HTMLParser):
    """Ids, navigation links, images, captions, download links and runs-table rows of a page."""

    def __init__(self, text: str):
        super().__init__()
        self.ids, self.nav_links, self.images, self.downloads, self.run_rows = set(), [], [], [], []
        self.captions = 0
        self._in_nav = self._in_runs = False
        self.status_cells: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        self._in_nav |= tag == "nav"
        self._in_runs |= attrs.get("id") == "runs-table"
        if tag == "a" and self._in_nav:
            self.nav_links.append(attrs["href"])
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "a" and "download" in attrs:
            self.downloads.append(attrs["href"])
        if tag == "figcaption":
            self.captions += 1
        if tag == "tr" and self._in_runs:
            self.run_rows.append(attrs)
        if tag == "td" and self._in_runs and attrs.get("class", "").startswith("status-"):
            self.status_cells.append(attrs["class"])

    def handle_endtag(self, tag):
        if tag == "nav":
            self._in_nav = False
        if tag == "table":
            self._in_runs = False


def build(tmp_path: Path, design: dict, **tables) -> tuple[dict, str, Page]:
    config = grid_config(TINY_CONFIG, design)
    write_tables(tmp_path / "tables", config, **tables)
    html = render_report(tmp_path / "tables", config, tmp_path).read_text()
    return config, html, Page(html)


def assert_self_contained(config: dict, html: str, page: Page) -> None:
    assert "http://" not in html and "https://" not in html  # nothing fetched: it opens offline
    assert all(link.startswith("#") and link[1:] in page.ids for link in page.nav_links)
    figures = enabled_figures(config)
    assert {f"#{slug(f.section)}" for f in figures} | {"#summary", "#runs", "#environment"} == set(page.nav_links)
    assert len(page.images) == page.captions == len(figures)
    assert all(base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG") for src in page.images)
    assert all(href.startswith("data:text/csv;base64,") for href in page.downloads)


@pytest.fixture(scope="module")
def ablation(tmp_path_factory):
    design = {"kind": "ablation", "seeds": [0, 1, 2],
              "factors": {"activation": ["relu", "tanh", "sigmoid"], "init": ["he_normal", "small_gaussian"]}}
    return build(tmp_path_factory.mktemp("ablation"), design, effects={("activation", "tanh"): -10.0},
                 status=lambda s: "diverged" if s.activation.name == "sigmoid" and s.seed == 2 else "ok")


def test_an_ablation_report_is_complete(ablation):
    config, html, page = ablation
    assert_self_contained(config, html, page)
    assert len(page.run_rows) == 1 + 12  # the header and one row per run
    assert page.status_cells.count("status-bad") == 1 and page.status_cells.count("status-ok") == 11
    assert "Every run has norm=batch, regularizer=none, optimizer=momentum" in html  # said once, not a column each
    assert "<button type=\"button\">norm</button>" not in html and "<button type=\"button\">init</button>" in html


def test_the_summary_says_what_ran_and_what_it_found(ablation):
    _, html, _ = ablation
    text = re.sub(r"<[^>]+>", "", html)
    assert "12: 11 ok, 1 diverged — 1 did not train to the end" in text
    assert "ablation: 4 configurations × seeds 0, 1, 2" in text
    assert "1 of 12 runs diverged: activation=sigmoid (seed 2)." in text
    assert re.search(r"activation tanh trails the baseline relu by 10\.\d points of test accuracy \([^)]*3 seeds; paired t, "
                     r"95 % CI −\d+\.\d to −\d+\.\d Holm-corrected over 3 comparisons\)", text)
    assert "chosen on validation accuracy among 4 configurations" in text
    assert re.search(r"(vs|beats|trails) the (runner-up on validation|baseline)", text.split("Findings")[0])  # best vs rest
    assert "Every level against the baseline (3 comparisons)" in text


def test_the_environment_says_where_the_numbers_came_from(ablation):
    _, html, _ = ablation
    environment = re.sub(r"<[^>]+>", " ", html.split('id="environment"')[1])
    for fact in ("git commit", "0123456789ab", "torch", "2.14.1", "device name", "x86_64", "report generated",
                 "run wall time", "46 s in all over 12 runs (34 s of it training); longest run 4 s"):
        assert fact in environment


def test_a_single_run(tmp_path):
    config, html, page = build(tmp_path, {"kind": "ablation", "seeds": [0], "factors": {"activation": ["relu"]}})
    assert_self_contained(config, html, page)
    assert len(page.run_rows) == 2
    assert "1, trained to the end" in html and "nothing to compare" in html


def test_only_diverged_runs(tmp_path):
    config, html, page = build(tmp_path, {"kind": "ablation", "seeds": [0, 1], "factors": {"activation": ["relu", "tanh"]}},
                               status=lambda spec: "diverged")
    assert_self_contained(config, html, page)
    assert "4: 4 diverged — 4 did not train to the end" in html
    assert "best configuration" not in html  # nothing finished, so nothing to choose
    assert page.status_cells == ["status-bad"] * 4


def test_a_thousand_runs_stay_a_reasonable_size(tmp_path):
    config, html, page = build(tmp_path, {"kind": "full", "seeds": [0], "factors": THOUSAND_FACTORS},
                               effects={("activation", "sigmoid"): -8.0})
    assert_self_contained(config, html, page)
    assert len(page.run_rows) == 1 + RUNS_PAGE_SIZE  # the header and the first page; the script shows the others
    rows = json.loads(re.search(r'<script type="application/json" id="runs-data">(.*?)</script>', html).group(1))
    assert len(rows) == 1000 and len({row[0] for row in rows}) == 1000  # every run, once
    assert len(html.encode()) < THOUSAND_RUNS_MAX_BYTES
    assert "averaged over the other factors" in html


def test_section_ids_never_clash_with_the_pages_own():
    assert slug("Factor grid") == "factor-grid" and slug("Double descent (width)") == "double-descent-width"
    assert slug("Summary") == "section-summary" and slug("All runs!") == "all-runs" and slug("runs") == "section-runs"


def test_plus_minus_only_where_there_is_an_interval():
    assert pm(41.234, 1.26) == "41.2 ± 1.3"
    assert pm(41.234, float("nan")) == "41.2"
    assert pm(float("nan"), 1.0) == "–"
