"""The pooled comparisons (`stats.pooled`): expectations from statsmodels/scipy fits written here."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats
from statsmodels.stats.multitest import multipletests

from trickbench.stats import compare_to_reference, pooled_compare_contrasts, pooled_compare_to_reference, pooled_difference


def grid(cells: int = 13, seeds: int = 3, sd: float = 1.0, seed: int = 0, noisy: dict[int, float] | None = None,
         step: float = 0.5) -> pd.DataFrame:
    """A synthetic randomized complete block design: cell c's mean rises by `step` a cell, every
    seed shifts all cells alike, noise sd per cell (`noisy` overrides)."""
    rng = np.random.default_rng(seed)
    block = rng.normal(0, 2, seeds)
    return pd.DataFrame([{"level": f"l{c:02d}", "seed": s,
                          "value": 50 + step * c + block[s] + rng.normal(0, (noisy or {}).get(c, sd))}
                         for c in range(cells) for s in range(seeds)])


def holm_alphas(p: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """Holm's per-comparison levels: a rejection's own step α/(m−k), the rest the stopping step."""
    m, order = len(p), np.argsort(p, kind="stable")
    reject = multipletests(p, alpha=alpha, method="holm")[0]
    rejected = int(reject.sum())
    out = np.empty(m)
    for rank, i in enumerate(order):
        out[i] = alpha / (m - rank) if reject[i] else alpha / (m - rejected)
    return out


def t_power(noncentrality: float, df: float, alpha: float) -> float:
    c = stats.t.isf(alpha / 2, df)
    wrong = stats.nct.cdf(-c, df, noncentrality)  # NaN only where it underflows to ~0
    return stats.nct.sf(c, df, noncentrality) + (0.0 if np.isnan(wrong) else wrong)


def test_the_blocked_model_is_statsmodels_ols_with_holm_on_its_residual_df():
    frame = grid()
    table = pooled_compare_to_reference(frame, "level", "value", "l00")
    fit = smf.ols("value ~ C(level) + C(seed)", frame).fit()
    assert fit.df_resid == (13 - 1) * (3 - 1) == 24
    levels = [f"l{c:02d}" for c in range(1, 13)]
    names = [f"C(level)[T.{level}]" for level in levels]
    diff, se, p = fit.params[names].to_numpy(), fit.bse[names].to_numpy(), fit.pvalues[names].to_numpy()
    alphas = holm_alphas(p)
    half = stats.t.ppf(1 - alphas / 2, 24) * se
    assert table["level"].tolist() == levels
    assert (table["df"] == 24).all() and table["test"].str.startswith("pooled t (13 cells × 3 seeds OLS, df=24)").all()
    np.testing.assert_allclose(table["diff"], diff)
    np.testing.assert_allclose(table["p_value"], p)
    np.testing.assert_allclose(table["p_adjusted"], multipletests(p, method="holm")[1])
    np.testing.assert_allclose(table["diff_ci_low"], diff - half)
    np.testing.assert_allclose(table["diff_ci_high"], diff + half)
    assert table["detectable"].tolist() == list((diff - half > 0) | (diff + half < 0))
    mde = [optimize.brentq(lambda d: t_power(d / s, 24, a) - 0.8, 1e-9, 20 * s) for s, a in zip(se, alphas)]
    np.testing.assert_allclose(table["mde"], mde, rtol=1e-6)
    assert "Brown–Forsythe" in table["why"].iloc[0] and "blocks" in table["why"].iloc[0]


def test_pooling_shrinks_the_minimum_detectable_effect_against_per_comparison_paired_t():
    frame = grid(seed=3)
    pooled = pooled_compare_to_reference(frame, "level", "value", "l00")
    # the per-comparison paired t, from scipy: sd of the 3 per-seed differences, 2 df, Holm over 12
    wide = frame.pivot(index="seed", columns="level", values="value")
    sds = np.array([(wide[f"l{c:02d}"] - wide["l00"]).std(ddof=1) for c in range(1, 13)])
    p = np.array([stats.ttest_rel(wide[f"l{c:02d}"], wide["l00"]).pvalue for c in range(1, 13)])
    paired_mde = [optimize.brentq(lambda d: t_power(d * math.sqrt(3) / s, 2, a) - 0.8, 1e-9, 1e4 * s)
                  for s, a in zip(sds, holm_alphas(p))]
    assert pooled["mde"].max() < 0.5 * np.median(paired_mde)


def test_seeds_needed_is_where_the_same_design_reaches_the_power():
    frame = grid(seed=5)
    row = pooled_compare_to_reference(frame, "level", "value", "l00").iloc[3]
    n, se, alpha = row["seeds_needed"], (row["diff_ci_high"] - row["diff"]) / stats.t.ppf(1 - (1 - row["ci_level"]) / 2, 24), \
        1 - row["ci_level"]
    assert math.isfinite(n) and n >= 2

    def power(seeds: int) -> float:  # 13 cells × seeds blocks: df (13−1)(seeds−1), se ∝ 1/√seeds
        return t_power(row["diff"] / (se * math.sqrt(3 / seeds)), 12 * (seeds - 1), alpha)

    assert power(int(n)) >= 0.8 and (n == 2 or power(int(n) - 1) < 0.8)
    assert (row["seeds_needed"] > 3) == (not row["detectable"])


def test_unequal_variances_fall_back_to_the_paired_t_and_say_why():
    frame = grid(noisy={4: 25.0}, seed=1)
    fit = smf.ols("value ~ C(level) + C(seed)", frame).fit()
    residuals = [fit.resid[frame["level"] == level] for level in frame["level"].unique()]
    assert stats.levene(*residuals, center="median").pvalue < 0.05
    table = pooled_compare_to_reference(frame, "level", "value", "l00")
    expected = compare_to_reference(frame, "level", "value", "l00")
    assert (table["test"] == "paired t").all()
    assert table["why"].str.startswith("Brown–Forsythe p=").all()
    np.testing.assert_allclose(table["diff_ci_low"], expected["diff_ci_low"])


def test_extra_reference_seeds_enter_a_one_way_model():
    frame = grid(cells=5, seeds=3, seed=2)
    extra = pd.DataFrame({"level": "l00", "seed": [3, 4, 5, 6], "value": [49.0, 51.5, 50.2, 48.7]})
    frame = pd.concat([frame, extra], ignore_index=True)
    table = pooled_compare_to_reference(frame, "level", "value", "l00")
    fit = smf.ols("value ~ C(level)", frame).fit()
    assert fit.df_resid == len(frame) - 5 == 14
    names = [f"C(level)[T.l{c:02d}]" for c in range(1, 5)]
    np.testing.assert_allclose(table["diff"], fit.params[names])
    np.testing.assert_allclose(table["p_value"], fit.pvalues[names])
    assert (table["df"] == 14).all() and table["test"].str.contains("no seed blocks").all()
    assert (table["n_reference"] == 7).all() and "extra seeds" in table["why"].iloc[0]


def test_cells_that_ran_different_seeds_fall_back():
    frame = grid(cells=4)
    frame = frame[~((frame["level"] == "l02") & (frame["seed"] == 0))]
    frame = pd.concat([frame, pd.DataFrame({"level": ["l02"], "seed": [7], "value": [51.0]})])
    table = pooled_compare_to_reference(frame, "level", "value", "l00")
    assert set(table["test"]) <= {"paired t", "Welch t"} and (table["why"] == "the cells ran different seeds").all()


def test_a_shared_reference_across_groups_is_one_cell():
    """An ablation: the baseline is every factor's reference, one set of runs."""
    frame = grid(cells=5, seed=4).assign(variant=lambda f: f["level"])
    factor = {"l01": "a", "l02": "a", "l03": "b", "l04": "b"}
    long = pd.concat([frame[frame["level"].isin([k for k, v in factor.items() if v == f] + ["l00"])].assign(factor=f)
                      for f in ("a", "b")], ignore_index=True)
    table = pooled_compare_to_reference(long, "level", "value", "l00", within="factor", cell="variant")
    fit = smf.ols("value ~ C(level) + C(seed)", frame).fit()
    assert fit.df_resid == 8 and (table["df"] == 8).all()
    np.testing.assert_allclose(table["diff"], fit.params[[f"C(level)[T.l{c:02d}]" for c in range(1, 5)]])


