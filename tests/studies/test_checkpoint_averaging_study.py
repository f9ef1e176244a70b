"""The checkpoint-averaging study: its runs and its tables of final weights vs EMA vs SWA."""

from __future__ import annotations

import math

import pytest

from trickbench.config import validate_config
from trickbench.studies import STUDIES
from trickbench.studies.checkpoint_averaging import FINAL, NAME, study_specs, swa_start_epoch
from study_runs import write_run


@pytest.mark.parametrize("epochs, start, expected", [(20, 0.75, 16), (4, 0.5, 3), (3, 0.0, 1), (10, 0.99, 10)])
def test_swa_starts_after_its_fraction_of_training(epochs, start, expected):
    assert swa_start_epoch(epochs, start) == expected


def study_config(tiny_config):
    tiny_config["studies"] = {NAME: {"enabled": True, "epochs": 4, "swa_start": 0.5, "swa_lr": 0.01, "seeds": [0, 1]}}
    return validate_config(tiny_config)


def test_runs_track_ema_and_swa(tiny_config):
    specs = study_specs(study_config(tiny_config))
    assert [s.seed for s in specs] == [0, 1]
    assert {(s.train.epochs, s.train.ema_decay, s.train.swa_start_epoch, s.train.swa_lr) for s in specs} == {
        (4, 0.995, 3, 0.01)}


def test_final_table_pairs_each_average_with_its_own_final_weights(tiny_config, tmp_path):
    config = study_config(tiny_config)
    nan = math.nan
    runs = []
    for spec, (final, ema, swa) in zip(study_specs(config), [(0.50, 0.54, 0.56), (0.60, 0.62, 0.61)]):
        runs.append(write_run(tmp_path, spec, {
            "test_acc": [0.3, 0.4, 0.45, final], "ema_test_acc": [0.1, 0.3, 0.4, ema], "swa_test_acc": [nan, nan, 0.5, swa],
            **{f"{p}{s}": [0.5] * 4 for p in ("ema_", "swa_") for s in ("val_loss", "val_acc", "test_loss")}}))
    tables = STUDIES[NAME].analyze(config, runs)
    curves = tables[NAME]
    assert len(curves) == 2 * 4 * 3 and set(curves["weights"]) == {"final weights", "EMA", "SWA"}
    final = tables[FINAL].set_index(["metric", "kind", "weights"])
    assert final.loc[("test_acc", "value", "EMA"), "mean"] == pytest.approx(0.58)
    assert final.loc[("test_acc", "gain vs final weights", "EMA"), "mean"] == pytest.approx(0.03)  # (0.04 + 0.02) / 2
    assert final.loc[("test_acc", "gain vs final weights", "SWA"), "mean"] == pytest.approx(0.035)
    assert final.loc[("test_acc", "gain vs final weights", "final weights"), "mean"] == 0
