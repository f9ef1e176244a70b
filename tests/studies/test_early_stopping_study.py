"""The early-stopping study: where early stopping stops, and its table from run folders."""

from __future__ import annotations

import math

import pytest

from trickbench.config import validate_config
from trickbench.studies.early_stopping import NAME, early_stopping_point, study_specs
from study_runs import write_run


@pytest.mark.parametrize("val_loss, patience, expected", [
    ([1.0, 0.8, 0.9, 0.95, 0.7, 0.9], 2, (6, 5)),   # the dip at epoch 5 resets the count; runs to the end
    ([1.0, 0.8, 0.9, 0.95, 0.97, 0.7], 2, (5, 2)),  # epoch 5 is 3 > 2 epochs past the best (2): stop there
    ([1.0, 0.8, 0.9], 0, (3, 2)),                    # patience 0 stops at the first epoch without improvement
    ([0.5, 0.5, 0.5, 0.5], 2, (4, 1)),               # ties do not improve: the earliest best is kept
    ([3.0, 2.0, 1.0], 1, (3, 3)),                    # always improving: the last epoch
    ([math.nan, math.nan, math.nan], 1, (2, 0)),     # nothing finite: nothing to restore
])
def test_early_stopping_point(val_loss, patience, expected):
    assert early_stopping_point(val_loss, patience) == expected


def study_config(tiny_config):
    tiny_config["studies"] = {NAME: {"enabled": True, "regularizers": ["none", {"name": "dropout", "p": 0.5}],
                                     "epochs": 6, "patience": 1, "seeds": [0, 1]}}
    return validate_config(tiny_config)


def test_each_level_runs_once_per_seed_for_the_study_epochs(tiny_config):
    specs = study_specs(study_config(tiny_config))
    assert [(s.label("regularizer"), s.seed) for s in specs] == [("none", 0), ("none", 1), ("dropout(p=0.5)", 0),
                                                                 ("dropout(p=0.5)", 1)]
    assert {s.train.epochs for s in specs} == {6}


def test_table_reads_both_monitors_off_the_curves(tiny_config, tmp_path):
    from trickbench.studies import STUDIES

    config = study_config(tiny_config)
    specs = study_specs(config)
    val_loss = [1.0, 0.8, 0.9, 0.95, 0.96, 0.97]  # best at 2, stops at 4 with patience 1
    val_acc = [0.2, 0.3, 0.4, 0.5, 0.45, 0.4]     # best at 4, stops at 6
    test_acc = [0.1, 0.5, 0.4, 0.35, 0.3, 0.3]
    runs = [write_run(tmp_path, spec, {"val_loss": val_loss, "val_acc": val_acc, "test_acc": test_acc}) for spec in specs]
    tables = STUDIES[NAME].analyze(config, runs)
    table = tables[NAME].set_index(["monitor", "run_id"])
    on_loss, on_acc = table.loc["val_loss"], table.loc["val_acc"]
    assert len(on_loss) == len(on_acc) == 4
    assert set(on_loss["stop_epoch"]) == {4} and set(on_loss["restored_epoch"]) == {2}
    assert set(on_acc["stop_epoch"]) == {6} and set(on_acc["restored_epoch"]) == {4}
    assert set(on_loss["test_acc_restored"]) == {0.5} and set(on_acc["test_acc_restored"]) == {0.35}
    assert set(on_loss["test_acc_last"]) == {0.3}
    assert on_loss["test_acc_gain"].tolist() == pytest.approx([0.2] * 4)
    curves = tables[f"{NAME}_curves"]
    mean_val = curves[(curves.metric == "val_loss") & (curves.regularizer == "none")].sort_values("epoch")["mean"]
    assert mean_val.tolist() == pytest.approx(val_loss)
