"""Studies 5-9 (init statistics, babysitting, lr search, mode connectivity, factor effects) through
the real Snakemake workflow on the smoke preset at a tiny size: every table and figure, the lr
search's second round chosen through the checkpoint, and a second invocation with nothing to do."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import workspace

pytestmark = pytest.mark.integration

# Small enough to finish quickly: init-stats runs at batch norm are the grid's own runs, the lr
# search trains 1 + 1 runs of one epoch, the pair adds one run (tanh × adam) to the grid.
TINY_STUDIES = """
studies:
  ensembles: {enabled: false}
  init_stats: {enabled: true, layers: 3, units: 16, examples: 32, bins: 5, inits: [he_normal], run_norm: batch}
  babysitting: {enabled: true, strengths: [0.0, 0.1], max_steps: 30}
  lr_search: {enabled: true, coarse: {samples: 1, epochs: 1}, fine: {samples: 1, epochs: 1}}
  mode_connectivity: {enabled: true, points: 3, bezier_epochs: 1}
  factor_effects:
    enabled: true
    seeds: [0]
    pairs: [{activation: [relu, tanh], optimizer: [{name: momentum, lr: 0.05}, {name: adam, lr: 0.001}]}]
"""
TABLES = ["init_stats", "init_stats_histograms", "init_stats_runs", "babysitting", "lr_search_coarse", "lr_search",
          "lr_search_best", "mode_connectivity", "mode_connectivity_barriers", "main_effects", "factor_ranking",
          "interactions", "interaction_tests"]
FIGURES = ["init_histograms", "init_layer_stats", "init_runs", "babysitting_checks", "lr_search", "mode_connectivity",
           "main_effects", "interactions"]


def snakemake(where: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "workflow/presets/smoke.yaml",
               "studies.yaml", *args]
    return subprocess.run(command, cwd=where, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def studies_run(tmp_path_factory) -> Path:
    where = workspace(tmp_path_factory.mktemp("studies"))
    (where / "studies.yaml").write_text(TINY_STUDIES)
    result = snakemake(where)
    assert result.returncode == 0, result.stderr[-3000:]
    return where


def test_every_study_table_and_figure_is_written(studies_run: Path):
    for table in TABLES:
        assert (studies_run / "results/tables" / f"{table}.csv").is_file(), table
    for name in FIGURES:
        assert (studies_run / "reports/figures" / f"{name}.png").stat().st_size > 1000, name
    html = (studies_run / "reports/report.html").read_text()
    for section in ("Initialization statistics", "Babysitting checks", "Learning-rate search", "Mode connectivity",
                    "Factor effects"):
        assert section in html


def test_runs_save_activation_statistics_and_weights_only_where_a_study_reads_them(studies_run: Path):
    from trickbench.config import load_config
    from trickbench.workflow import plan_from_config

    plan = plan_from_config(load_config(studies_run / "config.yaml", studies_run / "workflow/presets/smoke.yaml",
                                        studies_run / "studies.yaml"))
    endpoints = set(plan.studies["mode_connectivity"])
    assert len(endpoints) == 2
    for run in (studies_run / "results/runs").iterdir():
        assert "activations.csv" in {p.name for p in run.iterdir()}
        assert (run / "model.pt").exists() == (run.name in endpoints), run.name


def test_the_fine_stage_was_chosen_from_the_coarse_table(studies_run: Path):
    runs = pd.read_csv(studies_run / "results/tables/lr_search.csv")
    assert sorted(runs["stage"]) == ["coarse", "fine"]
    best = pd.read_csv(studies_run / "results/tables/lr_search_best.csv")
    assert set(best["stage"]) == {"coarse", "fine"} and set(best["parameter"]) == {"lr", "strength"}


def test_tables_hold_what_each_study_promises(studies_run: Path):
    tables = lambda name: pd.read_csv(studies_run / "results/tables" / f"{name}.csv")
    assert len(tables("init_stats")) == 2 * 1 * 3  # tanh, relu × he_normal × 3 layers
    assert set(tables("init_stats_runs")["moment"]) == {"start", "end"}
    checks = tables("babysitting")
    assert {"initial loss ≈ ln(classes)", "loss rises with regularization", "gradients vs finite differences"} <= set(checks["check"])
    path = tables("mode_connectivity")
    assert set(path["path"]) == {"line", "bezier"} and sorted(path["t"].unique()) == [0.0, 0.5, 1.0]
    cells = tables("interactions")
    assert len(cells) == 4 and (cells["n"] == 1).all()
    assert set(tables("main_effects")["factor"]) == {"activation", "optimizer"}


def test_a_second_invocation_has_nothing_to_do(studies_run: Path):
    result = snakemake(studies_run, "-n")
    assert result.returncode == 0 and "Nothing to be done" in result.stdout + result.stderr, result.stdout[-2000:]


def test_changing_a_study_setting_reruns_only_that_study(studies_run: Path):
    result = snakemake(studies_run, "-n", "--config", "studies={babysitting: {enabled: true, subset: 10}}")
    output = result.stdout + result.stderr
    assert re.search(r"study_babysitting\s+1", output)
    assert not [rule for rule in re.findall(r"^(\w+)\s+\d+$", output, re.M) if rule.startswith("train")]
