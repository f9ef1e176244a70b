"""The statistics module against scipy, statsmodels and values worked out by hand: the two tests
and their intervals, the multiple-comparison corrections, power and seeds needed, the chance test,
McNemar, the paired bootstrap, the blocked two-way ANOVA and the bootstrap of a factor ranking."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.power import TTestIndPower, TTestPower

from trickbench.stats import (PAIRED, WELCH, ChanceTest, bootstrap_level_ranks, bootstrap_ranking, compare_contrasts,
                                     compare_to_reference, difference_sentence, failure_reasons, interaction_anova,
                                     interval_alphas, mcnemar_exact, paired_bootstrap, two_arm_test)
from trickbench.stats.power import paired_power, welch_df, welch_power

BASE, OTHER = [40.0, 43.0, 38.9], [45.1, 45.3, 45.0]


# -- the two tests -------------------------------------------------------------------------------
def test_runs_on_the_same_seeds_are_paired_and_match_scipy_and_the_hand_formula():
    test = two_arm_test(OTHER, BASE, [0, 1, 2], [0, 1, 2])
    assert test.test == PAIRED and test.df == 2
    d = np.array(OTHER) - np.array(BASE)
    assert test.p_value == pytest.approx(stats.ttest_rel(OTHER, BASE).pvalue)
    half = stats.t.ppf(0.975, 2) * d.std(ddof=1) / math.sqrt(3)  # mean difference ± t·sd_d/√n
    assert test.interval(0.05) == pytest.approx((d.mean() - half, d.mean() + half))
    scipy_ci = stats.ttest_rel(OTHER, BASE).confidence_interval(0.9)
    assert test.interval(0.1) == pytest.approx((scipy_ci.low, scipy_ci.high))


def test_pairing_follows_the_seeds_not_the_row_order():
    shuffled = two_arm_test([45.0, 45.1, 45.3], BASE, [2, 0, 1], [0, 1, 2])
    assert shuffled.p_value == pytest.approx(stats.ttest_rel(OTHER, BASE).pvalue)


@pytest.mark.parametrize("keys", [[0, 1, 3], [0, 0, 1], None])
def test_other_seeds_or_repeated_seeds_get_welch(keys):
    test = two_arm_test(OTHER, BASE, keys, [0, 1, 2])
    assert test.test == WELCH
    scipy = stats.ttest_ind(OTHER, BASE, equal_var=False)
    assert test.p_value == pytest.approx(scipy.pvalue) and test.df == pytest.approx(scipy.df)
    assert test.interval(0.05) == pytest.approx(tuple(scipy.confidence_interval(0.95)))


def test_one_value_a_side_is_no_test():
    test = two_arm_test([45.0], BASE)
    assert test.test == "" and math.isnan(test.p_value) and all(map(math.isnan, test.interval(0.05)))
    assert math.isnan(test.minimum_detectable_effect(0.05)) and test.diff == pytest.approx(45 - np.mean(BASE))


def test_a_difference_without_spread_is_exact():
    test = two_arm_test([2.0, 2.0], [1.0, 1.0], [0, 1], [0, 1])
    assert test.p_value == 0 and test.interval(0.01) == (1.0, 1.0) and test.minimum_detectable_effect(0.05) == 0


# -- corrections ---------------------------------------------------------------------------------
P = [0.01, 0.04, 0.03, 0.005]


def test_holm_by_hand():
    adjusted, alphas = interval_alphas(P, "holm", 0.05)
    # sorted 0.005, 0.01, 0.03, 0.04: 4·0.005 = 0.02, max(0.02, 3·0.01) = 0.03, max(0.03, 2·0.03) = 0.06, max(0.06, 0.04)
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # 0.005 < 0.05/4 and 0.01 < 0.05/3 are rejected at their steps; 0.03 ≥ 0.05/2 stops: the rest get 0.05/2
    assert alphas == pytest.approx([0.05 / 3, 0.025, 0.025, 0.05 / 4])


def test_benjamini_hochberg_and_bonferroni_by_hand():
    adjusted, alphas = interval_alphas(P, "bh", 0.05)
    # min over j ≥ i of m·p(j)/j: 4·0.04/4 = 0.04, 4·0.03/3 = 0.04, 4·0.01/2 = 0.02, 4·0.005/1 = 0.02
    assert adjusted == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert alphas == pytest.approx([0.05] * 4)  # all 4 rejected: α·R/m = α (Benjamini & Yekutieli 2005)
    adjusted, alphas = interval_alphas(P, "bonferroni", 0.05)
    assert adjusted == pytest.approx([0.04, 0.16, 0.12, 0.02]) and alphas == pytest.approx([0.0125] * 4)


def test_untested_comparisons_stay_out_of_the_family():
    adjusted, alphas = interval_alphas([0.01, math.nan, 0.02], "bonferroni")
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1]) and alphas[2] == pytest.approx(0.025)


def test_an_unknown_correction_is_one_clear_line():
    with pytest.raises(ValueError, match="correction 'sidak': use one of holm, bh, bonferroni"):
        interval_alphas(P, "sidak")


def family(draw_values: list[list[float]], seeds: bool) -> pd.DataFrame:
    rows = []
    for index, values in enumerate(draw_values):
        rows += [{"level": f"l{index}", "seed": seed if seeds else 0, "value": v} for seed, v in enumerate(values)]
    return pd.DataFrame(rows)


arms = st.lists(st.lists(st.floats(0, 100, allow_nan=False), min_size=3, max_size=3), min_size=3, max_size=6)


@settings(max_examples=40, deadline=None)
@given(arms, st.sampled_from(["holm", "bh", "bonferroni"]), st.booleans())
def test_corrected_intervals_contain_the_uncorrected_ones_and_decide_like_the_correction(values, correction, seeds):
    frame = family(values, seeds)
    table = compare_to_reference(frame, "level", "value", "l0", correction=correction)
    tested = table[table["test"] != ""]
    assert (tested["p_adjusted"] >= tested["p_value"] - 1e-12).all()
    base = frame.loc[frame.level == "l0"]
    for row in tested.to_dict("records"):
        rows = frame.loc[frame.level == row["level"]]
        test = two_arm_test(rows["value"], base["value"], rows["seed"].tolist(), base["seed"].tolist())
        low95, high95 = test.interval(0.05)
        low_bonferroni, high_bonferroni = test.interval(0.05 / row["family_size"])
        assert row["diff_ci_low"] <= low95 + 1e-9 and row["diff_ci_high"] >= high95 - 1e-9
        assert row["diff_ci_low"] >= low_bonferroni - 1e-9 and row["diff_ci_high"] <= high_bonferroni + 1e-9
        if abs(row["p_adjusted"] - 0.05) > 1e-9:  # the interval excludes 0 exactly when the correction rejects
            assert row["detectable"] == (row["p_adjusted"] < 0.05)
        if not row["detectable"] and row["test"] == PAIRED:  # never "undetected, yet enough seeds"
            assert row["seeds_needed"] > row["n"] and abs(row["diff"]) <= row["mde"] + 1e-9


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 100), min_size=2, max_size=6), st.lists(st.floats(0, 100), min_size=2, max_size=6),
       st.floats(-30, 30), st.booleans())
def test_shifting_one_arm_by_delta_shifts_the_difference_and_its_interval_by_delta(a, b, delta, paired):
    size = min(len(a), len(b)) if paired else None
    a, b = (a[:size], b[:size]) if paired else (a, b)
    keys = (list(range(len(a))), list(range(len(b)))) if paired else (None, None)
    before, after = two_arm_test(a, b, *keys), two_arm_test(np.array(a) + delta, b, *keys)
    assert after.diff == pytest.approx(before.diff + delta, abs=1e-6)
    assume(before.se > 1e-6)
    assert np.array(after.interval(0.01)) == pytest.approx(np.array(before.interval(0.01)) + delta, abs=1e-6)


def test_the_family_spans_every_group_of_within():
    frame = pd.DataFrame([{"factor": f, "level": level, "seed": s, "value": v + s}
                          for f, levels in {"a": {"base": 0, "x": 5}, "b": {"ref": 0, "y": 1, "z": 9}}.items()
                          for level, v in levels.items() for s in range(3)])
    frame.loc[(frame.level == "y") & (frame.seed == 0), "value"] = math.nan
    table = compare_to_reference(frame, "level", "value", {"a": "base", "b": "ref"}, within="factor")
    assert table[["factor", "level"]].values.tolist() == [["a", "x"], ["b", "y"], ["b", "z"]]
    assert (table["family_size"] == 3).all()
    assert table.set_index("level").loc["y", "test"] == WELCH  # its seed-0 run has no score: seeds differ


#: three treatments of the same four seeds (the weights a study keeps of one run); "c" lacks seed 3
TREATMENTS = {"a": [50.0, 61.0, 55.0, 58.0], "b": [48.0, 60.0, 51.0, 55.0], "c": [40.0, 62.0, 57.0, math.nan]}


def treatments() -> pd.DataFrame:
    return pd.DataFrame([{"seed": seed, "arm": arm, "acc": value} for arm, values in TREATMENTS.items()
                         for seed, value in enumerate(values) if not math.isnan(value)])


def test_contrasts_are_scipys_tests_with_holm_p_values_and_holm_intervals_by_hand():
    contrasts = [("a", "b"), ("a", "c"), ("c", "b")]
    table = compare_contrasts(treatments(), "arm", "acc", contrasts).set_index(["arm", "reference"])
    assert table.index.tolist() == contrasts and (table["family_size"] == 3).all()
    a, b, c = (np.array(TREATMENTS[arm]) for arm in "abc")
    references = {("a", "b"): stats.ttest_rel(a, b),  # the same seeds once each: paired
                  ("a", "c"): stats.ttest_ind(a, c[:3], equal_var=False),  # seed 3 only on one side: Welch
                  ("c", "b"): stats.ttest_ind(c[:3], b, equal_var=False)}
    assert table["test"].tolist() == [PAIRED, WELCH, WELCH]
    raw = np.array([references[pair].pvalue for pair in contrasts])
    assert table["p_value"].to_numpy() == pytest.approx(raw)
    # Holm by hand: the i-th smallest p times (m − i), running maximum, capped at 1
    order = np.argsort(raw)
    holm = np.minimum(1, np.maximum.accumulate(raw[order] * (3 - np.arange(3))))
    assert table["p_adjusted"].to_numpy()[order] == pytest.approx(holm)
    # each interval at the level of its Holm step: rejected at α/(m − k) for the k-th smallest,
    # the rest at the step where Holm stopped (here nothing is rejected: α/3 for all)
    assert (holm >= 0.05).all() and table["ci_level"].to_numpy() == pytest.approx([1 - 0.05 / 3] * 3)
    for pair, reference in references.items():
        low, high = reference.confidence_interval(1 - 0.05 / 3)
        assert (table.loc[pair, "diff_ci_low"], table.loc[pair, "diff_ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert table.loc[("a", "b"), "diff"] == pytest.approx((a - b).mean())


def test_contrasts_form_one_family_over_the_groups_and_a_missing_arm_stays_out():
    frame = pd.concat([treatments().assign(level="one"), treatments().assign(level="two")])
    frame = frame[~((frame.level == "two") & (frame.arm == "c"))]
    table = compare_contrasts(frame, "arm", "acc", [("a", "b"), ("c", "b")], within="level")
    assert table[["level", "arm", "reference"]].values.tolist() == [["one", "a", "b"], ["one", "c", "b"],
                                                                   ["two", "a", "b"], ["two", "c", "b"]]
    assert (table["family_size"] == 3).all()  # two groups × two contrasts, less the one without its arm
    missing = table.iloc[3]
    assert missing["n"] == 0 and missing["test"] == "" and math.isnan(missing["p_adjusted"])


def test_a_contrast_against_one_reference_is_compare_to_reference():
    frame = treatments()
    pairs = compare_contrasts(frame, "arm", "acc", [("a", "b"), ("c", "b")]).drop(columns="reference")
    pd.testing.assert_frame_equal(pairs, compare_to_reference(frame, "arm", "acc", "b"))


# -- power -----------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(effect=st.floats(0.0, 40.0), n=st.integers(2, 12), other=st.integers(2, 12), family=st.integers(1, 20),
       df=st.floats(1.0, 30.0))
def test_power_matches_statsmodels_wherever_statsmodels_is_finite(effect, n, other, family, df):
    alpha = 0.05 / family
    paired, welch = TTestPower().power(effect, n, alpha), TTestIndPower().power(effect, n, alpha, ratio=other / n, df=df)
    if math.isfinite(paired):
        assert paired_power(effect, n, alpha) == pytest.approx(paired, rel=1e-6, abs=1e-9)
    if math.isfinite(welch):
        assert welch_power(effect, n, other, alpha, df) == pytest.approx(welch, rel=1e-6, abs=1e-9)


def simulated_rejections(statistic: np.ndarray, df: float, alpha: float) -> tuple[float, float]:
    """(share of |t| beyond the two-sided critical value, 4 binomial standard errors of that share)."""
    rejected = float(np.mean(np.abs(statistic) > stats.t.isf(alpha / 2, df)))
    return rejected, 4 * math.sqrt(max(rejected * (1 - rejected), 1e-4) / len(statistic))


@pytest.mark.parametrize("effect, n, family", [(5.0, 3, 6), (5.0, 3, 12), (10.0, 3, 20), (30.0, 2, 6)])
def test_paired_power_where_statsmodels_returns_nan_is_the_simulated_paired_t_test(effect, n, family):
    """Few seeds, a corrected α and a large effect: statsmodels' power is NaN there. 100,000
    experiments of n per-seed differences N(effect, 1), each run through scipy's one-sample t test."""
    alpha = 0.05 / family
    assert math.isnan(TTestPower().power(effect, n, alpha))
    differences = np.random.default_rng(0).normal(effect, 1.0, size=(100_000, n))
    rejected, tolerance = simulated_rejections(stats.ttest_1samp(differences, 0.0, axis=1).statistic, n - 1, alpha)
    assert paired_power(effect, n, alpha) == pytest.approx(rejected, abs=tolerance)