def test_contrasts_among_levels_come_from_the_same_fit():
    frame = grid(cells=4, seed=6)
    table = pooled_compare_contrasts(frame, "level", "value", [("l03", "l01"), ("l02", "l01")])
    fit = smf.ols("value ~ C(level) + C(seed)", frame[frame["level"] != "l00"]).fit()  # the contrasts' cells only
    expected = fit.t_test("C(level)[T.l03] = 0")  # l01 is the treatment baseline
    assert table["reference"].tolist() == ["l01", "l01"]
    assert table["diff"].iloc[0] == pytest.approx(float(np.squeeze(expected.effect)))
    assert table["p_value"].iloc[0] == pytest.approx(float(np.squeeze(expected.pvalue)))


def test_every_cell_pools_the_cells_outside_the_contrasts():
    """One chosen pair of 6 levels: with `every_cell` the other 4 inform the residual variance —
    the OLS over all 6 cells (df = 5 × 2), not over the pair's two (df = 2)."""
    frame = grid(cells=6, seed=2)
    table = pooled_compare_contrasts(frame, "level", "value", [("l03", "l01")], every_cell=True)
    fit = smf.ols("value ~ C(level, Treatment('l01')) + C(seed)", frame).fit()
    expected = fit.t_test("C(level, Treatment('l01'))[T.l03] = 0")
    assert table["df"].iloc[0] == fit.df_resid == 10
    assert table["diff"].iloc[0] == pytest.approx(float(np.squeeze(expected.effect)))
    assert table["p_value"].iloc[0] == pytest.approx(float(np.squeeze(expected.pvalue)))
    assert pooled_compare_contrasts(frame, "level", "value", [("l03", "l01")])["df"].iloc[0] == 2


