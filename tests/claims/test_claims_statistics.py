"""The statistics behind the verdicts (`claims.adapter`) against textbook values and independent
computations: Student's sleep data as R's t.test reports it, Holm's procedure worked by hand, and
power from the noncentral t distribution directly (not statsmodels, which the code uses)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from trickbench.claims import adapter

# Student's sleep data (Cushny & Peebles 1905), extra hours of sleep under two drugs, same 10 patients
DRUG_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
DRUG_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def test_paired_t_matches_r_on_the_sleep_data():
    """R: t.test(extra ~ group, data = sleep, paired = TRUE): t = -4.0621, df = 9, p = 0.002833,
    95 % CI -2.4598858 … -0.7001142, mean difference -1.58."""
    test = adapter.compare(DRUG_1, DRUG_2, paired=True)
    assert test.name == "paired t" and test.df == 9 and test.n == 10
    assert test.effect == pytest.approx(-1.58)
    assert test.effect / test.se == pytest.approx(-4.0621, abs=1e-4)
    assert test.p == pytest.approx(0.002833, abs=1e-6)
    assert test.interval(0.95) == pytest.approx((-2.4598858, -0.7001142), abs=1e-6)


def test_welch_t_matches_r_on_the_sleep_data():
    """R: t.test(extra ~ group, data = sleep): t = -1.8608, df = 17.776, p = 0.07939,
    95 % CI -3.3654832 … 0.2054832."""
    test = adapter.compare(DRUG_1, DRUG_2, paired=False)
    assert test.name == "Welch t"
    assert test.effect / test.se == pytest.approx(-1.8608, abs=1e-4)
    assert test.df == pytest.approx(17.776, abs=1e-3)
    assert test.p == pytest.approx(0.07939, abs=1e-5)
    assert test.interval(0.95) == pytest.approx((-3.3654832, 0.2054832), abs=1e-6)


def test_one_value_a_side_is_no_test():
    assert adapter.compare([1.0], [2.0, 3.0], paired=False) is None
    assert adapter.compare([1.0], [2.0], paired=True) is None


def test_holm_by_hand():
    """p = 0.01, 0.04, 0.03, 0.005 at α = 0.05: sorted 0.005 ≤ 0.05/4 and 0.01 ≤ 0.05/3 are rejected,
    0.03 > 0.05/2 stops the procedure. Rejected tests get their step's level, the others the
    level of the step where it stopped (1 − 0.05/2); Holm-adjusted p = max over earlier steps of
    (m − j + 1)·p: 0.03, 0.06, 0.06, 0.02."""
    corrected = adapter.holm([0.01, 0.04, 0.03, 0.005])
    assert [c.rejected for c in corrected] == [True, False, False, True]
    assert [c.level for c in corrected] == pytest.approx([1 - 0.05 / 3, 1 - 0.05 / 2, 1 - 0.05 / 2, 1 - 0.05 / 4])
    assert [c.p_holm for c in corrected] == pytest.approx([0.03, 0.06, 0.06, 0.02])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-3, 3), st.floats(0.05, 2)), min_size=1, max_size=12),
       st.integers(3, 12))
def test_an_interval_excludes_zero_exactly_when_holm_rejects(effects, n):
    """For any family of paired tests, each at its Holm level: 0 outside the interval ⇔ rejected."""
    rng = np.random.default_rng(len(effects) * 1000 + n)
    tests = [adapter.compare(rng.normal(mean, sd, n), np.zeros(n), paired=True) for mean, sd in effects]
    for test, corrected in zip(tests, adapter.holm([t.p for t in tests])):
        low, high = test.interval(corrected.level)
        excludes = low > 0 or high < 0
        assert excludes == corrected.rejected or math.isclose(corrected.p_holm, 0.05, rel_tol=1e-6)


def power_by_noncentral_t(n: int, effect: float, alpha: float, paired: bool) -> float:
    """Two-sided t test power from the noncentral t: one-sample (df n−1, λ = d√n) or two-sample
    (df 2n−2, λ = d√(n/2))."""
    df, noncentrality = (n - 1, effect * math.sqrt(n)) if paired else (2 * n - 2, effect * math.sqrt(n / 2))
    critical = stats.t.ppf(1 - alpha / 2, df)
    return stats.nct.sf(critical, df, noncentrality) + stats.nct.cdf(-critical, df, noncentrality)


@pytest.mark.parametrize("paired", [True, False])
@pytest.mark.parametrize("distance, sd, alpha", [(1.0, 1.0, 0.05), (0.5, 2.0, 0.01), (2.0, 1.0, 0.05 / 21)])
def test_seeds_to_detect_is_the_smallest_n_with_80_percent_power(paired, distance, sd, alpha):
    n = int(adapter.seeds_to_detect(distance, sd, alpha, paired))
    assert power_by_noncentral_t(n, distance / sd, alpha, paired) >= 0.8 - 1e-6
    assert power_by_noncentral_t(n - 1, distance / sd, alpha, paired) < 0.8


@pytest.mark.parametrize("paired", [True, False])
@pytest.mark.parametrize("distance, sd, alpha", [(1.0, 1.0, 0.05), (0.5, 2.0, 0.01), (0.3, 1.0, 0.05 / 21)])
def test_seeds_to_detect_agrees_with_statsmodels(paired, distance, sd, alpha):
    from statsmodels.stats.power import TTestIndPower, TTestPower

    solver = TTestPower() if paired else TTestIndPower()
    n = solver.solve_power(effect_size=distance / sd, alpha=alpha, power=0.8, alternative="two-sided")
    assert adapter.seeds_to_detect(distance, sd, alpha, paired) == math.ceil(n)


def test_the_minimum_detectable_effect_at_two_seeds_is_as_wide_as_the_interval():
    """Two seeds, 99 % level: the interval's half-width is t_{0.995, 1}·sd/√2 ≈ 45·sd; an effect the
    test detects 80 % of the time must be larger still (statsmodels returns NaN or a wrong root here)."""
    assert adapter.minimum_detectable(2, 1.0, 0.01, paired=True) > stats.t.ppf(0.995, 1) / math.sqrt(2)


@pytest.mark.parametrize("paired", [True, False])
def test_the_minimum_detectable_effect_has_80_percent_power(paired):
    effect = adapter.minimum_detectable(8, 1.5, 0.01, paired)
    assert power_by_noncentral_t(8, effect / 1.5, 0.01, paired) == pytest.approx(0.8, abs=1e-4)


def test_no_effect_needs_infinitely_many_seeds():
    assert adapter.seeds_to_detect(0.0, 1.0, 0.05, True) == math.inf
    assert adapter.seeds_to_detect(1e-6, 1.0, 0.05, True) == math.inf


def test_runs_that_did_not_train_are_failed():
    runs = pd.DataFrame({"status": ["ok", "diverged", "ok", "ok"], "final_test_acc": [0.4, 0.1, math.nan, 0.11],
                         "final_val_acc": [0.4, 0.1, 0.4, 0.105]})
    assert adapter.failed(runs).tolist() == [False, True, True, True]  # the last one is at chance