@pytest.mark.parametrize("effect, n, other, df, family", [(8.0, 3, 3, 2.0, 13), (7.0, 3, 4, 2.5, 6), (7.0, 2, 5, 3.3, 13),
                                                          (46.4, 4, 4, 3.5, 1), (30.7, 5, 5, 8.0, 2)])
def test_welch_power_where_statsmodels_returns_nan_is_the_simulated_noncentral_t(effect, n, other, df, family):
    """Welch on ~2 degrees of freedom (a baseline much noisier than its variant) at a Holm level,
    where statsmodels' wrong-sign tail is NaN, and huge effects, where its right-sign tail is: the
    power is P(|T| > c) for T = (Z + λ) / √(χ²_df / df), simulated."""
    alpha = 0.05 / family
    assert math.isnan(TTestIndPower().power(effect, n, alpha, ratio=other / n, df=df))
    rng = np.random.default_rng(1)
    shift = effect / math.sqrt(1 / n + 1 / other)
    statistic = (rng.standard_normal(100_000) + shift) / np.sqrt(rng.chisquare(df, 100_000) / df)
    rejected, tolerance = simulated_rejections(statistic, df, alpha)
    assert welch_power(effect, n, other, alpha, df) == pytest.approx(rejected, abs=tolerance)


@settings(max_examples=60, deadline=None)
@given(effect=st.floats(0.0, 1e4), more=st.floats(0.0, 1e3), n=st.integers(2, 30), family=st.integers(1, 50))
def test_power_is_finite_at_least_alpha_and_rises_with_the_effect(effect, more, n, family):
    """A two-sided t test rejects at least as often as α under any shift, and more often the larger
    the shift (a hand-integrated power on 1 degree of freedom once fell below α)."""
    alpha = 0.05 / family
    low, high = paired_power(effect, n, alpha), paired_power(effect + more, n, alpha)
    assert math.isfinite(low) and alpha * (1 - 1e-6) <= low <= high + 1e-12 and high <= 1 + 1e-12
    assert welch_power(effect, n, n, alpha, n - 0.5) >= alpha * (1 - 1e-6)


