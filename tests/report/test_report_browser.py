"""The report in a real browser: headless Chromium opens the generated file from disk and a test
reads what a person would see — no console error, every figure loaded, every navigation link
landing on its section, the runs table reordered by a click on a header and narrowed by typing
in the filter — and keeps a screenshot of the first screen as an artifact.

Skipped, saying why, where Chromium is not installed (Debian: `apt-get install chromium`;
.ci/run installs it).
"""

from __future__ import annotations

import json

import pytest

from chromium_driver import Browser, Page, find_chromium
from conftest import TINY_CONFIG, keep_artifact
from synthetic_results import grid_config, render_report, write_tables

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed "
                                "(apt-get install chromium; .ci/run installs it)")

DESIGN = {"kind": "ablation", "seeds": [0, 1],
          "factors": {"activation": ["relu", "tanh", "sigmoid"], "init": ["he_normal", "small_gaussian"]}}


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    config = grid_config(TINY_CONFIG, DESIGN)
    write_tables(folder / "tables", config, effects={("activation", "tanh"): -10.0},
                 status=lambda s: "diverged" if s.activation.name == "sigmoid" and s.seed == 1 else "ok")
    report = render_report(folder / "tables", config, folder)
    with Browser(CHROMIUM) as browser:
        tab = Page(browser, width=1280, height=800)
        tab.goto(report.resolve().as_uri())
        yield tab


def header_selector(page: Page, header: str) -> str:
    """A CSS selector of the runs table's header cell whose text is `header`."""
    index = page.evaluate(f"""Array.from(document.querySelectorAll("#runs-table thead th"))
        .findIndex(th => th.textContent.trim() === {json.dumps(header)})""")
    assert index >= 0, header
    return f"#runs-table thead th:nth-child({index + 1})"


def column(page: Page, header: str) -> list[str]:
    """The texts of a runs-table column, top to bottom, as displayed."""
    return page.evaluate(f"""(() => {{
        const table = document.getElementById("runs-table");
        const index = Array.from(table.tHead.rows[0].cells).findIndex(th => th.textContent.trim() === {json.dumps(header)});
        return Array.from(table.tBodies[0].rows).filter(r => !r.hidden).map(r => r.cells[index].textContent);
    }})()""")


def test_first_screen_screenshot(page, artifacts, request):
    shot = keep_artifact(request, page.screenshot(artifacts / "report-first-screen.png"))
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG") and int.from_bytes(data[16:20], "big") == 1280  # IHDR width


def test_no_console_errors(page):
    assert page.console_errors() == []


def test_every_image_loaded(page):
    from trickbench.config import validate_config
    from trickbench.report.render import enabled_figures

    widths = page.evaluate("Array.from(document.images).map(img => img.complete ? img.naturalWidth : 0)")
    expected = len(enabled_figures(validate_config(grid_config(TINY_CONFIG, DESIGN))))
    assert len(widths) == expected >= 3 and all(width > 0 for width in widths)


def test_every_navigation_link_lands_on_its_section(page):
    links = page.evaluate("Array.from(document.querySelectorAll('nav a')).map(a => a.getAttribute('href'))")
    assert links == ["#summary", "#factor-grid", "#equal-compute", "#runs", "#environment"]
    assert page.evaluate("Array.from(document.querySelectorAll('nav a')).every(a => document.querySelector(a.getAttribute('href')))")
    page.click('nav a[href="#runs"]')
    page.evaluate("new Promise(done => setTimeout(done, 1000))")  # smooth scrolling
    assert page.evaluate("location.hash") == "#runs"
    top = page.evaluate("document.getElementById('runs').getBoundingClientRect().top")
    assert 0 <= top < 200  # the section sits at the top, just under the sticky bar


def test_clicking_a_header_sorts_the_runs_table(page):
    header = header_selector(page, "test acc (returned model)")
    before = column(page, "test acc (returned model)")
    page.click(f"{header} button")
    ascending = column(page, "test acc (returned model)")
    page.click(f"{header} button")
    descending = column(page, "test acc (returned model)")
    numbers = lambda texts: [float(t) for t in texts if t != "–"]
    assert sorted(before) == sorted(ascending) and ascending != before
    assert numbers(ascending) == sorted(numbers(ascending)) and ascending[-1] == "–"  # the diverged run last
    assert numbers(descending) == sorted(numbers(descending), reverse=True) and descending[-1] == "–"
    assert page.evaluate(f"document.querySelector({json.dumps(header)}).getAttribute('aria-sort')") == "descending"


def test_typing_in_the_filter_narrows_the_runs_table(page):
    page.type_text("#run-filter", "diverged")
    assert column(page, "status") == ["diverged"]
    assert page.evaluate("document.getElementById('run-count').textContent") == "1 of 8 runs shown"
    page.evaluate("const f = document.getElementById('run-filter'); f.value = ''; f.dispatchEvent(new Event('input'))")
    assert len(column(page, "status")) == 8


# -- a grid larger than a page -------------------------------------------------------------------

MANY = {"kind": "full", "seeds": [0, 1, 2, 3, 4, 5],
        "factors": {"activation": ["relu", "tanh", "sigmoid", "gelu", "elu"], "init": ["he_normal", "xavier_normal",
                                                                                       "orthogonal", "small_gaussian", "default"],
                    "norm": ["batch", "none"]}}  # 5 × 5 × 2 × 6 seeds = 300 runs


@pytest.fixture(scope="module")
def paged(tmp_path_factory):
    folder = tmp_path_factory.mktemp("paged")
    config = grid_config(TINY_CONFIG, MANY)
    tables = write_tables(folder / "tables", config, status=lambda s: "diverged" if s.activation.name == "elu" and s.seed == 5 else "ok")
    report = render_report(folder / "tables", config, folder)
    with Browser(CHROMIUM) as browser:
        tab = Page(browser, width=1280, height=800)
        tab.goto(report.resolve().as_uri())
        yield tab, tables


def test_a_large_grid_is_shown_a_page_at_a_time_and_sorted_and_filtered_as_a_whole(paged):
    from trickbench.report.html import RUNS_PAGE_SIZE

    tab, tables = paged
    count = lambda: tab.evaluate("document.getElementById('run-count').textContent")
    assert len(column(tab, "run")) == RUNS_PAGE_SIZE and count() == f"300 of 300 runs; 1–{RUNS_PAGE_SIZE} shown"
    tab.click("#run-next")
    second_page = column(tab, "run")
    assert len(second_page) == RUNS_PAGE_SIZE and count() == f"300 of 300 runs; {RUNS_PAGE_SIZE + 1}–{2 * RUNS_PAGE_SIZE} shown"
    assert second_page == list(tables["run_id"][RUNS_PAGE_SIZE:2 * RUNS_PAGE_SIZE])  # plan order, page 2
    tab.click(f"{header_selector(tab, 'test acc (returned model)')} button")  # sorting sorts every run, then shows page 1
    lowest = column(tab, "test acc (returned model)")[0]
    ok = tables[tables["status"] == "ok"]
    assert float(lowest) == pytest.approx(100 * ok["final_test_acc"].min(), abs=0.05)
    tab.type_text("#run-filter", "diverged")  # filtering searches every page
    diverged = int((tables["status"] == "diverged").sum())  # elu's seed 5: 5 inits × 2 norms
    assert column(tab, "status") == ["diverged"] * diverged == ["diverged"] * 10 and count() == "10 of 300 runs shown"
    assert tab.evaluate("document.getElementById('run-pager').hidden")
    assert tab.console_errors() == []
