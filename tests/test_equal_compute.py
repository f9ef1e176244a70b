"""Equal-compute comparison on hand-made runs: budgets, selection on validation within a budget,
and a ranking that flips when a technique pays twice per step."""

from __future__ import annotations

import pandas as pd
import pytest

from trickbench.config import validate_config
from trickbench.report.equal_compute import common_budgets, equal_compute_table, rank_changes, selected_within, summary_sentences


def make_tables(config) -> tuple[pd.DataFrame, pd.DataFrame]:
    """relu: 1 gradient evaluation per step, slow; tanh: 2 per step (SAM-like), fast per second.
    4 epochs of 10 steps each; tanh is better at the end, worse at half its gradient budget."""
    runs, epochs = [], []
    curves = {"relu": [0.40, 0.50, 0.55, 0.60], "tanh": [0.35, 0.45, 0.58, 0.70]}
    per_epoch = {"relu": (10, 2.0), "tanh": (20, 1.0)}  # (grad evals, seconds) per epoch
    for level, curve in curves.items():
        for seed in (0, 1):
            run_id = f"{level}{seed}"
            runs.append({"run_id": run_id, "seed": seed, "activation": level, "init": "he_normal", "norm": "batch",
                         "regularizer": "none", "optimizer": "momentum", "schedule": "cosine",
                         "preprocessing": "standardize", "status": "ok", "epochs": 4, "epochs_completed": 4,
                         "final_test_acc": curve[-1] + seed / 100})
            evals, seconds = per_epoch[level]
            for epoch, acc in enumerate(curve, start=1):
                epochs.append({"run_id": run_id, "epoch": epoch, "val_acc": acc + seed / 100,
                               "test_acc": acc + seed / 100, "grad_evals": evals * epoch,
                               "cumulative_train_seconds": seconds * epoch})
    return pd.DataFrame(runs), pd.DataFrame(epochs)


def test_common_budget_is_the_smallest_full_run(tiny_config):
    runs, epochs = make_tables(tiny_config)
    assert common_budgets(runs, epochs) == {"equal epochs": 4, "equal gradient evaluations": 40,
                                            "equal training seconds": 4.0}
    runs.loc[runs.run_id == "relu0", ["status", "epochs_completed"]] = ["diverged", 1]
    shortened = epochs[~((epochs.run_id == "relu0") & (epochs.epoch > 1))]
    assert common_budgets(runs, shortened)["equal gradient evaluations"] == 40  # a run cut short caps nobody


def test_selection_within_a_budget_uses_validation_not_test():
    epochs = pd.DataFrame({"run_id": ["a"] * 3, "epoch": [1, 2, 3], "val_acc": [0.5, 0.6, 0.7],
                           "test_acc": [0.9, 0.1, 0.2], "grad_evals": [10, 20, 30]})
    chosen = selected_within(epochs, "grad_evals", 25).iloc[0]
    assert (chosen["epoch"], chosen["test_acc"], chosen["cost"]) == (2, 0.1, 20)  # not epoch 1's 0.9 on test
    tie = epochs.assign(val_acc=[0.6, 0.6, 0.6])
    assert selected_within(tie, "grad_evals", 30).iloc[0]["epoch"] == 1  # earliest on ties


def test_ranking_flips_at_equal_gradient_evaluations(tiny_config):
    config = validate_config(tiny_config)
    runs, epochs = make_tables(config)
    table = equal_compute_table(runs, epochs, config).set_index(["comparison", "variant"])
    assert table.loc[("equal epochs", "activation=tanh"), "rank"] == 1
    assert table.loc[("equal gradient evaluations", "activation=tanh"), "rank"] == 2  # only 2 of its epochs fit
    assert table.loc[("equal gradient evaluations", "activation=tanh"), "mean"] == pytest.approx(45.5)
    assert table.loc[("equal training seconds", "baseline"), "mean"] == pytest.approx(50.5)  # 2 of relu's epochs
    changes = rank_changes(table.reset_index())
    assert changes[["comparison", "ahead_at_equal_epochs", "ahead_at_equal_budget"]].values.tolist() == [
        ["equal gradient evaluations", "activation=tanh", "baseline"]]
    assert changes.iloc[0]["epochs_gap"] == pytest.approx(10.0) and changes.iloc[0]["budget_gap"] == pytest.approx(15.0)
    assert table.loc[("equal gradient evaluations", "activation=tanh"), "cost_per_epoch"] == 20
    sentences = summary_sentences(table.reset_index())
    assert sentences[0].startswith("At equal gradient evaluations (≤ 40 gradient evaluations) 1 pair(s) of variants "
                                   "change order relative to equal epochs; activation=tanh moves most, from #1 to #2 "
                                   "(70.5 → 45.5 % test accuracy")
    assert "at 20 gradient evaluations per epoch against a median of 15" in sentences[0]
    assert "ranking of the variants is the same" in sentences[1]
