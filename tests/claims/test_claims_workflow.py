"""The claims rule in the real Snakemake workflow, on the smoke preset (on synthetic 8×8 images)
with two tiny studies: the grid and the studies train, collect writes the tables, and the rule
judges every registered claim from them — the claims whose runs exist get an effect, the others say
which setting runs them; the CNN claim on smoke's MLP is outside this setup. And the claims-deep
preset, scaled down to tiny synthetic images and 2 epochs, meets the conditions it is named for."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import workspace
from trickbench.claims import NOT_RUN, OUTSIDE
from trickbench.claims.registered import load_all

pytestmark = pytest.mark.integration

# smoke's grid (relu/tanh × momentum/adam, 2 seeds, 2 epochs) on synthetic 8×8 images (no claim's
# conditions name the data), its 6 runs in one process: the ensemble's 2 members and the
# init-statistics runs are grid runs already, so the studies add no training
TINY = """
data: {source: {name: synthetic, n_train: 200, n_test: 60, size: 8}, val_fraction: 0.2}
execution: {runs_per_job: 6}
studies:
  ensembles: {enabled: true, members: 2, mc_dropout_passes: 0}
  init_stats: {enabled: true, layers: 3, units: 16, examples: 32, bins: 5, inits: [he_normal], run_norm: batch}
"""
RAN = ("sgd_generalizes_better_than_adam", "adam_faster_initial_progress",
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
    relu = scorecard.loc["relu_trains_faster_than_tanh"]
    assert relu["verdict"] == OUTSIDE and "here model.name = mlp" in relu["note"]
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


# claims-deep at a test's size: its conditions (a 4-layer CNN, constant rate, 3 rates per activation,
# the small-init loss check, the epoch-0 evaluation) with tiny synthetic 16×16 images, 2 seeds, 2
# epochs, 2 pairs of endpoints on a training subset (the preset's 3 pairs would add 2 more runs) and
# 1-epoch curves; the 16 runs in one training process
TINY_DEEP = """
data: {source: {name: synthetic, n_train: 160, n_test: 40, size: 16}, val_fraction: 0.25}
execution: {runs_per_job: 16}
model: {name: cnn, depth: 4, width: 4}
train: {epochs: 2, batch_size: 32}
design: {seeds: [0, 1]}
studies:
  babysitting: {subset: 8, max_steps: 5}
  mode_connectivity: {seeds: [0, 1, 2, 3], train_subset: 60, epochs: 2, points: 3, bezier_epochs: 1}
"""


def test_the_deep_preset_at_a_tests_size_meets_its_conditions(tmp_path):
    where = workspace(tmp_path)
    (where / "tiny.yaml").write_text(TINY_DEEP)
    command = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "workflow/presets/claims-deep.yaml",
               "tiny.yaml", "--", "results/tables/claims.csv"]
    result = subprocess.run(command, cwd=where, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    scorecard = pd.read_csv(where / "results/tables/claims.csv").set_index("claim")
    relu = scorecard.loc["relu_trains_faster_than_tanh"]
    assert relu["verdict"] not in (OUTSIDE, NOT_RUN), relu.to_dict()  # its conditions are met
    # the preset scores every run's untrained model (epoch 0): the time to the target counts from it
    assert "at its fastest of 3 rates" in relu["note"], relu["note"]
    assert "counted from the untrained model's evaluation at epoch 0" in relu["note"], relu["note"]
    epochs = pd.read_csv(where / "results/tables/epochs.csv")
    assert (epochs.groupby("run_id")["epoch"].min() == 0).all()
    loss = scorecard.loc["initial_loss_is_ln_classes"]
    assert loss["verdict"] == "reproduced" and abs(loss["effect"] - 1) < 0.01  # logits ≈ 0 at 0.0001·randn
    # two epochs leave the endpoints far from zero training error: not minima, so outside this setup
    curve = scorecard.loc["curves_connect_minima"]
    assert curve["verdict"] == OUTSIDE and "mode_connectivity.endpoint_train_error" in curve["note"]
    assert curve["n"] == 2 and "2 pair(s) of solutions (the baseline's seeds 0–1, 2–3)" in curve["sample"]
    log = (where / "results/logs/claims.log").read_text()
    assert "Setup: cnn (depth 4, width 4) on synthetic" in log and "each activation run at 3 rates" in log