def test_minimum_detectable_effect_and_seeds_needed_match_solve_power():
    rng = np.random.default_rng(3)
    base, other = rng.normal(40, 2, 6), rng.normal(41, 2, 6)
    paired = two_arm_test(other, base, range(6), range(6))
    sd = np.std(other - base, ddof=1)
    d = TTestPower().solve_power(effect_size=None, nobs=6, alpha=0.01, power=0.8)
    assert paired.minimum_detectable_effect(0.01) == pytest.approx(d * sd, rel=1e-4)
    n = TTestPower().solve_power(effect_size=paired.diff / sd, nobs=None, alpha=0.01, power=0.8)
    assert paired.seeds_needed(0.01) == math.ceil(n)
    # on 2 degrees of freedom solve_power stops short (its power there is 0.787); the power of our MDE is 0.8
    three = two_arm_test(OTHER, BASE, [0, 1, 2], [0, 1, 2])
    mde = three.minimum_detectable_effect(0.01) / three.spread
    assert TTestPower().power(mde, 3, 0.01) == pytest.approx(0.8, abs=1e-6)
    # Welch with equal sds and equal n has df = 2n − 2: exactly TTestIndPower's pooled two-sample t
    even = two_arm_test([1.0, 2.0, 3.0], [0.5, 1.5, 2.5])  # the same sd on both sides
    assert even.df == pytest.approx(4)
    d = TTestIndPower().solve_power(effect_size=None, nobs1=3, alpha=0.05, power=0.8)
    assert even.minimum_detectable_effect(0.05) == pytest.approx(d * 1.0, rel=1e-6)  # σ = 1
    needed = TTestIndPower().solve_power(effect_size=0.5, nobs1=None, alpha=0.05, power=0.8)
    assert even.seeds_needed(0.05) == math.ceil(needed) == 64  # Cohen 1988, Table 2.4.1: d = 0.5 → 64


