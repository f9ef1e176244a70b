"""The report opens with the claims' scorecard: above the summary, first in the navigation, one row
per claim with its verdict and result, every evidence link resolving to a figure on the page."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from conftest import TINY_CONFIG
from synthetic_results import grid_config, render_report, write_tables
from trickbench.claims.registered import load_all
from trickbench.claims.scorecard import write_scorecard


class ScorecardPage(HTMLParser):
    """Ids in page order, navigation links, and the claims table's rows, verdict badges and links."""

    def __init__(self, text: str):
        super().__init__()
        self.ids, self.nav, self.rows, self.verdicts, self.links, self.downloads = [], [], [], [], [], []
        self._nav = self._claims = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        self._nav |= tag == "nav"
        self._claims |= attrs.get("id") == "claims-table"
        if tag == "a" and self._nav:
            self.nav.append(attrs["href"])
        if self._claims and tag == "tr" and "id" in attrs:
            self.rows.append(attrs["id"])
        if self._claims and tag == "span" and attrs.get("class", "").startswith("verdict "):
            self.verdicts.append(attrs["class"].split()[1])
        if self._claims and tag == "a":
            self.links.append(attrs["href"])
        if tag == "a" and attrs.get("download") == "claims_evidence.csv":
            self.downloads.append(attrs["href"])

    def handle_endtag(self, tag):
        self._nav &= tag != "nav"
        self._claims &= tag != "table"


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[pd.DataFrame, ScorecardPage]:
    """A 3-seed ablation whose dropout level scores 5 points more, with its claims judged."""
    folder = tmp_path_factory.mktemp("report")
    config = grid_config(TINY_CONFIG, {"kind": "ablation", "seeds": [0, 1, 2],
                                       "factors": {"activation": ["relu", "tanh"], "regularizer": ["none", "dropout"]}})
    write_tables(folder / "tables", config, effects={("regularizer", "dropout"): 5.0}, noise=0.2)
    scorecard = write_scorecard(folder / "tables", config, folder / "tables/claims.csv",
                                folder / "tables/claims_evidence.csv")
    html = render_report(folder / "tables", config, folder).read_text()
    return scorecard, ScorecardPage(html)


def test_the_scorecard_opens_the_page(report):
    _, page = report
    assert page.nav[0] == "#claims"
    assert page.ids.index("claims") < page.ids.index("summary")


def test_every_claim_has_a_row_with_its_verdict(report):
    scorecard, page = report
    assert page.rows == [f"claim-{name}" for name in load_all()]
    assert page.verdicts == [f"verdict-{v.replace(' ', '-')}" for v in scorecard["verdict"]]
    assert scorecard.set_index("claim").loc["dropout_improves_test_accuracy", "verdict"] == "reproduced"


def test_evidence_links_resolve_to_figures_on_the_page(report):
    scorecard, page = report
    assert page.links, "the claims that ran link their evidence"
    assert all(link.startswith("#figure-") and link[1:] in page.ids for link in page.links)
    ran = scorecard[scorecard["verdict"] != "not run"]
    assert "#figure-factor_effects" in page.links and len(page.links) >= len(ran) - 1
    assert page.downloads and page.downloads[0].startswith("data:text/csv;base64,")


def test_a_report_without_claims_has_no_scorecard(tmp_path):
    config = grid_config(TINY_CONFIG, {"kind": "ablation", "seeds": [0], "factors": {"activation": ["relu", "tanh"]}})
    write_tables(tmp_path / "tables", config)
    page = ScorecardPage(render_report(tmp_path / "tables", config, tmp_path).read_text())
    assert "claims" not in page.ids and "#claims" not in page.nav
