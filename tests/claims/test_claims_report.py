"""The report opens with the claims' scorecard: above the summary, first in the navigation, the setup
that ran it, one row per claim that ran with its verdict and result, one line naming the rest with
the preset that runs them, every evidence link resolving to a figure on the page."""

from __future__ import annotations

import math
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
def report(tmp_path_factory) -> tuple[pd.DataFrame, ScorecardPage, str]:
    """A 3-seed ablation whose dropout level scores 5 points more, with its claims judged."""
    folder = tmp_path_factory.mktemp("report")
    config = grid_config(TINY_CONFIG, {"kind": "ablation", "seeds": [0, 1, 2],
                                       "factors": {"activation": ["relu", "tanh"], "regularizer": ["none", "dropout"]}})
    write_tables(folder / "tables", config, effects={("regularizer", "dropout"): 5.0}, noise=0.2)
    scorecard = write_scorecard(folder / "tables", config, folder / "tables/claims.csv",
                                folder / "tables/claims_evidence.csv")
    html = render_report(folder / "tables", config, folder).read_text()
    return scorecard, ScorecardPage(html), html


def test_the_scorecard_opens_the_page(report):
    _, page, _ = report
    assert page.nav[0] == "#claims"
    assert page.ids.index("claims") < page.ids.index("summary")


def test_the_first_screen_is_the_setup_and_the_claims_that_ran(report):
    """Setup line above the table; a row for each claim that ran, in registry order; the rest (most
    of them on this grid) named on one line with their presets, not as rows."""
    scorecard, page, html = report
    ran = scorecard[scorecard["verdict"] != "not run"]
    assert 0 < len(ran) < len(scorecard) / 2
    assert page.rows == [f"claim-{name}" for name in load_all() if name in set(ran["claim"])]
    assert page.verdicts == [f"verdict-{v.replace(' ', '-')}" for v in ran["verdict"]]
    assert scorecard.set_index("claim").loc["dropout_improves_test_accuracy", "verdict"] == "reproduced"
    assert html.index("<strong>Setup: mlp") < html.index('id="claims-table"')
    rest = html[html.index("Not run here"):].split("</p>")[0]
    assert rest.startswith(f"Not run here ({len(scorecard) - len(ran)} of {len(scorecard)}):")
    assert all(name in rest for name in scorecard.loc[scorecard["verdict"] == "not run", "claim"])
    assert "workflow/presets/claims.yaml" in rest


def test_the_cnn_claim_on_an_mlp_grid_is_outside_this_setup(report):
    """ReLU vs tanh ran, on a 2-layer MLP under a cosine schedule at one rate: the paper's 4-layer
    CNN at a constant rate chosen for speed is not met, so the verdict names what is unmet and the
    preset that meets it — never "not reproduced"."""
    scorecard, page, _ = report
    row = scorecard.set_index("claim").loc["relu_trains_faster_than_tanh"]
    assert row["verdict"] == "outside this setup"
    assert "here model.name = mlp" in row["note"] and "here baseline.schedule = cosine" in row["note"]
    assert "workflow/presets/claims-deep.yaml" in row["note"] and math.isnan(row["p_holm"])
    assert "verdict-outside-this-setup" in page.verdicts


def test_evidence_links_resolve_to_figures_on_the_page(report):
    scorecard, page, _ = report
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