def test_seeds_needed_against_a_stated_size_is_the_t_test_of_that_null():
    # H0: δ = b is decided by (diff − b)/se: statsmodels' power at the standardized distance (diff − b)/sd
    rng = np.random.default_rng(5)
    base, other = rng.normal(40, 2, 6), rng.normal(43, 2, 6)
    paired = two_arm_test(other, base, range(6), range(6))
    sd = np.std(other - base, ddof=1)
    for boundary in (1.0, 6.0, -2.0):
        n = TTestPower().solve_power(effect_size=abs(paired.diff - boundary) / sd, nobs=None, alpha=0.01, power=0.8)
        assert paired.seeds_needed(0.01, boundary=boundary) == math.ceil(n)
    even = two_arm_test([1.0, 2.0, 3.0], [0.5, 1.5, 2.5])  # σ = 1, diff 0.5: 1.0 from a stated size of 1.5
    n = TTestIndPower().solve_power(effect_size=1.0, nobs1=None, alpha=0.05, power=0.8)
    assert even.seeds_needed(0.05, boundary=1.5) == math.ceil(n) == 17  # Cohen 1988, Table 2.4.1: d = 1 → 17
    assert paired.seeds_needed(0.05, boundary=paired.diff) == math.inf  # no distance to tell


@pytest.mark.parametrize("scale", [1.0, 1e-300])
def test_welch_df_is_the_satterthwaite_formula_at_any_scale(scale):
    """Variances near 1e-300 (hypothesis found seeds differing by 4e-152) square to 0: the formula
    still gives the df of the same variances at scale 1, the ratio being scale-free."""
    var_a, var_b, n_a, n_b = 2.0, 0.5, 4, 6
    a, b = var_a / n_a, var_b / n_b
    expected = (a + b) ** 2 / (a ** 2 / (n_a - 1) + b ** 2 / (n_b - 1))
    assert welch_df(scale * var_a, scale * var_b, n_a, n_b) == pytest.approx(expected)
    assert welch_df(scale * var_a, 0.0, n_a, n_b) == pytest.approx(n_a - 1)


