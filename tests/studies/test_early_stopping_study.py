"""The early-stopping study: where early stopping stops, and its table from run folders."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from trickbench.config import validate_config
from trickbench.studies.early_stopping import NAME, early_stopping_point, study_specs
from study_runs import write_run


@pytest.mark.parametrize("val_loss, patience, expected", [
    ([1.0, 0.8, 0.9, 0.7, 0.9], 2, (5, 4)),          # the dip at epoch 4 resets the count; runs to the end
    ([1.0, 0.8, 0.9, 0.95, 0.97, 0.7], 2, (4, 2)),  # epochs 3 and 4: 2 in a row without improvement, stop (Keras)
    ([1.0, 0.8, 0.9], 1, (3, 2)),                    # patience 1 stops at the first epoch without improvement
    ([1.0, 0.8, 0.9], 0, (1, 1)),                    # patience 0: nothing to wait for, stop after the first epoch
    ([0.5, 0.5, 0.5, 0.5], 2, (3, 1)),               # ties do not improve: the earliest best is kept
    ([3.0, 2.0, 1.0], 1, (3, 3)),                    # always improving: the last epoch
    ([math.nan, math.nan, math.nan], 1, (1, 0)),     # nothing finite: nothing to restore
])
def test_early_stopping_point(val_loss, patience, expected):
    assert early_stopping_point(val_loss, patience) == expected


def study_config(tiny_config):
    tiny_config["studies"] = {NAME: {"enabled": True, "regularizers": ["none", {"name": "dropout", "p": 0.5}],
                                     "epochs": 6, "patience": 2, "seeds": [0, 1]}}
    return validate_config(tiny_config)


def test_each_level_runs_once_per_seed_for_the_study_epochs(tiny_config):
    specs = study_specs(study_config(tiny_config))
    assert [(s.label("regularizer"), s.seed) for s in specs] == [("none", 0), ("none", 1), ("dropout(p=0.5)", 0),
                                                                 ("dropout(p=0.5)", 1)]
    assert {s.train.epochs for s in specs} == {6}


VAL_LOSS = [1.0, 0.8, 0.9, 0.95, 0.96, 0.97]  # best at 2, stops at 4 with patience 2
VAL_ACC = [0.2, 0.3, 0.4, 0.5, 0.45, 0.4]     # best at 4, stops at 6
TEST_ACC = [0.1, 0.5, 0.4, 0.35, 0.3, 0.3]
TRAIN_EVAL_ACC = [0.3, 0.5, 0.7, 0.8, 0.9, 0.95]


def first_round(config, tmp_path):
    return [write_run(tmp_path, spec, {"val_loss": VAL_LOSS, "val_acc": VAL_ACC, "test_acc": TEST_ACC,
                                       "train_eval_acc": TRAIN_EVAL_ACC, "train_acc": [0.1] * 6})
            for spec in study_specs(config)]


def test_table_reads_both_monitors_off_the_curves(tiny_config, tmp_path):
    from trickbench.studies import STUDIES

    config = study_config(tiny_config)
    tables = STUDIES[NAME].analyze(config, first_round(config, tmp_path))
    table = tables[NAME].set_index(["monitor", "run_id"])
    on_loss, on_acc = table.loc["val_loss"], table.loc["val_acc"]
    assert len(on_loss) == len(on_acc) == 4
    assert set(on_loss["stop_epoch"]) == {4} and set(on_loss["restored_epoch"]) == {2}
    assert set(on_acc["stop_epoch"]) == {6} and set(on_acc["restored_epoch"]) == {4}
    assert set(on_loss["test_acc_restored"]) == {0.5} and set(on_acc["test_acc_restored"]) == {0.35}
    assert set(on_loss["test_acc_last"]) == {0.3}
    assert on_loss["test_acc_gain"].tolist() == pytest.approx([0.2] * 4)
    # the gap in eval mode: train_eval_acc − val_acc (the running train_acc of 0.1 plays no part)
    assert on_loss["gap_acc_restored"].tolist() == pytest.approx([0.5 - 0.3] * 4)
    assert on_loss["gap_acc_last"].tolist() == pytest.approx([0.95 - 0.4] * 4)
    assert on_loss["planned_run_id"].isna().all() or (on_loss["planned_run_id"] == "").all()  # no second round yet
    curves = tables[f"{NAME}_curves"]
    assert set(curves["metric"]) == {"train_eval_loss", "val_loss", "train_eval_acc", "val_acc", "gap_acc"}
    mean_val = curves[(curves.metric == "val_loss") & (curves.regularizer == "none")].sort_values("epoch")["mean"]
    assert mean_val.tolist() == pytest.approx(VAL_LOSS)


def test_the_second_round_retrains_each_run_for_its_stop_epoch(tiny_config, tmp_path):
    """Through the planning of the workflow: the second round exists only once the first round's
    stop table does, and is each first-round run with epochs = its stop epoch on validation loss;
    a run that never stopped early is its own planned run (no new run)."""
    from trickbench.studies import STUDIES
    from trickbench.studies.registered import load_all
    from trickbench.studies.early_stopping import STOPS, summarize_first_round
    from trickbench.studies.run import second_round
    from trickbench.workflow import plan_from_config

    load_all()
    config = study_config(tiny_config)
    plan = plan_from_config(config, tables=tmp_path)
    first = plan.studies[NAME]
    assert len(first) == 4 and second_round(STUDIES[NAME], plan.config, tmp_path / f"{STOPS}.csv") == []
    specs = [plan.runs[run_id] for run_id in first]
    improving = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5]  # never stops: runs to epoch 6
    runs = [write_run(tmp_path / "runs", spec, {"val_loss": improving if spec.seed == 1 else VAL_LOSS, "val_acc": VAL_ACC})
            for spec in specs]
    summarize_first_round(config, runs).to_csv(tmp_path / f"{STOPS}.csv", index=False)

    replanned = plan_from_config(config, tables=tmp_path)
    chosen = second_round(STUDIES[NAME], replanned.config, tmp_path / f"{STOPS}.csv")
    stopped = [spec for spec in specs if spec.seed == 0]
    assert sorted((s.label("regularizer"), s.seed, s.train.epochs) for s in chosen) == [
        ("dropout(p=0.5)", 0, 4), ("dropout(p=0.5)", 1, 6), ("none", 0, 4), ("none", 1, 6)]
    for spec in chosen:
        original = next(s for s in specs if (s.regularizer, s.seed) == (spec.regularizer, spec.seed))
        assert dataclasses.replace(spec, train=original.train) == original  # only the epochs differ
        assert (spec.run_id == original.run_id) == (spec.seed == 1)
    assert all(spec.run_id in replanned.runs for spec in chosen)
    assert len(replanned.runs) == len(plan.runs) + len(stopped)


def test_last_restored_and_planned_weights_are_compared_paired_by_seed(tiny_config, tmp_path):
    from trickbench.studies import STUDIES
    from trickbench.studies.early_stopping import (COMPARISONS, LAST, PLANNED, RESTORED, with_epochs)

    config = study_config(tiny_config)
    runs = first_round(config, tmp_path)
    planned_acc = {("none", 0): 0.55, ("none", 1): 0.6, ("dropout(p=0.5)", 0): 0.45, ("dropout(p=0.5)", 1): 0.5}
    for spec in study_specs(config):
        accuracy = planned_acc[(spec.label("regularizer"), spec.seed)]
        runs.append(write_run(tmp_path, with_epochs(spec, 4), {"val_loss": VAL_LOSS[:4], "test_acc": [0.2, 0.3, 0.4, accuracy]}))
    tables = STUDIES[NAME].analyze(config, runs)
    on_loss = tables[NAME][tables[NAME].monitor == "val_loss"].set_index(["regularizer", "seed"])
    for key, accuracy in planned_acc.items():
        assert on_loss.loc[key, "test_acc_planned"] == accuracy
    comparisons = tables[COMPARISONS].set_index(["regularizer", "comparison"])
    # one family: every comparison the figure draws, 2 regularizers × 3 contrasts
    assert len(comparisons) == 2 * 3 and (comparisons["family_size"] == 6).all()
    assert (comparisons["correction"] == "holm").all()
    planned_vs_restored = comparisons.loc[("none", f"{PLANNED} − {RESTORED}")]
    assert planned_vs_restored["diff"] == pytest.approx(100 * ((0.55 - 0.5) + (0.6 - 0.5)) / 2)  # points, paired
    assert planned_vs_restored["n"] == 2
    # the six cells (regularizer × weights) ran the same two seeds, so one OLS with seeds as blocks —
    # but with two seeds each cell's residuals are ± one number: Brown–Forsythe, computed here on the
    # fit's residuals, sees the cells' spreads differ (p = 0), so each comparison is its own paired t
    cells = pd.DataFrame([{"cell": f"{regularizer[0]}{w}", "seed": seed, "value": 100 * value}
                          for (regularizer, seed), planned in planned_acc.items()
                          for w, value in (("last", 0.3), ("restored", 0.5), ("planned", planned))])
    fit = smf.ols("value ~ C(cell) + C(seed)", cells).fit()
    assert fit.df_resid == 5
    with np.errstate(divide="ignore"):
        equal_variance = stats.levene(*[fit.resid[cells["cell"] == c] for c in cells["cell"].unique()], center="median")
    assert equal_variance.pvalue < 0.05
    assert (comparisons["test"] == "paired t").all() and comparisons["why"].str.startswith("Brown–Forsythe p=0 ").all()
    assert planned_vs_restored["p_value"] == pytest.approx(stats.ttest_rel([55.0, 60.0], [50.0, 50.0]).pvalue)
    assert planned_vs_restored["finding"].startswith(f"none: {PLANNED} vs {RESTORED}: no detectable difference with 2 seeds")
    restored_vs_last = comparisons.loc[("none", f"{RESTORED} − {LAST}")]
    assert restored_vs_last["diff"] == pytest.approx(100 * 0.2)  # 0.5 restored − 0.3 last on every seed: no spread
    assert restored_vs_last["detectable"] and restored_vs_last["finding"].startswith(f"none: {RESTORED} beats {LAST} by 20.0")
