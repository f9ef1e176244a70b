"""The claims about two factors together (issue 21, point 6): batch norm × initialization and Adam ×
weight decay, on runs.csv tables built by hand — judged where the design crosses the factors, outside
this setup (naming the preset) where the runs are there but the design does not, and the preset that
crosses them planned (not trained)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.formula.api import ols
from statsmodels.stats.anova import anova_lm

from claim_tables import CHANCE, run_row, write
from conftest import REPO
from trickbench.claims import CLAIMS, NOT_REPRODUCED, NOT_RUN, OUTSIDE, REPRODUCED, Results
from trickbench.claims.conditions import INTERACTIONS_PRESET, setup_facts, unmet_conditions
from trickbench.claims.registered import load_all
from trickbench.claims.verdicts import judge
from trickbench.config import load_config
from trickbench.design import expand

NORM_INIT, ADAM_DECAY = "batch_norm_reduces_init_dependence", "adamw_generalizes_better_than_adam_l2"
INITS = ("he_normal", "xavier_normal", "small_gaussian", "large_gaussian")
DECAYS = ("l2(strength=0.01)", "decoupled_weight_decay(strength=0.01)")
SEEDS = (0, 1, 2, 3)
#: test accuracy per init, without normalization and with batch norm: W = randn fails without it
ACCURACY = {"none": {"he_normal": 0.45, "xavier_normal": 0.44, "small_gaussian": 0.40, "large_gaussian": 0.11},
            "batch": {"he_normal": 0.46, "xavier_normal": 0.46, "small_gaussian": 0.45, "large_gaussian": 0.43}}


def config_with(*presets: str) -> dict:
    return load_config(REPO / "config.yaml", *(REPO / p for p in presets))


def judged(folder: Path, name: str, config=None) -> dict:
    load_all()
    scorecard, _ = judge(Results(folder, CHANCE, config), {name: CLAIMS[name]})
    return scorecard.iloc[0].to_dict()


def noise(count: int) -> np.ndarray:
    """Fixed small perturbations (±1 point at most), one per run, so that seeds vary."""
    return 0.01 * np.sin(np.arange(count) * 2.7)


def crossed_runs(decoupled_gain: float = 0.0) -> pd.DataFrame:
    """The interactions preset's full design under Adam: norm × init × the two decays × seeds;
    decoupled decay `decoupled_gain` (accuracy) above L2 in every cell."""
    cells = [(norm, init, decay, seed) for norm in ACCURACY for init in INITS for decay in DECAYS for seed in SEEDS]
    rows = []
    for (norm, init, decay, seed), jitter in zip(cells, noise(len(cells))):
        value = ACCURACY[norm][init] + jitter + (decoupled_gain if "decoupled" in decay else 0)
        rows.append(run_row(f"{norm}-{init}-{decay}-{seed}", seed, {
            "norm": norm, "init": init, "regularizer": decay, "optimizer": "adam"},
            best_test_acc=value, final_val_acc=max(value, 0.2)))
    return pd.DataFrame(rows)


# -- batch norm × initialization -------------------------------------------------------------------
def test_batch_norm_narrows_the_spread_over_inits_by_a_paired_t_test(tmp_path):
    """Per decay and seed, best − worst init without normalization vs with batch norm: the effect
    and p-value are scipy's paired t test of those spreads; the interaction in the note is
    statsmodels' two-way ANOVA with configuration × seed as blocks."""
    runs = crossed_runs()
    row = judged(write(tmp_path, runs=runs), NORM_INIT, config_with(INTERACTIONS_PRESET))
    runs = runs.assign(value=100 * runs["best_test_acc"])
    spread = runs.groupby(["regularizer", "seed", "norm"])["value"].agg(lambda v: v.max() - v.min()).unstack("norm")
    expected = stats.ttest_rel(spread["none"], spread["batch"])
    assert row["verdict"] == REPRODUCED and row["sample"] == "8 seeds, paired"
    assert row["effect"] == pytest.approx((spread["none"] - spread["batch"]).mean())
    assert row["p_value"] == pytest.approx(expected.pvalue)
    runs["block"] = runs["regularizer"] + "|" + runs["seed"].astype(str)
    fit = ols("value ~ C(norm) * C(init) + C(block)", runs).fit()
    f = anova_lm(fit, typ=2).loc["C(norm):C(init)", "F"]
    assert f"F(3, {fit.df_resid:g}) = {f:.2f}" in row["note"], row["note"]


def test_inits_that_end_equally_far_apart_with_and_without_batch_norm_do_not_reproduce_it(tmp_path):
    """Batch norm's runs are the unnormalized ones with W = randn 5 points further behind (and a
    little noise): they spread over the inits more, and the interval lies below 0."""
    runs = crossed_runs()
    batch = runs["norm"] == "batch"
    runs.loc[batch, "best_test_acc"] = (runs.loc[~batch, "best_test_acc"].to_numpy() + noise(int(batch.sum())) / 4
                                        - 0.05 * (runs.loc[batch, "init"] == "large_gaussian").to_numpy())
    row = judged(write(tmp_path, runs=runs), NORM_INIT, config_with(INTERACTIONS_PRESET))
    assert row["verdict"] == NOT_REPRODUCED and row["ci_high"] < 0


