"""Every study through the real Snakemake workflow in one run, on the smoke preset at a tiny size:
init statistics, babysitting, lr search, mode connectivity and factor effects beside the smoke
grid; the train/validation gap and early stopping, double descent over width, checkpoint
averaging (EMA, SWA) and the ensembles with MC dropout on the embedded real images. Their runs,
tables, figures and report sections; the lr search's second round chosen through the checkpoint;
a second invocation with nothing to do. One workflow run serves every test of this module (the
module is one unit of work for pytest-xdist: `--dist loadscope`)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import workspace

pytestmark = pytest.mark.integration

# Small enough to finish quickly. Beside the smoke grid (relu, tanh × momentum, adam × seeds 0, 1):
# init-stats runs at batch norm are the grid's own runs, the lr search trains 1 + 1 runs of one
# epoch, the pair adds one run (tanh × adam), the ensemble's 2 members are the baseline's seeds
# (retrained with MC dropout), early stopping trains 2 runs and retrains 2, double descent 3 and
# checkpoint averaging 2.
TINY_STUDIES = {
    "studies": {
        "init_stats": {"enabled": True, "layers": 3, "units": 16, "examples": 32, "bins": 5, "inits": ["he_normal"],
                       "run_norm": "batch"},
        "babysitting": {"enabled": True, "strengths": [0.0, 0.1], "max_steps": 30},
        "lr_search": {"enabled": True, "coarse": {"samples": 1, "epochs": 1}, "fine": {"samples": 1, "epochs": 1}},
        "mode_connectivity": {"enabled": True, "points": 3, "bezier_epochs": 1},
        "factor_effects": {"enabled": True, "seeds": [0],
                           "pairs": [{"activation": ["relu", "tanh"],
                                      "optimizer": [{"name": "momentum", "lr": 0.05}, {"name": "adam", "lr": 0.001}]}]},
        "ensembles": {"enabled": True, "members": 2, "mc_dropout_passes": 3},
        "early_stopping": {"enabled": True, "regularizers": ["none", {"name": "dropout", "p": 0.5}], "epochs": 3,
                           "patience": 1, "seeds": [0]},
        "double_descent": {"enabled": True, "train_subset": 300, "epochs": 3, "seeds": [0],
                           "models": [{"name": "mlp", "depth": 1, "image_size": 8, "widths": [2, 16]},
                                      {"name": "resnet", "blocks": 1, "norm": "batch", "epochs": 1, "widths": [1]}]},
        "checkpoint_averaging": {"enabled": True, "epochs": 3, "swa_start": 0.5, "seeds": [0]},
    },
}
TABLES = ["init_stats", "init_stats_histograms", "init_stats_runs", "babysitting", "lr_search_coarse", "lr_search",
          "lr_search_best", "mode_connectivity", "mode_connectivity_barriers", "main_effects", "factor_ranking",
          "interactions", "interaction_tests"]
FIGURES = ["init_histograms", "init_layer_stats", "init_runs", "babysitting_checks", "lr_search", "mode_connectivity",
           "main_effects", "interactions"]
#: figures of the four studies whose report sections carry an id per figure
SECTION_FIGURES = ["train_val_curves", "early_stopping_test", "double_descent", "weight_averaging", "ensemble_gain",
                   "mc_dropout"]


def snakemake(where: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "workflow/presets/smoke.yaml",
               "studies.yaml", *args]
    return subprocess.run(command, cwd=where, capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="module")
def studies_run(tmp_path_factory) -> Path:
    where = workspace(tmp_path_factory.mktemp("studies"))
    (where / "studies.yaml").write_text(yaml.safe_dump(TINY_STUDIES))
    result = snakemake(where)
    assert result.returncode == 0, result.stderr[-3000:]
    return where


def table(where: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(where / "results" / "tables" / f"{name}.csv")


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
    tables = lambda name: table(studies_run, name)
    assert len(tables("init_stats")) == 2 * 1 * 3  # tanh, relu × he_normal × 3 layers
    assert set(tables("init_stats_runs")["moment"]) == {"start", "end"}
    checks = tables("babysitting")
    assert {"initial loss ≈ ln(classes)", "loss rises with regularization", "gradients vs finite differences"} <= set(checks["check"])
    path = tables("mode_connectivity")
    assert set(path["path"]) == {"line", "bezier"} and sorted(path["t"].unique()) == [0.0, 0.5, 1.0]
    assert set(path["pair"]) == {"0–1"}  # the default seeds [0, 1]: one pair
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


def test_the_four_dag_studies_write_their_tables(studies_run):
    early = table(studies_run, "early_stopping")
    assert len(early) == 2 * 2  # runs × monitors (validation loss, validation accuracy)
    assert (early["stop_epoch"] <= 3).all() and early["test_acc_last"].between(0, 1).all()
    on_loss = early[early.monitor == "val_loss"]  # the second round: each run retrained for its stop epoch
    assert on_loss["test_acc_planned"].between(0, 1).all() and on_loss["planned_run_id"].notna().all()
    assert len(table(studies_run, "early_stopping_comparisons")) == 2 * 3  # levels × comparisons
    assert set(table(studies_run, "early_stopping_curves")["metric"]) == {"train_eval_loss", "val_loss",
                                                                         "train_eval_acc", "val_acc", "gap_acc"}
    descent = table(studies_run, "double_descent")
    assert descent["width"].tolist() == [2, 16, 1]
    mlp = descent[descent.family == "mlp(depth=1), 8×8 inputs"]
    assert mlp["n_parameters"].tolist() == [192 * w + w + 10 * w + 10 for w in (2, 16)]  # 8×8×3 inputs
    assert len(table(studies_run, "double_descent_summary")) == 3
    averaging = table(studies_run, "checkpoint_averaging")
    assert len(averaging) == 3 * 4  # epochs × (plain run: final, EMA; SWA run: SWA, its iterate)
    assert averaging[averaging.weights == "SWA"].dropna(subset=["test_acc"])["epoch"].min() == 2
    assert len(table(studies_run, "ensembles_mc_dropout")) == 2 * (3 + 1) * 3  # seeds × (passes + deterministic) × metrics


def test_mc_dropout_runs_keep_every_pass(studies_run):
    files = sorted((studies_run / "results" / "runs").glob("*/test_probs_mc_dropout.npy"))
    assert len(files) == 2
    passes = np.load(files[0], allow_pickle=False)
    assert passes.shape == (3, 846, 10)
    np.testing.assert_allclose(passes.sum(2), 1.0, atol=1e-4)


def test_report_has_the_four_dag_studies_sections_and_figures(studies_run):
    html = (studies_run / "reports" / "report.html").read_text()
    for name in SECTION_FIGURES:
        assert f'id="figure-{name}"' in html
    for title in ("Train/validation gap and early stopping", "Double descent over width",
                  "Checkpoint averaging: EMA and SWA", "Ensembles"):
        assert f"<h2>{title}</h2>" in html
