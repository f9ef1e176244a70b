"""Four studies through the real Snakemake DAG at a tiny size, on the embedded real images: the
train/validation gap and early stopping, double descent over width, checkpoint averaging (EMA,
SWA) and the ensembles study with MC dropout — their runs, tables, figures and report sections."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import workspace
from test_workflow import snakemake

pytestmark = pytest.mark.integration

#: the smoke preset's grid cut to the baseline's two seeds (which are also the ensemble's members)
TINY_STUDIES = {
    "design": {"kind": "ablation", "seeds": [0, 1],
               "factors": {"activation": ["relu"], "optimizer": [{"name": "momentum", "lr": 0.05}]}},
    "studies": {
        "ensembles": {"enabled": True, "members": 2, "mc_dropout_passes": 3},
        "early_stopping": {"enabled": True, "regularizers": ["none", {"name": "dropout", "p": 0.5}], "epochs": 3,
                           "patience": 1, "seeds": [0]},
        "double_descent": {"enabled": True, "train_subset": 300, "epochs": 3, "seeds": [0],
                           "models": [{"name": "mlp", "depth": 1, "image_size": 8, "widths": [2, 16]},
                                      {"name": "resnet", "blocks": 1, "norm": "batch", "epochs": 1, "widths": [1]}]},
        "checkpoint_averaging": {"enabled": True, "epochs": 3, "swa_start": 0.5, "seeds": [0]},
    },
}
FIGURES = ["train_val_curves", "early_stopping_test", "double_descent", "weight_averaging", "ensemble_gain", "mc_dropout"]


@pytest.fixture(scope="module")
def studies_run(tmp_path_factory):
    where = workspace(tmp_path_factory.mktemp("studies"))
    (where / "tiny_studies.yaml").write_text(yaml.safe_dump(TINY_STUDIES))
    result = snakemake(where, "--configfile", "workflow/presets/smoke.yaml", "tiny_studies.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    return where


def table(where, name: str) -> pd.DataFrame:
    return pd.read_csv(where / "results" / "tables" / f"{name}.csv")


def test_every_study_writes_its_tables(studies_run):
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


def test_report_has_each_study_section_and_figure(studies_run):
    html = (studies_run / "reports" / "report.html").read_text()
    for name in FIGURES:
        assert f'id="figure-{name}"' in html
    for title in ("Train/validation gap and early stopping", "Double descent over width",
                  "Checkpoint averaging: EMA and SWA", "Ensembles"):
        assert f"<h2>{title}</h2>" in html