def test_seeds_needed_for_a_large_welch_difference_follows_the_welch_df():
    # baseline sd 2.12, other 0.15: Welch's df ≈ 2 at n = 3; the pooled t's df = 4 would claim fewer seeds
    welch = two_arm_test(OTHER, BASE)
    pooled = math.ceil(TTestIndPower().solve_power(effect_size=welch.diff / welch.spread, nobs1=None, alpha=0.05, power=0.8))
    assert welch.seeds_needed(0.05) >= pooled
    n = int(welch.seeds_needed(0.05))
    df_at = lambda k: (k - 1) * (welch.sd ** 2 + welch.reference_sd ** 2) ** 2 / (welch.sd ** 4 + welch.reference_sd ** 4)
    sigma = math.sqrt((welch.sd ** 2 + welch.reference_sd ** 2) / 2)
    power = lambda k: welch_power(welch.diff / sigma, k, k, 0.05, df_at(k))
    assert power(n) >= 0.8 > power(n - 1)


# -- failures ----------------------------------------------------------------------------------------
def test_the_chance_threshold_is_where_the_exact_binomial_test_rejects():
    test = ChanceTest(classes=10, n_val=466)
    k = test.correct_needed
    assert stats.binomtest(k, 466, 0.1, alternative="greater").pvalue <= 0.05
    assert stats.binomtest(k - 1, 466, 0.1, alternative="greater").pvalue > 0.05
    assert test.threshold == pytest.approx(k / 466) and 0.12 < test.threshold < 0.13
    assert test.at_chance(0.09) and test.at_chance((k - 1) / 466) and not test.at_chance(k / 466)