def test_one_difference_for_a_family_of_the_callers_own_is_the_same_contrast():
    """`pooled_difference` (the claims): the OLS contrast, its one-sided p against a boundary from
    the same fit, and None with why where a cell ran other seeds."""
    frame = grid(cells=5, seed=4)
    runs = frame.rename(columns={"level": "cell"}).assign(
        arm=frame["level"].map({"l04": "higher", "l00": "lower"}).fillna(""))
    found, why = pooled_difference(runs)
    fit = smf.ols("value ~ C(level) + C(seed)", frame).fit()
    expected = fit.t_test("C(level)[T.l04] = 0")
    assert found.diff == pytest.approx(float(np.squeeze(expected.effect)))
    assert found.se == pytest.approx(float(np.squeeze(expected.sd))) and found.df == fit.df_resid == 8
    assert "blocks" in why
    sized = fit.t_test("C(level)[T.l04] = 1.5")
    assert found.p_above(1.5) == pytest.approx(stats.t.sf(float(np.squeeze(sized.tvalue)), 8))
    low, high = found.interval(0.05)
    assert high - found.diff == pytest.approx(stats.t.ppf(0.975, 8) * found.se)
    moved = runs.assign(seed=np.where(runs["cell"] == "l02", runs["seed"] + 10, runs["seed"]))
    assert pooled_difference(moved) == (None, "the cells ran different seeds")


@settings(max_examples=25, deadline=None)
@given(values=st.lists(st.floats(-50, 50), min_size=8, max_size=8))
def test_two_cells_blocked_is_the_paired_t(values):
    frame = pd.DataFrame({"level": ["a"] * 4 + ["b"] * 4, "seed": [0, 1, 2, 3] * 2, "value": values})
    differences = np.subtract(values[4:], values[:4])
    if np.ptp(differences) < 1e-6 * max(1.0, np.abs(values).max()):
        return  # no residual variance: no test to compare
    table = pooled_compare_to_reference(frame, "level", "value", "a")
    assert table["p_value"].iloc[0] == pytest.approx(stats.ttest_rel(values[4:], values[:4]).pvalue, rel=1e-6, abs=1e-12)


def test_a_rank_change_is_the_paired_t_of_the_per_seed_difference_of_differences_holm_over_pairs():
    from trickbench.stats import order_change_tests

    rng = np.random.default_rng(7)
    rows = []
    for condition, shift in (("fixed", {"a": 2.0, "b": 0.0, "c": 1.0}), ("tuned", {"a": -2.0, "b": 0.0, "c": 1.2})):
        for seed in range(5):
            rows += [{"condition": condition, "level": level, "seed": seed, "value": 50 + s + rng.normal(0, 0.4)}
                     for level, s in shift.items()]
    frame = pd.DataFrame(rows)
    pairs = [("a", "b"), ("c", "b")]
    table = order_change_tests(frame, "level", "value", pairs, "condition", "fixed")
    wide = frame.pivot_table(index=["condition", "seed"], columns="level", values="value")
    p = [stats.ttest_rel((wide[a] - wide[b]).loc["tuned"], (wide[a] - wide[b]).loc["fixed"]).pvalue for a, b in pairs]
    np.testing.assert_allclose(table["p_value"], p)
    np.testing.assert_allclose(table["p_adjusted"], multipletests(p, method="holm")[1])
    assert table["detectable"].tolist() == [True, False]  # a swaps beyond the noise; c barely moves


def test_rank_intervals_come_from_the_corrected_pairwise_differences():
    from trickbench.stats import pooled_level_ranks

    frame = pd.DataFrame([{"level": level, "seed": s, "value": base + 0.3 * ((s * 7 + i) % 3)}
                          for i, (level, base) in enumerate((("top", 80.0), ("x", 50.0), ("y", 50.2)))
                          for s in range(3)])
    ranks = pooled_level_ranks(frame).set_index("level")
    assert ranks.loc["top", ["rank", "rank_ci_low", "rank_ci_high"]].tolist() == [1, 1, 1]
    assert (ranks.loc["x", "rank_ci_low"], ranks.loc["x", "rank_ci_high"]) == (2, 3)  # x and y cannot be told apart
    assert ranks["test"].iloc[0].startswith("pooled t (3 cells × 3 seeds OLS")