def default_grid_runs() -> pd.DataFrame:
    """config.yaml's grid, an ablation around momentum SGD without normalization: the inits at
    norm none, batch norm at He init, L2 under momentum, Adam without any penalty."""
    levels = [{}, *({"init": init} for init in INITS[1:]), {"norm": "batch"}, {"regularizer": "l2(strength=0.001)"},
              {"optimizer": "adam"}]
    return pd.DataFrame([run_row(f"run-{i}-{seed}", seed, changed, best_test_acc=0.40 + 0.01 * i + 0.001 * seed)
                         for i, changed in enumerate(levels) for seed in (0, 1, 2)])


def test_the_default_grid_is_outside_the_norm_by_init_claim_and_names_the_preset(tmp_path):
    """The ablation's runs have both norms and four inits, but no init ran with batch norm except
    the baseline's: outside this setup, the unmet condition and the preset named."""
    row = judged(write(tmp_path, runs=default_grid_runs()), NORM_INIT, config_with())
    assert row["verdict"] == OUTSIDE
    assert "here norm_init.crossed_inits = 1" in row["note"] and INTERACTIONS_PRESET in row["note"]
    assert row["preset"] == INTERACTIONS_PRESET


# -- Adam × weight decay ---------------------------------------------------------------------------
@pytest.mark.parametrize("gain, verdict", [(0.02, REPRODUCED), (-0.02, NOT_REPRODUCED)])
def test_adamw_against_adam_with_l2_is_a_paired_t_test_at_the_same_strength(tmp_path, gain, verdict):
    """Decoupled decay against the L2 penalty under Adam, paired on norm × init × seed (32 pairs):
    scipy's paired t test of their test accuracies."""
    runs = crossed_runs(decoupled_gain=gain)
    row = judged(write(tmp_path, runs=runs), ADAM_DECAY, config_with(INTERACTIONS_PRESET))
    ordered = runs.sort_values(["norm", "init", "seed"])
    decoupled = 100 * ordered.loc[ordered["regularizer"] == DECAYS[1], "best_test_acc"].to_numpy()
    l2 = 100 * ordered.loc[ordered["regularizer"] == DECAYS[0], "best_test_acc"].to_numpy()
    assert row["verdict"] == verdict and row["sample"] == "32 seeds, paired"
    assert row["effect"] == pytest.approx((decoupled - l2).mean()) and np.sign(row["effect"]) == np.sign(gain)
    assert row["p_value"] == pytest.approx(stats.ttest_rel(decoupled, l2).pvalue)
    assert "λ = 0.01" in row["note"]


def test_the_default_grid_has_no_adam_with_weight_decay_and_names_the_preset(tmp_path):
    """config.yaml's grid runs Adam without a penalty and L2 under momentum only: not run, and the
    note names the preset that runs it."""
    row = judged(write(tmp_path, runs=default_grid_runs()), ADAM_DECAY, config_with())
    assert row["verdict"] == NOT_RUN and INTERACTIONS_PRESET in row["note"]


def test_decays_at_different_strengths_are_outside_this_setup(tmp_path):
    """Adam with L2 at 0.01 and decoupled decay at 0.001: the nominal strengths are not matched, the
    design meets no matched configuration, and the claim names the preset."""
    runs = crossed_runs()
    runs["regularizer"] = runs["regularizer"].str.replace("decoupled_weight_decay(strength=0.01)",
                                                          "decoupled_weight_decay(strength=0.001)", regex=False)
    unmatched = tmp_path / "unmatched.yaml"
    unmatched.write_text("design:\n  factors:\n    regularizer: [{name: l2, strength: 0.01}, "
                         "{name: decoupled_weight_decay, strength: 0.001}]\n")
    config = load_config(REPO / "config.yaml", REPO / INTERACTIONS_PRESET, unmatched)
    row = judged(write(tmp_path / "tables", runs=runs), ADAM_DECAY, config)
    assert row["verdict"] == OUTSIDE
    assert "here adam_decay.matched_configurations = 0" in row["note"] and INTERACTIONS_PRESET in row["note"]


# -- the preset --------------------------------------------------------------------------------------
def test_the_interactions_preset_plans_48_runs_that_meet_both_claims_conditions():
    """Planned, not trained: 2 norms × 4 inits × 2 decays, each on the same 3 seeds; both claims'
    conditions met (all four inits crossed with both norms; Adam's two decays at the same strength
    in each of the 8 norm × init configurations)."""
    config = config_with(INTERACTIONS_PRESET)
    runs = expand(config)
    assert len(runs) == 48 and {spec.seed for spec in runs} == {0, 1, 2}
    facts = setup_facts(config)
    assert facts["norm_init.crossed_inits"] == 4 and facts["adam_decay.matched_configurations"] == 8
    for name in (NORM_INIT, ADAM_DECAY):
        assert not unmet_conditions(load_all()[name].conditions, facts), name