def test_failure_reasons_name_status_chance_and_missing_scores():
    runs = pd.DataFrame({"status": ["ok", "ok", "diverged", "ok", "exploded"],
                         "final_val_acc": [0.40, 0.09, 0.10, math.nan, 0.45]})
    reasons = failure_reasons(runs, "final_val_acc", ChanceTest(10, 466))
    assert reasons.tolist() == ["", "at chance", "diverged", "no score", "exploded"]
    assert failure_reasons(runs, "final_val_acc", None).tolist() == ["", "", "diverged", "no score", "exploded"]


# -- paired predictions on the same images --------------------------------------------------------------
def test_mcnemar_on_a_known_table():
    # 10 both right, 5 only the first, 1 only the other, 20 both wrong: exact p = 2·P(X ≤ 1 | Bin(6, ½)) = 14/64
    first = np.array([1] * 10 + [1] * 5 + [0] * 1 + [0] * 20, dtype=bool)
    other = np.array([1] * 10 + [0] * 5 + [1] * 1 + [0] * 20, dtype=bool)
    result = mcnemar_exact(first, other)
    assert (result["only_first_right"], result["only_other_right"]) == (5, 1)
    assert result["mcnemar_p"] == pytest.approx(14 / 64)


def test_paired_bootstrap_matches_scipys_paired_bootstrap():
    rng = np.random.default_rng(1)
    a, b = rng.random(300) < 0.6, rng.random(300) < 0.5
    estimate, low, high = paired_bootstrap(lambda i: a[i].mean() - b[i].mean(), 300, resamples=4000)
    assert estimate == pytest.approx(a.mean() - b.mean())
    reference = stats.bootstrap((a.astype(float), b.astype(float)), lambda x, y, axis: x.mean(axis) - y.mean(axis),
                                paired=True, n_resamples=4000, method="BCa", rng=np.random.default_rng(2))
    assert low == pytest.approx(reference.confidence_interval.low, abs=0.01)
    assert high == pytest.approx(reference.confidence_interval.high, abs=0.01)
    same = paired_bootstrap(lambda i: a[i].mean() - a[i].mean(), 300, resamples=200)
    assert same == (0.0, 0.0, 0.0)


# -- the interaction ANOVA ---------------------------------------------------------------------------------
def crossed(values: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"a": a, "b": b, "seed": s, "value": v} for (a, b), vs in values.items() for s, v in enumerate(vs)])


def test_blocked_interaction_f_by_hand():
    # cell means 50/40/40/50 (a crossing interaction), seeds ±1 in a pattern whose seed means are equal (SS_seed = 0):
    # SS_AB = n·Σ residual² = 2·4·25 = 200 on 1 df; SS_E = 8 on (ab − 1)(s − 1) = 3 df → F = 200 / (8/3) = 75
    frame = crossed({("x", "p"): [49, 51], ("x", "q"): [41, 39], ("y", "p"): [39, 41], ("y", "q"): [51, 49]})
    result = interaction_anova(frame, "a", "b")
    assert result["F"] == pytest.approx(75.0) and result["df_error"] == 3 and result["blocks"] == "seed"
    assert result["p_value"] == pytest.approx(stats.f.sf(75.0, 1, 3))
    # the minimum detectable rms interaction has 80 % power by scipy's noncentral F: λ = N·f², f = rms / σ
    f = result["mde_rms"] / result["residual_sd"]
    critical = stats.f.isf(0.05, 1, 3)
    assert stats.ncf.sf(critical, 1, 3, 8 * f ** 2) == pytest.approx(0.8, abs=1e-6)


