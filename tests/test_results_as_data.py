"""Results as data: the tables collect writes from real (tiny) runs follow the data dictionary and
its committed golden column list, carry their provenance on every row, and hold the compute and
calibration numbers each run saved.

When a column changes on purpose: edit `trickbench/data_dictionary.py`, bump SCHEMA_VERSION, and
write the golden list of the new version with
    python -c 'import json; from trickbench.data_dictionary import TABLES, column_names; \
print(json.dumps({t: column_names(t) for t in TABLES}, indent=1))' > tests/golden/table_columns_v<N>.json
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from trickbench.calibration import softmax
from trickbench.collect import IDENTITY_COLUMNS, baseline_labels, collect, write_tables
from trickbench.config import validate_config
from trickbench.data_dictionary import SCHEMA_VERSION, TABLES, column_names, dictionary_frame
from trickbench.design import baseline_spec
from trickbench.metrics import nll
from trickbench.report.figures import Tables
from trickbench.report.render import render
from trickbench.run import Execution, train_run
from trickbench.studies import calibration

GOLDEN = Path(__file__).with_name("golden")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two seeds of the tiny baseline, trained for real (about a second each), and their config."""
    from conftest import TINY_CONFIG

    config = validate_config({**json.loads(json.dumps(TINY_CONFIG)),
                              "studies": {"ensembles": {"enabled": True, "members": 2}, "calibration": {"enabled": True}}})
    root = tmp_path_factory.mktemp("runs")
    dirs = []
    for seed in (0, 1):
        spec = baseline_spec(config, seed)
        train_run(spec, root / spec.run_id, Execution())
        dirs.append(root / spec.run_id)
    return config, dirs


def test_dictionary_matches_the_golden_columns_of_its_version():
    golden = GOLDEN / f"table_columns_v{SCHEMA_VERSION}.json"
    assert golden.exists(), f"SCHEMA_VERSION {SCHEMA_VERSION} has no golden column list; see this module's docstring"
    assert json.loads(golden.read_text()) == {table: column_names(table) for table in TABLES}, (
        "the data dictionary changed without a new SCHEMA_VERSION and golden list (see this module's docstring)")


def test_dictionary_defines_every_column_once_with_unit_and_meaning():
    frame = dictionary_frame()
    assert not frame.duplicated(["table", "column"]).any()
    assert (frame["unit"].str.len() > 0).all() and (frame["meaning"].str.len() > 10).all()
    assert (frame["schema_version"] == SCHEMA_VERSION).all()
    assert column_names("runs")[: len(IDENTITY_COLUMNS)] == IDENTITY_COLUMNS


def test_collected_tables_have_exactly_the_dictionary_columns(trained, tmp_path):
    config, dirs = trained
    tables = collect(dirs, baseline_labels(config))
    assert list(tables.runs.columns) == column_names("runs")
    assert list(tables.epochs.columns) == column_names("epochs")
    write_tables(tables, tmp_path / "runs.csv", tmp_path / "epochs.csv", tmp_path / "dictionary.csv")
    assert pd.read_csv(tmp_path / "dictionary.csv").equals(dictionary_frame())
    assert list(pd.read_csv(tmp_path / "runs.csv").columns) == column_names("runs")


@pytest.mark.parametrize("table", ["runs", "epochs"])
def test_every_row_carries_its_provenance(trained, table: str):
    config, dirs = trained
    frame = getattr(collect(dirs, baseline_labels(config)), table)
    provenance = ["git_commit", "torch_version", "cuda_version", "device_name", "deterministic", "seed", "schema_version"]
    assert frame[provenance].notna().all().all()
    assert (frame["torch_version"] == torch.__version__).all() and (frame["schema_version"] == SCHEMA_VERSION).all()


def test_compute_accounting_of_a_run(trained):
    config, dirs = trained
    runs, epochs = (collect(dirs, baseline_labels(config)).runs.iloc[0], collect(dirs[:1]).epochs)
    steps_per_epoch = -(-160 // 32)  # 200 images, 20 % held out, batches of 32
    assert runs["optimizer_steps"] == 2 * steps_per_epoch == runs["grad_evals"]  # momentum: one closure call a step
    assert runs["images_seen"] == 2 * 160
    hidden, classes, pixels = 16, 10, 3 * 8 * 8  # mlp depth 1, width 16 on 3×8×8 images
    forward = 2 * 32 * (pixels * hidden + hidden * classes)
    assert runs["forward_flops_per_step"] == forward
    assert runs["backward_flops_per_step"] == 2 * 32 * (pixels * hidden + 2 * hidden * classes)
    assert runs["train_flops"] == pytest.approx(runs["flops_per_grad_eval"] * runs["grad_evals"])
    assert epochs["cumulative_train_seconds"].iloc[-1] == pytest.approx(epochs["train_seconds"].sum())
    assert epochs["cumulative_flops"].iloc[-1] == pytest.approx(runs["train_flops"])
    assert epochs["images_seen"].tolist() == [160, 320]


def test_calibration_of_a_run_is_fitted_on_its_saved_validation_logits(trained):
    config, dirs = trained
    summary = json.loads((dirs[0] / "summary.json").read_text())
    test_logits = np.load(dirs[0] / "test_logits.npy")
    val_logits = np.load(dirs[0] / "val_logits.npy")
    assert test_logits.shape == (60, 10) and val_logits.shape == (40, 10)
    np.testing.assert_allclose(np.load(dirs[0] / "test_probs.npy"), softmax(test_logits), atol=1e-5)
    labels = calibration.split_labels(baseline_spec(config, 0), config)
    assert summary["test_nll"] == pytest.approx(nll(softmax(test_logits), labels["test"]), rel=1e-4)
    assert summary["test_nll"] == pytest.approx(summary["final_test_loss"], rel=1e-4)  # same model, same metric
    assert summary["temperature"] > 0
    assert summary["test_nll_temperature_scaled"] == pytest.approx(
        nll(softmax(test_logits, summary["temperature"]), labels["test"]), rel=1e-4)


def test_ensemble_reliability_study_and_figure(trained, tmp_path):
    config, dirs = trained
    table = calibration.analyze(config, dirs)[calibration.TABLE]
    assert set(table["model"]) == {"single member chosen on validation", "ensemble of 2"}
    assert set(table["scaling"]) == {"raw", "temperature"}
    assert table.groupby(["model", "scaling"])["count"].sum().eq(60).all()
    folder = tmp_path / "tables"
    folder.mkdir()
    table.to_csv(folder / f"{calibration.TABLE}.csv", index=False)
    render("ensemble_reliability", folder, config, tmp_path / "figure.png", tmp_path / "figure.csv")
    assert (tmp_path / "figure.png").read_bytes().startswith(b"\x89PNG")
    assert len(Tables(folder)[calibration.TABLE]) == len(pd.read_csv(tmp_path / "figure.csv"))
