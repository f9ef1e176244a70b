"""Equal-compute comparison on hand-made runs: budgets, selection on validation within a budget,
and a ranking that flips when a technique pays twice per step."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import statsmodels.formula.api as smf
from scipy import stats

from trickbench.config import validate_config
from trickbench.report.equal_compute import (budget_scores, common_budgets, equal_compute_table, rank_changes,
                                             selected_within, summary_sentences, swap_tests, change_tests)


def make_tables(config, offsets=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """relu: 1 gradient evaluation per step, slow; tanh: 2 per step (SAM-like), fast per second.
    4 epochs of 10 steps each; tanh is better at the end, worse at half its gradient budget.
    `offsets[level]` shifts each seed's whole curve (default: seed s by s/100, two seeds)."""
    runs, epochs = [], []
    curves = {"relu": [0.40, 0.50, 0.55, 0.60], "tanh": [0.35, 0.45, 0.58, 0.70]}
    per_epoch = {"relu": (10, 2.0), "tanh": (20, 1.0)}  # (grad evals, seconds) per epoch
    offsets = offsets or {level: [0.0, 0.01] for level in curves}
    for level, curve in curves.items():
        for seed, offset in enumerate(offsets[level]):
            run_id = f"{level}{seed}"
            runs.append({"run_id": run_id, "seed": seed, "activation": level, "init": "he_normal", "norm": "batch",
                         "regularizer": "none", "optimizer": "momentum", "schedule": "cosine",
                         "preprocessing": "standardize", "status": "ok", "epochs": 4, "epochs_completed": 4,
                         "final_test_acc": curve[-1] + offset, "final_val_acc": curve[-1] + offset})
            evals, seconds = per_epoch[level]
            for epoch, acc in enumerate(curve, start=1):
                epochs.append({"run_id": run_id, "epoch": epoch, "val_acc": acc + offset,
                               "test_acc": acc + offset, "grad_evals": evals * epoch,
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
    sentences = summary_sentences(runs, epochs, config)
    assert sentences[0].startswith("At equal gradient evaluations (≤ 40 gradient evaluations) 1 pair of variants "
                                   "changes order by mean test accuracy relative to equal epochs; 1 of them is a "
                                   "detectable reversal")
    assert sentences[1].startswith("By mean, activation=tanh moves most, from #1 to #2 (70.5 → 45.5 % test accuracy")
    assert "at 20 gradient evaluations per epoch against a median of 15" in sentences[1]
    assert "order of the variants by mean test accuracy is the same" in sentences[2]


#: three seeds, tanh's curve shifted per seed: seed-to-seed noise of a few points
NOISY = {"relu": [0.0, 0.01, -0.01], "tanh": [0.0, 0.08, -0.06]}


def test_each_flip_is_tested_at_both_budgets_on_one_model_with_seeds_as_blocks_and_holm_over_its_sentence(tiny_config):
    """The pair at equal epochs and at the budget: contrasts of one OLS over every (budget, variant)
    cell with seeds as blocks (written here with statsmodels), Holm over the sentence's two."""
    config = validate_config(tiny_config)
    runs, epochs = make_tables(config, NOISY)
    scores = budget_scores(runs, epochs, config)
    changes = rank_changes(equal_compute_table(runs, epochs, config))
    tests = swap_tests(scores, changes).set_index(["budget", "comparison"])
    budget = "equal gradient evaluations"
    assert len(tests) == 2 and (tests["family_size"] == 2).all()
    assert (tests["test"] == "pooled t (4 cells × 3 seeds OLS, df=6)").all()
    both = scores[scores["comparison"].isin(["equal epochs", budget])]
    fit = smf.ols("y ~ C(cell) + C(seed)", pd.DataFrame({"y": both["test"], "cell": both["comparison"] + "|" + both["variant"],
                                                         "seed": both["seed"].astype(str)})).fit()
    tanh, relu = 100 * (np.array(NOISY["tanh"])), 100 * np.array(NOISY["relu"])
    for comparison, (tanh_acc, relu_acc) in {"equal epochs": (70, 60), budget: (45, 60)}.items():
        row = tests.loc[(budget, comparison)]
        assert (row["variant"], row["reference"]) == ("activation=tanh", "baseline")  # ahead at equal epochs − the other
        weights = [float(name == f"C(cell)[T.{comparison}|activation=tanh]") - float(name == f"C(cell)[T.{comparison}|baseline]")
                   for name in fit.params.index]
        expected = fit.t_test(weights)
        assert row["diff"] == pytest.approx(tanh_acc - relu_acc + (tanh - relu).mean())
        assert row["diff"] == pytest.approx(float(expected.effect[0]))
        assert row["p_value"] == pytest.approx(float(expected.pvalue))
    p = sorted(tests["p_value"])
    assert sorted(tests["p_adjusted"]) == pytest.approx([2 * p[0], max(2 * p[0], p[1])])  # Holm over the sentence's 2


#: tanh's seeds further apart: its lead at equal epochs is within the noise even on the pooled model
NOISIER = {"relu": [0.0, 0.01, -0.01], "tanh": [0.0, 0.16, -0.12]}


def test_a_flip_is_called_a_reversal_only_from_the_direct_test_of_the_change(tiny_config):
    """tanh's +11 points at equal epochs is within its seeds' noise when each budget is tested on
    its own; but every seed shifts tanh's whole curve alike, so the per-seed change of the
    difference between the budgets is exactly −25 points on every seed: a detectable reversal."""
    config = validate_config(tiny_config)
    runs, epochs = make_tables(config, NOISIER)
    scores = budget_scores(runs, epochs, config)
    at_epochs = swap_tests(scores, rank_changes(equal_compute_table(runs, epochs, config))).set_index("comparison")
    assert not at_epochs.loc["equal epochs", "detectable"]  # the separate interval includes 0
    sentences = summary_sentences(runs, epochs, config)
    assert "; 1 of them is a detectable reversal" in sentences[0]
    assert "Holm-corrected over the 1 pair)" in sentences[0]


#: noise on tanh's last epoch only: the change between budgets varies by seed
LAST_EPOCH_NOISE = [0.0, 0.12, -0.12]


def test_a_flip_within_the_noise_of_the_change_is_not_called_a_reversal(tiny_config):
    config = validate_config(tiny_config)
    runs, epochs = make_tables(config, NOISY)
    for seed, noise in enumerate(LAST_EPOCH_NOISE):
        last = (epochs["run_id"] == f"tanh{seed}") & (epochs["epoch"] == 4)
        epochs.loc[last, ["val_acc", "test_acc"]] += noise
        runs.loc[runs["run_id"] == f"tanh{seed}", ["final_test_acc", "final_val_acc"]] += noise
    scores = budget_scores(runs, epochs, config)
    change = change_tests(scores, rank_changes(equal_compute_table(runs, epochs, config))).iloc[0]
    # the direct test, written here: per seed, (tanh − relu) at the budget minus at equal epochs
    wide = scores.pivot_table(index=["comparison", "seed"], columns="variant", values="test")
    gap = wide["activation=tanh"] - wide["baseline"]
    expected = stats.ttest_1samp(gap.loc["equal gradient evaluations"].to_numpy() - gap.loc["equal epochs"].to_numpy(), 0)
    assert change["p_value"] == pytest.approx(expected.pvalue) and expected.pvalue > 0.05 and not change["detectable"]
    sentences = summary_sentences(runs, epochs, config)
    assert "; 0 of them are detectable reversals" in sentences[0]
    assert f"not a detectable reversal (minimum detectable change {change['mde']:.1f} points)" in sentences[1]


def test_failed_runs_stay_out_of_the_ranking(tiny_config):
    config = validate_config(tiny_config)
    runs, epochs = make_tables(config)
    runs.loc[runs.activation == "tanh", "final_val_acc"] = 0.05  # at chance on validation: failed to train
    table = equal_compute_table(runs, epochs, config)
    assert set(table["variant"]) == {"baseline"} and (table["rank"] == 1).all()


def test_the_untrained_models_epoch_0_is_never_a_selection():
    """An epoch-0 row (train.evaluate_at_epoch_0) costs nothing, but the run scores its trained
    epochs, as it selects its own best epoch: even a (contrived) best validation score at epoch 0,
    or a budget below the first epoch's cost, never selects the untrained model."""
    epochs = pd.DataFrame({"run_id": ["a"] * 3, "epoch": [0, 1, 2], "val_acc": [0.9, 0.5, 0.6],
                           "test_acc": [0.9, 0.5, 0.6], "grad_evals": [0, 10, 20]})
    assert selected_within(epochs, "grad_evals", 20).iloc[0]["epoch"] == 2
    assert selected_within(epochs, "grad_evals", 5).empty


def test_figure_marks_a_variant_whose_first_epoch_is_over_budget(tiny_config, tmp_path):
    """A technique whose one epoch costs more gradient evaluations than the common budget (L-BFGS's
    line searches) has no point under that budget: the panel says so instead of failing."""
    import matplotlib.pyplot as plt

    from trickbench.report.equal_compute import equal_compute as draw
    from trickbench.report.figures import Tables

    config = validate_config(tiny_config)
    runs, epochs = make_tables(config)
    full = runs.assign(epochs=2, epochs_completed=2)  # relu caps the budgets at 2 epochs: 20 evaluations, 4 s
    pricey = epochs[epochs.epoch <= 2].assign(grad_evals=lambda e: e.grad_evals.where(e.run_id.str.startswith("relu"), 100))
    full.to_csv(tmp_path / "runs.csv", index=False)
    pricey.to_csv(tmp_path / "epochs.csv", index=False)
    fig, data = draw(Tables(tmp_path), config)
    evals = data[data.comparison == "equal gradient evaluations"]
    assert evals["variant"].tolist() == ["baseline"]
    texts = [t.get_text() for t in fig.axes[1].texts]
    assert "over budget" in texts and "#1" in texts
    plt.close(fig)


@settings(max_examples=50, deadline=None)
@given(means=st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=0, max_size=12, unique_by=lambda m: m[0]))
def test_rank_changes_are_exactly_the_pairs_whose_order_differs(means):
    """Every pair of variants ordered one way at equal epochs and the other way under a budget (ties
    are no change), each once, the one ahead at equal epochs first — against a direct count."""
    variants = [f"v{k}" for k in range(len(means))]
    table = pd.DataFrame([{"comparison": c, "variant": v, "mean": float(m[i])} for v, m in zip(variants, means)
                          for i, c in enumerate(("equal epochs", "equal budget"))])
    expected = sorted((a if ma[0] > mb[0] else b, b if ma[0] > mb[0] else a)
                      for (a, ma), (b, mb) in itertools.combinations(zip(variants, means), 2)
                      if (ma[0] - mb[0]) * (ma[1] - mb[1]) < 0)
    changes = rank_changes(table)
    found = sorted(map(tuple, changes[["ahead_at_equal_epochs", "ahead_at_equal_budget"]].values.tolist())) if len(changes) else []
    assert found == expected
    if len(changes):
        assert (changes["epochs_gap"] > 0).all() and (changes["budget_gap"] > 0).all()
