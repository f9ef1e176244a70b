"""Findings against their definitions: the paired test and its Holm-corrected interval recomputed
with scipy and statsmodels, known effects recovered from synthetic runs, failures (diverged and at
chance) named and kept out of every comparison and of the best configuration, the best
configuration chosen on validation and never on test, and sentences that never call an
undetectable difference a win."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.multitest import multipletests

from conftest import TINY_CONFIG
from synthetic_results import THOUSAND_FACTORS, grid_config, write_tables
from trickbench.report.findings import best_configuration, comparisons, sentence, top_findings

ABLATION = {"kind": "ablation", "seeds": [0, 1, 2],
            "factors": {"activation": ["relu", "tanh", "sigmoid"], "init": ["he_normal", "small_gaussian"]}}


def test_each_level_is_a_contrast_of_one_blocked_model_holm_corrected_over_every_factor(tmp_path):
    config = grid_config(TINY_CONFIG, ABLATION)
    runs = write_tables(tmp_path, config, effects={("activation", "tanh"): -10.0, ("init", "small_gaussian"): 2.0},
                        noise=1.0)
    found = comparisons(runs, config).set_index(["factor", "level"])
    assert set(found.index) == {("activation", "tanh"), ("activation", "sigmoid"), ("init", "small_gaussian")}
    frame = pd.DataFrame({"cell": runs["activation"] + "|" + runs["init"], "seed": runs["seed"],
                          "value": 100 * runs["final_test_acc"]})
    fit = smf.ols('value ~ C(cell, Treatment("relu|he_normal")) + C(seed)', frame).fit()
    residuals = [part for _, part in fit.resid.groupby(frame["cell"])]
    assert stats.levene(*residuals, center="median").pvalue >= 0.05  # one variance: the pooled model holds
    cell = {("activation", "tanh"): "tanh|he_normal", ("activation", "sigmoid"): "sigmoid|he_normal",
            ("init", "small_gaussian"): "relu|small_gaussian"}
    names = {key: f'C(cell, Treatment("relu|he_normal"))[T.{value}]' for key, value in cell.items()}
    holm = dict(zip(names, multipletests([fit.pvalues[names[key]] for key in names], method="holm")[1]))
    for key, row in found.iterrows():
        assert row["test"] == "pooled t (4 cells × 3 seeds OLS, df=6)" and row["n"] == 3 and row["n_reference"] == 3
        assert row["diff"] == pytest.approx(fit.params[names[key]])
        assert row["p_adjusted"] == pytest.approx(holm[key]) and row["family_size"] == 3
        assert row["detectable"] == (holm[key] < 0.05)


def test_an_undetectable_difference_is_never_a_win(tmp_path):
    config = grid_config(TINY_CONFIG, {"kind": "ablation", "seeds": [0, 1, 2], "factors": {"activation": ["relu", "tanh"]}})
    runs = write_tables(tmp_path, config, effects={("activation", "tanh"): 0.5}, noise=3.0)
    (row,) = comparisons(runs, config).to_dict("records")
    assert not row["detectable"]
    text = sentence(row, "ablation")
    assert text.startswith("activation tanh vs the baseline relu: no detectable difference with 3 seeds (minimum "
                           f"detectable effect {row['mde']:.1f} points;")
    assert "beats" not in text and "trails" not in text and f"{row['test']}, 95 % CI" in text
    assert row["seeds_needed"] > 3 and row["mde"] > abs(row["diff"])  # the same test says the seeds were too few


def test_top_findings_name_failures_first_then_the_largest_detectable_effects(tmp_path):
    config = grid_config(TINY_CONFIG, ABLATION)
    runs = write_tables(tmp_path, config, effects={("activation", "tanh"): -10.0, ("init", "small_gaussian"): 5.0},
                        status=lambda spec: "diverged" if spec.activation.name == "sigmoid" and spec.seed == 2 else "ok")
    lines = top_findings(runs, config)
    assert lines[0] == "1 of 12 runs diverged: activation=sigmoid (seed 2). They are left out of every mean below."
    assert lines[1].startswith("activation tanh trails the baseline relu by 10.")
    assert "paired t, 95 % CI" in lines[1] and "Holm-corrected over 3 comparisons" in lines[1]
    assert lines[2].startswith("init small_gaussian beats the baseline he_normal by")
    assert lines[3] == "The other level does not differ detectably from the baseline (every comparison is in the table below)."


def at_chance(spec) -> bool:
    return spec.init.name == "small_gaussian"


def test_a_level_at_chance_is_named_as_failed_and_never_an_effect(tmp_path):
    config = grid_config(TINY_CONFIG, ABLATION)
    runs = write_tables(tmp_path, config, effects={("activation", "tanh"): -10.0})
    chance = runs["init"] == "small_gaussian"
    runs.loc[chance, ["final_val_acc", "final_test_acc"]] = 0.09  # trained to chance: ok, but learned nothing
    lines = top_findings(runs, config)
    assert lines[0].startswith("3 of 12 runs ended at chance (validation accuracy below ")
    assert "init=small_gaussian (seeds 0, 1, 2). They are left out of every mean below." in lines[0]
    assert lines[1] == ("Failed to train, so left out of every comparison and ranking and of the best configuration: "
                        "init=small_gaussian (3 of 3 runs: 3 at chance).")
    assert not any(line.startswith("init small_gaussian") and "points" in line for line in lines)
    row = comparisons(runs, config).set_index("level").loc["small_gaussian"]
    assert row["failed"] and math.isnan(row["diff"]) and row["family_size"] != row["family_size"]  # NaN: not in it
    assert comparisons(runs, config).set_index("level").loc["tanh", "family_size"] == 2  # tanh, sigmoid


def test_many_failures_are_summarized_by_the_levels_they_share(tmp_path):
    config = grid_config(TINY_CONFIG, {"kind": "full", "seeds": [0], "factors": THOUSAND_FACTORS})
    runs = write_tables(tmp_path, config, status=lambda s: "diverged" if s.optimizer.name == "adam" and s.norm.name == "none" else "ok")
    assert top_findings(runs, config)[0].startswith(
        "100 of 1000 runs diverged: 100 variants, all with norm=none, optimizer=adam.")


def test_a_single_run_and_only_diverged_runs_still_say_something(tmp_path):
    single = grid_config(TINY_CONFIG, {"kind": "ablation", "seeds": [0], "factors": {"activation": ["relu"]}})
    runs = write_tables(tmp_path / "single", single)
    assert top_findings(runs, single) == ["No factor takes two levels among the finished runs, so there is nothing to compare."]
    assert best_configuration(runs, single)["variant"] == "baseline"
    failed = grid_config(TINY_CONFIG, {"kind": "ablation", "seeds": [0, 1], "factors": {"activation": ["relu", "tanh"]}})
    runs = write_tables(tmp_path / "failed", failed, status=lambda spec: "diverged")
    assert top_findings(runs, failed) == [
        "4 of 4 runs diverged: baseline (seeds 0, 1); activation=tanh (seeds 0, 1). They are left out of every mean below."]
    assert best_configuration(runs, failed) is None


def test_one_run_a_side_is_no_finding(tmp_path):
    config = grid_config(TINY_CONFIG, {"kind": "ablation", "seeds": [0, 1], "factors": {"activation": ["relu", "tanh"]}})
    runs = write_tables(tmp_path, config, noise=0.0, status=lambda s: "diverged" if s.activation.name == "tanh" and s.seed else "ok")
    (tanh,) = comparisons(runs, config).to_dict("records")
    assert tanh["n"] == 1 and tanh["test"] == "" and not tanh["failed"]  # one of two failed: not most of them
    assert sentence(tanh, "ablation").endswith("too few to test (two or more a side are needed), so no finding.")
    # its accuracy is a finite number (NaN logits argmax to class 0): the status keeps it out
    assert np.isfinite(runs.loc[runs.status == "diverged", "final_test_acc"]).all()


def test_the_best_configuration_is_chosen_on_validation_not_test(tmp_path):
    config = grid_config(TINY_CONFIG, {"kind": "ablation", "seeds": [0, 1], "factors": {"activation": ["relu", "tanh"]}})
    runs = write_tables(tmp_path, config, noise=0.0)
    tanh = runs["activation"] == "tanh"
    runs.loc[tanh, "final_val_acc"] = 0.60  # tanh best on validation …
    runs.loc[tanh, "final_test_acc"] = [0.10, 0.11]  # … and worst on test: validation must win
    best = best_configuration(runs, config)
    assert best["variant"] == "activation=tanh" and best["runs"] == 2 and best["candidates"] == 2
    assert best["val"] == pytest.approx((60.0, 0.0)) and best["test"][0] == pytest.approx(10.5)
    # the runner-up is the baseline: one sentence, the noise floor's comparison (its family: every variant)
    (versus,) = best["versus"]
    assert versus == ("activation=tanh trails the baseline by 29.5 points of test accuracy (10.5 vs 40.0 %; 2 seeds; "
                      "pooled t (2 cells × 2 seeds OLS, df=1), 95 % CI −35.9 to −23.1 Holm-corrected over 1 comparison).")


def test_the_best_configuration_says_when_it_is_not_detectably_better(tmp_path):
    config = grid_config(TINY_CONFIG, {"kind": "ablation", "seeds": [0, 1, 2],
                                       "factors": {"activation": ["relu", "tanh", "gelu"]}})
    runs = write_tables(tmp_path, config, effects={("activation", "tanh"): 1.0, ("activation", "gelu"): 0.5}, noise=3.0)
    runs.loc[runs.activation == "tanh", "final_val_acc"] += 0.05  # chosen on validation …
    runs.loc[runs.activation == "gelu", "final_val_acc"] += 0.03  # … gelu the runner-up
    best = best_configuration(runs, config)
    assert best["variant"] == "activation=tanh" and len(best["versus"]) == 2
    runner_up, against_baseline = best["versus"]
    assert runner_up.startswith("activation=tanh vs the runner-up on validation, activation=gelu: no detectable "
                                "difference with 3 seeds (minimum detectable effect")
    assert runner_up.endswith("Holm-corrected over 1 comparison).")
    # the two compared cells ran the same seeds: one OLS with seeds as blocks, its 95 % interval
    compared = runs[runs.activation.isin(["tanh", "gelu"])]
    fit = smf.ols("value ~ C(cell, Treatment('gelu')) + C(seed)",
                  pd.DataFrame({"value": 100 * compared["final_test_acc"], "cell": compared["activation"],
                                "seed": compared["seed"]})).fit()
    low, high = fit.conf_int(0.05).loc["C(cell, Treatment('gelu'))[T.tanh]"]
    signed = lambda x: f"{x:+.1f}".replace("-", "−")  # noqa: E731
    assert f"pooled t (2 cells × 3 seeds OLS, df=2), 95 % CI {signed(low)} to {signed(high)}" in runner_up
    # against the baseline: the very sentence the findings state for tanh (same test, same family)
    finding = sentence(comparisons(runs, config).set_index("level").loc["tanh"].to_dict() | {"level": "tanh"}, "ablation")
    assert against_baseline.replace("activation=tanh vs the baseline", "") == finding.replace(
        "activation tanh vs the baseline relu", "")


def test_a_runner_up_on_other_seeds_is_compared_by_welch(tmp_path):
    config = grid_config(TINY_CONFIG, {"kind": "ablation", "seeds": [0, 1, 2],
                                       "factors": {"activation": ["relu", "tanh", "gelu"]}})
    runs = write_tables(tmp_path, config, effects={("activation", "tanh"): 1.0, ("activation", "gelu"): 0.5}, noise=3.0)
    runs.loc[runs.activation == "tanh", "final_val_acc"] += 0.05
    runs.loc[runs.activation == "gelu", "final_val_acc"] += 0.03
    runs.loc[runs.activation == "gelu", "seed"] += 10  # the runner-up ran other seeds: no blocks
    runner_up = best_configuration(runs, config)["versus"][0]
    tanh, gelu = (100 * runs.loc[runs.activation == level, "final_test_acc"].to_numpy() for level in ("tanh", "gelu"))
    low, high = stats.ttest_ind(tanh, gelu, equal_var=False).confidence_interval(0.95)
    signed = lambda x: f"{x:+.1f}".replace("-", "−")  # noqa: E731
    assert f"Welch t, 95 % CI {signed(low)} to {signed(high)}" in runner_up


def test_a_configuration_at_chance_cannot_be_the_best(tmp_path):
    config = grid_config(TINY_CONFIG, {"kind": "ablation", "seeds": [0, 1], "factors": {"activation": ["relu", "tanh"]}})
    runs = write_tables(tmp_path, config, noise=0.0)
    runs.loc[runs.activation == "tanh", ["final_val_acc", "final_test_acc"]] = [0.11, 0.11]  # at chance, though
    runs.loc[runs.activation == "relu", "final_val_acc"] = 0.10  # … relu lower still: both at chance
    assert best_configuration(runs, config) is None
    runs.loc[runs.activation == "relu", "final_val_acc"] = 0.40
    assert best_configuration(runs, config)["variant"] == "baseline"
