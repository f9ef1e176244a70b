"""The registry of claims: enough of them, every technique family and every phenomenon covered, each
with its source, quantity, the setting that runs it and evidence that the report draws — and the
presets that run them all, at demo and at full scale, without touching the claims."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from trickbench.claims import CLAIMS, PHENOMENA, Difference, NotRun, Results, Threshold, claim
from trickbench.claims.registered import load_all
from trickbench.techniques import FAMILIES

#: the phenomena the issue names; the registry may cover more (calibration)
REQUIRED_PHENOMENA = ("gap", "early stopping", "double descent", "ensembles", "checkpoint averaging",
                      "initialization statistics", "babysitting", "mode connectivity")
PRESET, FULL = REPO / "workflow/presets/claims.yaml", REPO / "workflow/presets/claims-full.yaml"


@pytest.fixture(scope="module")
def claims():
    return load_all()


def test_at_least_fifteen_claims(claims):
    assert len(claims) >= 15


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_technique_family_has_a_claim(claims, family):
    assert any(c.family == family for c in claims.values()), family


@pytest.mark.parametrize("phenomenon", REQUIRED_PHENOMENA)
def test_every_phenomenon_has_a_claim(claims, phenomenon):
    assert phenomenon in PHENOMENA
    assert any(c.phenomenon == phenomenon for c in claims.values()), phenomenon


def test_each_claim_says_where_it_comes_from_what_it_measures_and_what_runs_it(claims):
    for c in claims.values():
        assert c.statement.endswith(".") and len(c.statement) > 30, c.name
        assert re.search(r"\b(19|20)\d\d\b", c.source) or "cs231n" in c.source, c.name
        assert c.quantity and c.needs, c.name
        assert c.family in (None, *FAMILIES) and c.phenomenon in (None, *PHENOMENA), c.name
        assert c.family or c.phenomenon, c.name
        assert isinstance(c.rule, (Difference, Threshold)), c.name


def test_evidence_names_figures_the_report_draws(claims):
    from trickbench.report.figures import FIGURES
    from trickbench.report.render import load_all as load_figures

    load_figures()
    for c in claims.values():
        assert c.evidence, c.name
        assert set(c.evidence) <= set(FIGURES), c.name


def test_without_results_every_claim_is_not_run_and_names_its_setting(claims, tmp_path):
    for c in claims.values():
        measurement = c.measure(Results(tmp_path))
        assert isinstance(measurement, NotRun), c.name
        assert re.search(r"\bset (design|studies)\.", measurement.missing), (c.name, measurement.missing)


def test_a_claim_is_registered_once_with_a_known_phenomenon():
    with pytest.raises(ValueError, match="twice"):
        claim(next(iter(load_all())), statement="", source="", quantity="", needs="",
              rule=Difference("points"))(lambda results: None)
    with pytest.raises(ValueError, match="unknown phenomenon"):
        claim("x_claim", statement="", source="", quantity="", needs="", rule=Difference("points"),
              phenomenon="grokking")(lambda results: None)
    assert "x_claim" not in CLAIMS


def test_the_claims_rule_waits_for_every_enabled_study(tmp_path):
    from trickbench.claims import input_tables
    from trickbench.config import load_config

    config = load_config(REPO / "config.yaml", PRESET)
    tables = input_tables(config)
    assert tables[:2] == ["runs", "epochs"]
    for needed in ("init_stats", "early_stopping", "double_descent", "double_descent_summary", "ensembles",
                   "checkpoint_averaging", "babysitting", "mode_connectivity"):
        assert needed in tables


def test_the_preset_runs_every_claim(claims):
    """Every grid claim's two levels are factors of the preset; every study a claim reads is on."""
    from trickbench.config import load_config

    config = load_config(REPO / "config.yaml", PRESET)
    factors = {family: [level if isinstance(level, str) else level["name"] for level in levels]
               for family, levels in config["design"]["factors"].items()}
    compared = 0
    for c in claims.values():
        for family, higher, lower in re.findall(r"design\.factors\.(\w+) to include (\w+) and (\w+)", c.needs):
            assert {higher, lower} <= set(factors[family]), c.name
            compared += 1
        for study in re.findall(r"studies\.(\w+)\.enabled", c.needs):
            assert config["studies"][study]["enabled"], (c.name, study)
    assert compared == sum(c.family is not None and "design.factors" in c.needs for c in claims.values()) >= 9
    assert config["studies"]["ensembles"]["members"] <= len(config["design"]["seeds"])  # members are grid runs


def test_the_full_scale_preset_switches_data_model_and_epochs_only():
    full = yaml.safe_load(FULL.read_text())
    assert set(full) == {"data", "model", "train"} and set(full["train"]) == {"epochs"}
    assert full["data"] == {"source": "cifar10"}


def test_each_claim_says_whose_it_is(claims):
    """The lecture's line it comes from, or a paper (a year in its source); the lecture's claims the
    issue lists are registered."""
    for c in claims.values():
        assert c.lecture or re.search(r"\b(19|20)\d\d\b", c.source), c.name
        if c.lecture:
            assert "cs231n" in c.source, c.name
    for name in ("ema_beats_final_weights", "ensemble_gains_about_two_percent", "batch_norm_regularizes",
                 "momentum_beats_sgd", "regularization_raises_loss", "test_error_falls_past_interpolation"):
        assert claims[name].lecture, name
