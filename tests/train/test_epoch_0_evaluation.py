"""A real epoch-0 evaluation (issue 21): with `train.evaluate_at_epoch_0` a run scores its untrained
model before the first step, as every epoch is scored, and writes it as epochs.csv's epoch 0 — what
a time-to-target counts from when the target is reached within the first epoch. It changes what a
run reports, not how it trains."""

from __future__ import annotations

import copy
import dataclasses
import math

import pandas as pd
import pytest
import torch
from torch import nn

from conftest import TINY_CONFIG
from run_helpers import TIMING_COLUMNS
from trickbench.claims.measures import epochs_to_reach
from trickbench.collect import collect
from trickbench.config import validate_config
from trickbench.data.device_data import prepare
from trickbench.data.sources import SOURCES
from trickbench.design import baseline_spec
from trickbench.errors import ConfigError
from trickbench.run import Execution, InvalidSummary, train_run
from trickbench.run_check import checked_run
from trickbench.spec import RunSpec
from trickbench.studies.records import finished_runs
from trickbench.train.loop import Trainer

CPU = torch.device("cpu")


def tiny_spec(**train) -> RunSpec:
    """The tiny baseline (batch norm, so eval mode matters) with an EMA of its weights, 2 epochs."""
    spec = baseline_spec(validate_config(copy.deepcopy(TINY_CONFIG)), 0)
    return dataclasses.replace(spec, train=dataclasses.replace(spec.train, epochs=2, ema_decay=0.9, **train))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same run trained with and without the epoch-0 evaluation: {setting: run folder}."""
    root = tmp_path_factory.mktemp("runs")
    folders = {}
    for evaluate in (True, False):
        spec = tiny_spec(evaluate_at_epoch_0=evaluate)
        train_run(spec, root / spec.run_id, Execution())
        folders[evaluate] = root / spec.run_id
    return folders


def untrained_scores(spec: RunSpec) -> dict[str, float]:
    """The freshly initialized model of `spec` scored here, in one eval-mode batch per split."""
    data = prepare(SOURCES.build(spec.data.source, None, False), spec.data, spec.preprocessing, CPU)
    trainer = Trainer(dataclasses.replace(spec, train=dataclasses.replace(spec.train, evaluate_at_epoch_0=False)),
                      data, CPU)
    model = trainer.model.eval()
    scores = {}
    for name, split in (("train_eval", trainer.train_sample), ("val", data.val), ("test", data.test)):
        with torch.no_grad():
            logits = model(data.preprocess(split.images.float() / 255))
        scores[f"{name}_loss"] = nn.functional.cross_entropy(logits, split.labels).item()
        scores[f"{name}_acc"] = (logits.argmax(1) == split.labels).float().mean().item()
    return scores


def test_epoch_0_holds_the_untrained_models_scores(runs):
    epochs = pd.read_csv(runs[True] / "epochs.csv")
    assert epochs["epoch"].tolist() == [0, 1, 2]
    first = epochs.iloc[0]
    for column, value in untrained_scores(tiny_spec(evaluate_at_epoch_0=True)).items():
        assert first[column] == pytest.approx(value, rel=1e-5, abs=1e-9), column
    assert first["grad_evals"] == 0 and first["train_seconds"] == 0
    assert first[["lr", "train_loss", "train_acc", "images_per_s"]].isna().all()  # no training pass yet
    # the EMA starts as a copy of the weights: at epoch 0 it scores as the model does
    assert first["ema_val_acc"] == first["val_acc"] and first["ema_val_loss"] == pytest.approx(first["val_loss"])


def test_the_evaluation_leaves_training_bit_for_bit_unchanged(runs):
    """Scoring draws no random numbers: the trained epochs and the summary's scores are the same."""
    read = lambda folder: pd.read_csv(folder / "epochs.csv").drop(columns=TIMING_COLUMNS)
    with_0, without = read(runs[True]), read(runs[False])
    pd.testing.assert_frame_equal(with_0[with_0["epoch"] >= 1].reset_index(drop=True), without)
    summaries = [collect([runs[evaluate]]).runs.iloc[0] for evaluate in (True, False)]
    scores = [column for column in summaries[0].index if column.startswith(("final_", "best_", "last_epoch_"))]
    assert summaries[0][scores].equals(summaries[1][scores])


def test_collect_takes_the_epoch_0_row_and_misses_it_when_it_is_gone(runs, tmp_path):
    tables = collect([runs[True], runs[False]])
    assert sorted(tables.epochs.groupby("run_id")["epoch"].min()) == [0, 1]
    assert not tables.skipped
    # the studies read trained epochs (early stopping counts them from 1): the row is not theirs
    assert finished_runs([runs[True]])[0].epochs["epoch"].tolist() == [1, 2]
    epochs = runs[True] / "epochs.csv"
    original = epochs.read_text()
    try:
        lines = original.splitlines(keepends=True)
        epochs.write_text(lines[0] + "".join(lines[2:]))  # the epoch-0 row dropped
        with pytest.raises(InvalidSummary, match="epochs_completed 2 and the epoch-0 row its spec asks for"):
            checked_run(runs[True])
    finally:
        epochs.write_text(original)


def test_a_target_reached_within_the_first_epoch_has_a_fractional_time(runs):
    """Halfway between the untrained model's training accuracy and epoch 1's: half an epoch. Without
    the epoch-0 row the same curve has nothing to count from."""
    curve = pd.read_csv(runs[True] / "epochs.csv").set_index("epoch")["train_eval_acc"]
    assert curve[1] > curve[0]
    target = (curve[0] + curve[1]) / 2
    assert epochs_to_reach(curve, target) == pytest.approx(0.5)
    assert math.isnan(epochs_to_reach(curve.drop(index=0), target))


def test_the_setting_is_optional_and_a_flag(tiny_config):
    spec = baseline_spec(validate_config(tiny_config), 0)
    assert "evaluate_at_epoch_0" not in spec.to_dict()["train"]  # off by default: renames no run
    tiny_config["train"]["evaluate_at_epoch_0"] = True
    evaluated = baseline_spec(validate_config(tiny_config), 0)
    assert evaluated.train.evaluate_at_epoch_0 and evaluated.run_id != spec.run_id
    assert RunSpec.from_dict(evaluated.to_dict()) == evaluated
    tiny_config["train"]["evaluate_at_epoch_0"] = 1
    with pytest.raises(ConfigError, match=r"train.evaluate_at_epoch_0.*type boolean"):
        validate_config(tiny_config)
    with pytest.raises(ConfigError, match=r"train.evaluate_at_epoch_0.*a bool"):  # a spec written by hand
        RunSpec.from_dict({**evaluated.to_dict(), "train": {**evaluated.to_dict()["train"], "evaluate_at_epoch_0": 1}})
