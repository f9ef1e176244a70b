"""The claims rule in the real Snakemake workflow, on the smoke preset with two tiny studies: the grid
and the studies train, collect writes the tables, and the rule judges every registered claim from
them — the claims whose runs exist get an effect, the others say which setting runs them."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import workspace
from trickbench.claims import NOT_RUN
from trickbench.claims.registered import load_all

pytestmark = pytest.mark.integration

# smoke's grid (relu/tanh × momentum/adam, 2 seeds, 2 epochs): the ensemble's 2 members and the
# init-statistics runs are grid runs already, so the studies add no training
TINY = """
studies:
  ensembles: {enabled: true, members: 2, mc_dropout_passes: 0}
  init_stats: {enabled: true, layers: 3, units: 16, examples: 32, bins: 5, inits: [he_normal], run_norm: batch}
"""
RAN = ("relu_trains_faster_than_tanh", "sgd_generalizes_better_than_adam", "adam_faster_initial_progress",
       "ensemble_beats_single_model", "temperature_scaling_fixes_calibration", "he_init_keeps_relu_variance")


def snakemake(where: Path, *targets: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "workflow/presets/smoke.yaml",
               "tiny.yaml", "--", *targets]
    return subprocess.run(command, cwd=where, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def judged(tmp_path_factory) -> Path:
    where = workspace(tmp_path_factory.mktemp("claims"))
    (where / "tiny.yaml").write_text(TINY)
    result = snakemake(where, "results/tables/claims.csv")
    assert result.returncode == 0, result.stderr[-3000:]
    return where


def test_every_claim_is_judged_from_the_tables(judged: Path):
    scorecard = pd.read_csv(judged / "results/tables/claims.csv").set_index("claim")
    assert list(scorecard.index) == list(load_all())
    for name in RAN:
        assert scorecard.loc[name, "verdict"] != NOT_RUN, name
        assert math.isfinite(scorecard.loc[name, "effect"]), name
    assert scorecard.loc["sgd_generalizes_better_than_adam", "sample"] == "2 seeds, paired"
    assert scorecard.loc["double_descent_peak_at_interpolation", "verdict"] == NOT_RUN
    assert "studies.double_descent.enabled" in scorecard.loc["double_descent_peak_at_interpolation", "note"]
    evidence = pd.read_csv(judged / "results/tables/claims_evidence.csv")
    assert set(RAN) <= set(evidence["claim"])


def test_the_command_prints_the_same_verdicts(judged: Path):
    result = subprocess.run([sys.executable, "-m", "trickbench", "claims", "--tables", "results/tables", "--configfile",
                             "config.yaml", "--configfile", "workflow/presets/smoke.yaml", "--configfile", "tiny.yaml"],
                            cwd=judged, capture_output=True, text=True, check=True)
    scorecard = pd.read_csv(judged / "results/tables/claims.csv")
    counts = scorecard["verdict"].value_counts()
    assert f"{int(counts.get('not run', 0))} not run" in result.stdout.splitlines()[0]


def test_a_second_invocation_has_nothing_to_do(judged: Path):
    result = snakemake(judged, "results/tables/claims.csv")
    assert result.returncode == 0 and "Nothing to be done" in result.stdout + result.stderr
