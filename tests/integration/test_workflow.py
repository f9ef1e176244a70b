"""The real Snakemake workflow on the smoke preset, in a temporary copy of the repository's
workflow files: every expected file, tidy tables, an HTML report with its figures embedded, and a
second invocation with nothing to do. (A bad --config value stopping Snakemake before any job is
tests/integration/test_bad_config_snakemake.py's; the bad level's line, tests/reliability/test_bad_input.py's.)"""

from __future__ import annotations

import base64
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, workspace

pytestmark = pytest.mark.integration
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def snakemake(where: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SNAKEMAKE, "--cores", "2", *args], cwd=where, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    where = workspace(tmp_path_factory.mktemp("smoke"))
    result = snakemake(where, "--configfile", "workflow/presets/smoke.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    return where


def test_every_run_folder_is_complete(smoke_run: Path):
    runs = sorted((smoke_run / "results" / "runs").iterdir())
    assert len(runs) == 7  # 3 variants × 2 seeds, and a third baseline seed for the ensemble
    for run in runs:
        assert {"spec.json", "summary.json", "epochs.csv", "test_probs.npy"} <= {p.name for p in run.iterdir()}
        assert not (run / "checkpoint.pt").exists()
        probabilities = np.load(run / "test_probs.npy", allow_pickle=False)
        assert probabilities.shape == (846, 10)
        np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-4)


def test_tables_hold_one_finite_row_per_run(smoke_run: Path):
    runs = pd.read_csv(smoke_run / "results/tables/runs.csv")
    epochs = pd.read_csv(smoke_run / "results/tables/epochs.csv")
    assert len(runs) == runs["run_id"].nunique() == 6  # the grid's runs; the study's extra seed is its own
    assert len(epochs) == 6 * 2
    metrics = ["final_train_loss", "final_val_acc", "final_test_acc", "train_seconds", "images_per_s"]
    assert np.isfinite(runs[metrics].to_numpy(dtype=float)).all()
    assert set(runs["status"]) == {"ok"}
    assert set(runs["varies"]) == {"baseline", "activation", "optimizer"}


def test_report_embeds_every_figure(smoke_run: Path):
    html = (smoke_run / "reports/report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    figures = sorted((smoke_run / "reports/figures").glob("*.png"))
    assert len(images) == len(figures) >= 3
    assert all(base64.b64decode(data).startswith(b"\x89PNG") for data in images)
    assert "http://" not in html and "https://" not in html  # opens offline
    for run_id in pd.read_csv(smoke_run / "results/tables/runs.csv")["run_id"]:
        assert run_id in html


def test_second_invocation_has_nothing_to_do_even_with_other_execution_settings(smoke_run: Path):
    """One dry run for two checks (a Snakemake start costs ~8 CPU-s): a config change only adds
    reasons to rerun, so nothing to do with the execution settings changed is nothing to do at all."""
    result = snakemake(smoke_run, "--configfile", "workflow/presets/smoke.yaml", "-n",
                       "--config", "execution={eval_batch_size: 256, threads: 1}")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_dry_run_of_a_thousand_run_full_design_plans_in_seconds(tmp_path: Path):
    where = workspace(tmp_path)
    factors = ("{activation: [relu, tanh, sigmoid, gelu, elu], init: [he_normal, xavier_normal, orthogonal, default, small_gaussian],"
               " norm: [batch, none], regularizer: [none, l2, dropout, augment],"
               " optimizer: [sgd, momentum, nesterov, adam, {name: sgd, lr: 0.1}]}")  # 5·5·2·4·5 = 1000
    result = snakemake(where, "-n", "--quiet", "rules", "--config", "studies=none",
                       f"design={{kind: full, seeds: [0], factors: {factors}}}")
    assert result.returncode == 0, result.stderr[-2000:]
    per_job = yaml.safe_load((REPO / "config.yaml").read_text())["execution"]["runs_per_job"]
    jobs = set(re.findall(r"^(train_job_\d+)\s+1$", result.stdout, re.M))  # one rule per training job
    assert len(jobs) == math.ceil(1000 / per_job)


def test_tables_follow_their_data_dictionary_and_the_report_shows_compute_and_noise(smoke_run: Path):
    from trickbench.data_dictionary import column_names

    tables = smoke_run / "results/tables"
    for table in ("runs", "epochs"):
        assert list(pd.read_csv(tables / f"{table}.csv").columns) == column_names(table)
    assert set(pd.read_csv(tables / "dictionary.csv")["table"]) == {"runs", "epochs"}
    for name in ("noise_floor", "equal_compute", "ensemble_reliability"):
        assert (smoke_run / "reports/figures" / f"{name}.png").exists()
    for run in (smoke_run / "results/runs").iterdir():
        assert {"val_logits.npy", "test_logits.npy"} <= {p.name for p in run.iterdir()}


def test_snakemakes_own_report_holds_the_figures(smoke_run: Path):
    target = smoke_run / "snakemake-report.html"
    result = snakemake(smoke_run, "--configfile", "workflow/presets/smoke.yaml", "--report", str(target))
    assert result.returncode == 0, result.stderr[-2000:]
    text = target.read_text()
    for figure in (smoke_run / "reports/figures").glob("*.png"):
        assert figure.name in text


@pytest.mark.parametrize("execution, rule, expected", [
    ("{runs_per_job: 1, runs_per_cluster_job: 3}", "train", {"train-0": 3, "train-1": 3, "train-2": 1}),
    # with 2 runs per process a cluster job holds whole processes: 4 runs = 2 training jobs
    ("{runs_per_job: 2, runs_per_cluster_job: 4}", "train_job_\\d+", {"train-0": 2, "train-1": 2}),
])
def test_runs_per_cluster_job_puts_that_many_runs_in_one_group_job(tmp_path: Path, execution, rule, expected):
    where = workspace(tmp_path)
    result = snakemake(where, "-n", "--configfile", "workflow/presets/smoke.yaml", "--config", f"execution={execution}")
    assert result.returncode == 0, result.stderr[-2000:]
    groups = re.split(r"Group job (train-\d+)", result.stdout + result.stderr)[1:]
    trains = {name: len(re.findall(rf"rule {rule}:", body.split("rule study_")[0])) for name, body in zip(groups[::2], groups[1::2])}
    assert trains == expected  # 7 runs


def test_speed_and_scale_settings_retrain_nothing(smoke_run: Path):
    result = snakemake(smoke_run, "--configfile", "workflow/presets/smoke.yaml", "-n", "--config",
                       "execution={precision: bf16, compile: true, gpu_slots: 4, runs_per_cluster_job: 3, runs_per_job: 1,"
                       " seed_groups: always}")
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
    assert not re.search(r"^train(_job_\d+)?\s+\d+", output, re.MULTILINE)  # only the group markers are new
    assert re.search(r"^train_group\s+3\b", output, re.MULTILINE)
