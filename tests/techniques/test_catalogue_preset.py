"""The catalogue preset through the real Snakemake workflow: every registered technique trained
once (57 runs), collected, drawn in the per-factor figure and reported.

The preset trains on the embedded real images; here its data is swapped for small synthetic
8×8 images, all 57 runs share one training process (`execution.runs_per_job`, which changes no
run) and the calibration study (4 more seeds of the baseline; it runs in the smoke workflows of
tests/integration/test_workflow.py and tests/claims/test_claims_workflow.py) is off, so the test
costs little more than one job's start-up (the preset's grid is what runs, technique for technique)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import workspace
from trickbench.techniques import FAMILIES

pytestmark = pytest.mark.integration


def built_in(registry) -> set[str]:
    """The registry's own techniques: a plugin another test of this process loaded (the fault
    injection's `boom`) is no part of the catalogue."""
    return {entry.name for entry in registry if entry.plugin is None}


@pytest.fixture(scope="module")
def catalogue_run(tmp_path_factory) -> Path:
    where = workspace(tmp_path_factory.mktemp("catalogue"))
    (where / "tiny_data.yaml").write_text("data: {source: {name: synthetic, n_train: 200, n_test: 60, size: 8}, val_fraction: 0.2}\n"
                                          "execution: {runs_per_job: 57}\nstudies: {calibration: {enabled: false}}\n")
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile",
                             "workflow/presets/catalogue.yaml", "tiny_data.yaml"],
                            cwd=where, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return where


def test_every_technique_trains_to_an_ok_run(catalogue_run: Path):
    runs = pd.read_csv(catalogue_run / "results/tables/runs.csv")
    assert len(runs) == 57 and set(runs["status"]) == {"ok"}
    for family, registry in FAMILIES.items():
        labels = {name for label in runs[family] for name in label.split("+")}
        assert built_in(registry) <= labels | {"none"}, family


def test_compute_is_counted_per_optimizer(catalogue_run: Path):
    runs = pd.read_csv(catalogue_run / "results/tables/runs.csv").set_index("varies", append=True)
    by_optimizer = runs.xs("optimizer", level="varies").set_index("optimizer")["grad_evals"]
    baseline = runs.xs("baseline", level="varies")["grad_evals"].item()
    assert by_optimizer["sam"] == 2 * baseline and by_optimizer["lbfgs"] > baseline and by_optimizer["adam"] == baseline


def test_every_level_appears_in_the_per_factor_figure(catalogue_run: Path):
    effects = pd.read_csv(catalogue_run / "reports/figures/factor_effects.csv")
    for family, registry in FAMILIES.items():
        levels = {name for label in effects.loc[effects["factor"] == family, "level"] for name in label.split("+")}
        assert built_in(registry) <= levels | {"none"}, family
    assert (catalogue_run / "reports/report.html").stat().st_size > 0
