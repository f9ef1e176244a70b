"""The statistics behind the verdicts (the report's `two_arm_test` and `interval_alphas`, used by
`claims.verdicts.judge`) against textbook values and independent computations: Student's sleep
data as R's t.test reports it, Holm's procedure worked by hand on p-values from scipy, and power
from statsmodels and from the noncentral t directly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.power import TTestPower

from trickbench.claims import Claim, Contrast, Difference, Results
from trickbench.claims.verdicts import judge

# Student's sleep data (Cushny & Peebles 1905), extra hours of sleep under two drugs, same 10 patients
DRUG_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
DRUG_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def claims_of(contrasts: dict[str, Contrast], rule: Difference = Difference(unit="points")) -> dict[str, Claim]:
    """A registry of claims each measuring a fixed contrast (DRUG_2 is the arm predicted higher)."""
    return {name: Claim(name=name, statement=name, source="", quantity="", needs="", rule=rule,
                        measure=lambda results, c=contrast: c, phenomenon="gap")
            for name, contrast in contrasts.items()}


def scored(tmp_path, contrasts: dict[str, Contrast], rule: Difference = Difference(unit="points")):
    scorecard, _ = judge(Results(tmp_path), claims_of(contrasts, rule))
    return scorecard.set_index("claim")


def paired(higher, lower) -> Contrast:
    higher, lower = np.asarray(higher, float), np.asarray(lower, float)
    return Contrast(higher, lower, True, tuple(f"seed {i}" for i in range(len(higher))))


def test_paired_t_matches_r_on_the_sleep_data(tmp_path):
    """R: t.test(extra ~ group, data = sleep, paired = TRUE): t = -4.0621, df = 9, p = 0.002833,
    95 % CI -2.4598858 … -0.7001142, mean difference -1.58 (here drug 2 − drug 1: the signs flip)."""
    row = scored(tmp_path, {"sleep": paired(DRUG_2, DRUG_1)}).loc["sleep"]
    assert row["test"] == "paired t" and row["n"] == 10 and row["sample"] == "10 seeds, paired"
    assert row["effect"] == pytest.approx(1.58)
    assert row["p_value"] == pytest.approx(0.002833, abs=1e-6) and row["p_holm"] == pytest.approx(0.002833, abs=1e-6)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((0.7001142, 2.4598858), abs=1e-6)
    assert row["ci_level"] == pytest.approx(0.95) and row["verdict"] == "reproduced"


def test_welch_t_matches_r_on_the_sleep_data(tmp_path):
    """R: t.test(extra ~ group, data = sleep): t = -1.8608, df = 17.776, p = 0.07939,
    95 % CI -3.3654832 … 0.2054832: the interval spans 0, so the claim is inconclusive."""
    contrast = Contrast(np.array(DRUG_2), np.array(DRUG_1), False)
    row = scored(tmp_path, {"sleep": contrast}).loc["sleep"]
    assert row["test"] == "Welch t" and row["sample"] == "10 + 10 runs"
    assert row["p_value"] == pytest.approx(0.07939, abs=1e-5)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((-0.2054832, 3.3654832), abs=1e-6)
    assert row["verdict"] == "inconclusive"


def test_one_value_a_side_is_no_test(tmp_path):
    row = scored(tmp_path, {"one": Contrast(np.array([1.0]), np.array([2.0, 3.0]), False)}).loc["one"]
    assert row["verdict"] == "inconclusive" and row["test"] == "" and math.isnan(row["p_value"])
    assert "fewer than 2 seeds" in row["note"]


def test_holm_across_the_scorecard_by_hand(tmp_path):
    """Four claims; p-values from scipy's paired t. Holm by hand: sorted p₍ⱼ₎ is rejected while
    p₍ⱼ₎ ≤ α/(m − j + 1); a rejected claim's interval is taken at its step's level, the others at
    the level of the step where Holm stopped; adjusted p = running max of (m − j + 1)·p₍ⱼ₎."""
    rng = np.random.default_rng(7)
    contrasts = {f"c{i}": paired(rng.normal(mean, 1.0, 6), np.zeros(6)) for i, mean in enumerate((3.0, 0.1, 1.6, -2.5))}
    row = scored(tmp_path, contrasts)
    p = {name: stats.ttest_rel(c.higher, c.lower).pvalue for name, c in contrasts.items()}
    order = sorted(p, key=p.get)
    m, alpha, stopped = len(p), 0.05, None
    expected_alpha, adjusted, running = {}, {}, 0.0
    for j, name in enumerate(order):
        running = max(running, (m - j) * p[name])
        adjusted[name] = min(1.0, running)
        if stopped is None and p[name] > alpha / (m - j):
            stopped = j
        if stopped is None:
            expected_alpha[name] = alpha / (m - j)
    for name in order:
        expected_alpha.setdefault(name, alpha / (m - stopped))
    assert 0 < stopped < m  # the family has both rejected and kept tests
    for name, contrast in contrasts.items():
        d = contrast.higher - contrast.lower
        interval = stats.t.interval(1 - expected_alpha[name], len(d) - 1, loc=d.mean(), scale=stats.sem(d))
        assert row.loc[name, "ci_level"] == pytest.approx(1 - expected_alpha[name])
        assert row.loc[name, "p_holm"] == pytest.approx(adjusted[name])
        assert (row.loc[name, "ci_low"], row.loc[name, "ci_high"]) == pytest.approx(interval)
        assert (row.loc[name, "verdict"] != "inconclusive") == (adjusted[name] <= alpha)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(-3, 3), st.floats(0.05, 2)), min_size=1, max_size=8), st.integers(3, 10))
def test_a_claim_is_decided_exactly_when_holm_rejects(tmp_path_factory, effects, n):
    """For any scorecard without stated sizes: reproduced or not reproduced ⇔ statsmodels' Holm
    rejects its test at α = 0.05 (on scipy's p-values)."""
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(len(effects) * 1000 + n)
    contrasts = {f"c{i}": paired(rng.normal(mean, sd, n), np.zeros(n)) for i, (mean, sd) in enumerate(effects)}
    row = scored(tmp_path_factory.mktemp("holm"), contrasts)
    p = [stats.ttest_rel(c.higher, c.lower).pvalue for c in contrasts.values()]
    rejected, adjusted, _, _ = multipletests(p, alpha=0.05, method="holm")
    for name, reject, p_holm in zip(contrasts, rejected, adjusted):
        if math.isclose(p_holm, 0.05, rel_tol=1e-6):
            continue
        assert (row.loc[name, "verdict"] != "inconclusive") == reject, (name, row.loc[name].to_dict())


def power_by_noncentral_t(n: int, effect: float, alpha: float) -> float:
    """Two-sided paired t power from the noncentral t: df n − 1, λ = d√n."""
    critical = stats.t.ppf(1 - alpha / 2, n - 1)
    return stats.nct.sf(critical, n - 1, effect * math.sqrt(n)) + stats.nct.cdf(-critical, n - 1, effect * math.sqrt(n))


UNSURE = paired([1.0, -0.5, 2.0, 0.3], [0.0] * 4)  # mean 0.7, sd 1.06: t ≈ 1.3 on 3 df


def test_an_inconclusive_claim_says_what_would_decide_it(tmp_path):
    """Minimum detectable effect: the effect with 80 % power at its 4 seeds (noncentral t); seeds to
    decide: statsmodels' solve_power at the observed effect over the sd of the differences."""
    row = scored(tmp_path, {"unsure": UNSURE}).loc["unsure"]
    d = UNSURE.higher - UNSURE.lower
    sd = d.std(ddof=1)
    assert row["verdict"] == "inconclusive" and row["ci_low"] < 0 < row["ci_high"]
    assert power_by_noncentral_t(4, row["minimum_detectable_effect"] / sd, 0.05) == pytest.approx(0.8, abs=1e-4)
    n = TTestPower().solve_power(effect_size=d.mean() / sd, alpha=0.05, power=0.8)
    assert row["seeds_to_decide"] == math.ceil(n)


def test_with_a_stated_size_the_stated_size_decides(tmp_path):
    """The source states 2 points, inside the interval with 0; the observed 0.7 is 1.3 from it: the
    verdict is decided against 2 alone, at statsmodels' n for the standardized distance 1.3/sd."""
    row = scored(tmp_path, {"unsure": UNSURE}, Difference(unit="points", asserted=2.0, stated_as="2")).loc["unsure"]
    d = UNSURE.higher - UNSURE.lower
    n = TTestPower().solve_power(effect_size=(2.0 - d.mean()) / d.std(ddof=1), alpha=0.05, power=0.8)
    assert row["verdict"] == "inconclusive" and row["seeds_to_decide"] == math.ceil(n)


def test_a_ratio_is_tested_on_logs_and_shown_as_a_ratio(tmp_path):
    """ln 4 − ln 2 per seed, with noise: the effect shown is exp(mean log ratio), its interval the
    exp of the t interval of the logs."""
    logs = np.log([4.1, 3.9, 4.0, 4.2]) - np.log(2.0)
    rule = Difference(unit="×", asserted=1.5, ratio=True, stated_as="1.5")
    row = scored(tmp_path, {"ratio": paired(logs, np.zeros(4))}, rule).loc["ratio"]
    low, high = stats.t.interval(0.95, 3, loc=logs.mean(), scale=stats.sem(logs))
    assert row["effect"] == pytest.approx(math.exp(logs.mean()))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((math.exp(low), math.exp(high)))
    assert row["verdict"] == "reproduced"  # the interval lies above the stated 1.5×