def test_seeds_as_blocks_take_the_seed_effect_out_of_the_error():
    # every cell's seed-1 run is 4 points above its seed-0 run: unblocked that is error, blocked it is not
    frame = crossed({("x", "p"): [50, 54], ("x", "q"): [40, 44.5], ("y", "p"): [40, 43.5], ("y", "q"): [50, 54]})
    blocked, unblocked = interaction_anova(frame, "a", "b"), interaction_anova(frame, "a", "b", block=None)
    assert blocked["residual_sd"] < unblocked["residual_sd"] / 5 and blocked["mde_rms"] < unblocked["mde_rms"]


def test_an_empty_cell_is_not_tested():
    frame = crossed({("x", "p"): [49, 51], ("x", "q"): [41, 39], ("y", "p"): [39, 41]})
    assert math.isnan(interaction_anova(frame, "a", "b")["F"])


# -- the bootstrap of a ranking ------------------------------------------------------------------------------
def test_the_spread_interval_of_two_levels_is_scipys_percentile_bootstrap():
    rng = np.random.default_rng(0)
    a, b = rng.normal(40, 2, 6), rng.normal(35, 3, 5)
    long = pd.DataFrame({"factor": "f", "level": ["a"] * 6 + ["b"] * 5, "cell": ["a"] * 6 + ["b"] * 5,
                         "run_id": range(11), "value": np.concatenate([a, b])})
    table = bootstrap_ranking(long, resamples=20000)
    reference = stats.bootstrap((a, b), lambda x, y, axis: np.abs(x.mean(axis) - y.mean(axis)), method="percentile",
                                n_resamples=20000, rng=np.random.default_rng(1)).confidence_interval
    row = table.iloc[0]
    assert row["spread"] == pytest.approx(abs(a.mean() - b.mean()))
    assert row["spread_ci_low"] == pytest.approx(reference.low, abs=0.1)
    assert row["spread_ci_high"] == pytest.approx(reference.high, abs=0.1)


def test_a_dominant_factor_ranks_first_in_almost_every_resample():
    rows, run = [], 0
    for factor, gap in (("big", 10.0), ("small", 1.0)):
        for level, shift in (("ref", 0.0), ("other", gap)):
            for seed in range(3):
                rows.append({"factor": factor, "level": level, "cell": f"{factor}:{level}", "run_id": run,
                             "value": 40 + shift + 0.5 * seed})
                run += 1
    table = bootstrap_ranking(pd.DataFrame(rows), min_runs=1).set_index("factor")
    assert table.index.tolist() == ["big", "small"] and table.loc["big", "p_first"] == 1.0
    assert table["p_first"].sum() == pytest.approx(1.0)


def exact_bootstrap_means(values: list[float]) -> dict[float, float]:
    """Every mean a bootstrap resample of `values` can take, with its probability: all n^n ordered
    draws enumerated (independent of the Monte Carlo under test)."""
    import itertools

    found: dict[float, float] = {}
    for draw in itertools.product(values, repeat=len(values)):
        mean = round(sum(draw) / len(draw), 9)
        found[mean] = found.get(mean, 0.0) + len(values) ** -len(values)
    return found


