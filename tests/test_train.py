"""One run end to end on tiny synthetic data: the files it writes, divergence as a result, and
repeatability on CPU."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from conftest import TINY_CONFIG
from trickbench.config import validate_config
from trickbench.design import baseline_spec
from trickbench.registry import Technique
from trickbench.run import Execution, train_run


@pytest.fixture
def spec():
    return baseline_spec(validate_config(copy.deepcopy(TINY_CONFIG)), seed=0)


def test_a_run_writes_its_files_and_a_finite_summary(spec, tmp_path):
    summary = train_run(spec, tmp_path / spec.run_id, Execution(device="cpu"))
    folder = tmp_path / spec.run_id
    assert summary["status"] == "ok" and summary["epochs_completed"] == 2
    assert json.loads((folder / "spec.json").read_text()) == spec.to_dict()
    assert json.loads((folder / "summary.json").read_text())["run_id"] == spec.run_id
    epochs = pd.read_csv(folder / "epochs.csv")
    assert epochs["epoch"].tolist() == [1, 2] and np.isfinite(epochs.drop(columns="epoch").to_numpy()).all()
    probabilities = np.load(folder / "test_probs.npy", allow_pickle=False)
    assert probabilities.shape == (60, 10) and np.allclose(probabilities.sum(1), 1, atol=1e-5)
    assert not (folder / "checkpoint.pt").exists()
    # a finished run is not trained again
    assert train_run(spec, folder, Execution(device="cpu")) == summary


def test_a_diverging_run_is_a_result_not_a_crash(spec, tmp_path):
    exploding = dataclasses.replace(spec, norm=Technique("none", ()), init=Technique("large_gaussian", (("std", 10.0),)),
                                    optimizer=Technique("sgd", (("lr", 1e6),)))
    summary = train_run(exploding, tmp_path / exploding.run_id, Execution(device="cpu"))
    assert summary["status"] == "diverged"
    assert summary["epochs_completed"] == 1  # stopped at the first non-finite epoch
    assert (tmp_path / exploding.run_id / "summary.json").exists()


def test_same_spec_and_seed_give_identical_metrics_on_cpu(spec, tmp_path):
    first = train_run(spec, tmp_path / "a" / spec.run_id, Execution(device="cpu"))
    second = train_run(spec, tmp_path / "b" / spec.run_id, Execution(device="cpu"))
    metrics = [k for k in first if k.startswith(("final_", "best_"))]
    assert {k: first[k] for k in metrics} == {k: second[k] for k in metrics}
    other_seed = dataclasses.replace(spec, seed=1)
    third = train_run(other_seed, tmp_path / "c" / other_seed.run_id, Execution(device="cpu"))
    assert third["final_train_loss"] != first["final_train_loss"]
