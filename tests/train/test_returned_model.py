"""Every `final_*` metric of a run describes the model the run returns (issue 14, item 1): under
early stopping the restored weights — the model of test_probs.npy and the logits — not the last
trained epoch, whose numbers are kept as `last_epoch_*`. `returned_epoch` is the epoch of lowest
validation loss (what the stopping rule watches); `best_val_acc_epoch` is named for what it picks."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch

from trickbench.config import validate_config
from trickbench.data.device_data import prepare
from trickbench.data.sources import SOURCES
from trickbench.design import baseline_spec
from trickbench.registry import Technique
from trickbench.run import Execution, train_run
from trickbench.train import loop

#: validation losses the run sees, epoch by epoch: lowest at epoch 2; with patience 2 the run stops
#: after epoch 4 (two epochs in a row without improvement) and restores epoch 2's weights
SCRIPTED_VAL_LOSS = [1.0, 0.5, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2]


def run(tiny_config, tmp_path, regularizer: tuple[Technique, ...]) -> tuple[dict, pd.DataFrame, dict]:
    """Train the tiny baseline on noisier images (so that accuracy still moves after epoch 2) for up
    to 8 epochs; returns its summary, epochs.csv and the files' arrays with the split labels."""
    tiny_config["data"]["source"]["noise"] = 3.0
    spec = baseline_spec(validate_config(tiny_config), 0)
    spec = dataclasses.replace(spec, regularizer=regularizer, train=dataclasses.replace(spec.train, epochs=8))
    folder = tmp_path / spec.run_id
    summary = train_run(spec, folder, Execution(device="cpu"))
    data = prepare(SOURCES.build(spec.data.source, None, False), spec.data, spec.preprocessing, torch.device("cpu"))
    arrays = {name: np.load(folder / f"{name}.npy") for name in ("test_probs", "test_logits", "val_logits")}
    arrays.update(test_labels=data.test.labels.numpy(), val_labels=data.val.labels.numpy())
    return summary, pd.read_csv(folder / "epochs.csv").set_index("epoch"), arrays


@pytest.fixture
def scripted_validation(monkeypatch):
    """The epochs' validation losses follow SCRIPTED_VAL_LOSS (accuracies stay real); evaluations
    that keep probabilities (the returned model's) are not scripted."""
    losses = iter(SCRIPTED_VAL_LOSS)
    real = loop.evaluate

    def evaluate(model, data, split, batch_size, keep_probabilities=False, **options):
        result = real(model, data, split, batch_size, keep_probabilities, **options)
        return dataclasses.replace(result, loss=next(losses)) if split == "val" and not keep_probabilities else result

    monkeypatch.setattr(loop, "evaluate", evaluate)


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float((probabilities.argmax(1) == labels).mean())


def test_final_metrics_describe_the_weights_early_stopping_restored(tiny_config, tmp_path, scripted_validation):
    summary, epochs, arrays = run(tiny_config, tmp_path, (Technique("early_stopping", (("patience", 2),)),))
    returned = accuracy(arrays["test_probs"], arrays["test_labels"])
    assert summary["final_test_acc"] == pytest.approx(returned, abs=1e-12)  # the model the run returns
    assert summary["epochs_completed"] == 4 and summary["stopped_early"] and summary["returned_epoch"] == 2
    assert epochs.loc[2, "test_acc"] != epochs.loc[4, "test_acc"]  # restored and last epochs are told apart
    assert summary["final_test_acc"] == pytest.approx(epochs.loc[2, "test_acc"])
    assert summary["last_epoch_test_acc"] == pytest.approx(epochs.loc[4, "test_acc"])
    assert summary["final_val_acc"] == pytest.approx(accuracy(arrays["val_logits"], arrays["val_labels"]), abs=1e-12)
    nll = -np.log(arrays["test_probs"][np.arange(len(arrays["test_labels"])), arrays["test_labels"]]).mean()
    assert summary["final_test_loss"] == pytest.approx(nll, rel=1e-4) == pytest.approx(summary["test_nll"], rel=1e-4)
    # the running training-mode and eval-mode train numbers of the returned epoch, the last epoch's kept apart
    assert summary["final_train_acc"] == pytest.approx(epochs.loc[2, "train_acc"])
    assert summary["final_train_eval_acc"] == pytest.approx(epochs.loc[2, "train_eval_acc"])
    assert summary["last_epoch_train_eval_acc"] == pytest.approx(epochs.loc[4, "train_eval_acc"])
    # best_* are the epoch of highest validation accuracy (earliest on ties), and say so
    assert summary["best_val_acc_epoch"] == epochs["val_acc"].idxmax()
    assert summary["best_test_acc"] == pytest.approx(epochs.loc[summary["best_val_acc_epoch"], "test_acc"])
    assert "best_epoch" not in summary


def test_without_early_stopping_the_returned_model_is_the_last_epoch(tiny_config, tmp_path):
    summary, epochs, arrays = run(tiny_config, tmp_path, ())
    assert summary["returned_epoch"] == summary["epochs_completed"] == 8
    assert summary["final_test_acc"] == pytest.approx(accuracy(arrays["test_probs"], arrays["test_labels"]), abs=1e-12)
    for metric in ("train_acc", "train_eval_acc", "val_loss", "val_acc", "test_loss", "test_acc"):
        assert summary[f"final_{metric}"] == pytest.approx(summary[f"last_epoch_{metric}"], rel=1e-6)
        assert summary[f"last_epoch_{metric}"] == pytest.approx(epochs.loc[8, metric])