def test_level_ranks_match_the_exactly_enumerated_bootstrap():
    a, b, c = [41.0, 44.0, 40.0], [42.0, 43.5, 39.0], [30.0, 31.0, 29.5]
    frame = pd.DataFrame({"level": ["a"] * 3 + ["b"] * 3 + ["c"] * 3, "value": a + b + c})
    table = bootstrap_level_ranks(frame, resamples=40000, min_runs=1).set_index("level")
    # c is below every resample of a and b: a or b ranks first, by P(mean_a ≥ mean_b) (ties share rank 1)
    ma, mb = exact_bootstrap_means(a), exact_bootstrap_means(b)
    a_first = sum(pa * pb for x, pa in ma.items() for y, pb in mb.items() if x >= y)
    b_first = sum(pa * pb for x, pa in ma.items() for y, pb in mb.items() if y >= x)
    assert table.loc["a", "p_first"] == pytest.approx(a_first, abs=0.01)
    assert table.loc["b", "p_first"] == pytest.approx(b_first, abs=0.01)
    assert table.loc["c", "p_first"] == 0 and (table.loc["c", ["rank", "rank_ci_low", "rank_ci_high"]] == 3).all()
    assert table.loc["a", "rank"] == 1 and table.loc["b", "rank"] == 2  # 41.67 vs 41.5
    assert (table.loc["a", "rank_ci_low"], table.loc["a", "rank_ci_high"]) == (1, 2)
    assert table.loc["a", "mean"] == pytest.approx(np.mean(a)) and table["n"].tolist() == [3, 3, 3]


@settings(max_examples=30, deadline=None)
@given(gap=st.floats(0.1, 20), spreads=st.lists(st.floats(0, 5), min_size=3, max_size=3),
       runs=st.integers(1, 4))
def test_a_level_above_every_run_of_the_others_ranks_first_in_every_resample(gap, spreads, runs):
    rows = []
    for index, spread in enumerate(spreads):  # level 0 lies `gap` above the best run of the others
        base = 30.0 - 10 * index if index else 30.0 + 10 + gap
        rows += [{"level": f"l{index}", "value": base + spread * k / max(runs - 1, 1)} for k in range(runs)]
    table = bootstrap_level_ranks(pd.DataFrame(rows), resamples=500, min_runs=1).set_index("level")
    assert table.loc["l0", "p_first"] == 1.0 and table.loc["l0", ["rank", "rank_ci_low", "rank_ci_high"]].tolist() == [1, 1, 1]
    assert table["p_first"].sum() == pytest.approx(1.0)


def test_p_first_is_withheld_below_the_stated_seeds():
    """With 3 runs a cell the bootstrap's P(first) is not reported (it under-covers)."""
    rows = [{"level": level, "value": 40.0 + shift + 0.5 * k} for level, shift in (("a", 10.0), ("b", 0.0)) for k in range(3)]
    assert bootstrap_level_ranks(pd.DataFrame(rows))["p_first"].isna().all()
    long = pd.DataFrame([{"factor": "f", "level": r["level"], "cell": r["level"], "run_id": i, "value": r["value"]}
                         for i, r in enumerate(rows)])
    assert bootstrap_ranking(long)["p_first"].isna().all()
    assert bootstrap_ranking(long, min_runs=3)["p_first"].iloc[0] == 1.0


# -- sentences ---------------------------------------------------------------------------------------------------
def test_a_difference_whose_interval_includes_zero_is_no_detectable_difference():
    frame = family([BASE, [41.0, 40.1, 39.0], OTHER], seeds=True)
    rows = compare_to_reference(frame, "level", "value", "l0").set_index("level")
    assert not rows.loc["l1", "detectable"]
    text = difference_sentence(rows.loc["l1"].to_dict() | {"level": "l1"}, "activation tanh", "the baseline relu")
    assert text.startswith("activation tanh vs the baseline relu: no detectable difference with 3 seeds (minimum detectable "
                           f"effect {rows.loc['l1', 'mde']:.1f} points;")
    assert "paired t, 95 % CI" in text and "Holm-corrected over 2 comparisons" in text
    assert "beats" not in text and "trails" not in text


def test_a_detectable_difference_names_its_direction_test_interval_and_n():
    frame = family([[40.0, 40.5, 39.8], [50.1, 50.4, 49.9], [40.2, 40.9, 39.9]], seeds=True)
    row = compare_to_reference(frame, "level", "value", "l0").iloc[0].to_dict()
    assert row["detectable"]
    text = difference_sentence(row, "norm batch", "the baseline none")
    assert text.startswith("norm batch beats the baseline none by 10.0 points of test accuracy (50.1 vs 40.1 %; 3 seeds; "
                           "paired t, 95 % CI +")
    assert text.endswith("Holm-corrected over 2 comparisons).")
