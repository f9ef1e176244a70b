"""Paired comparisons of the early-stopping and checkpoint-averaging studies against scipy's paired
t test, Holm's procedure by hand and statsmodels' power of the one-sample t test."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.power import TTestPower

from trickbench.studies.comparisons import min_detectable_difference, paired_comparisons, paired_t_power

#: three arms over four seeds; arm "c" lacks seed 3
VALUES = {"a": [50.0, 61.0, 55.0, 58.0], "b": [48.0, 60.0, 51.0, 55.0], "c": [40.0, 62.0, 57.0, math.nan]}


def long_table() -> pd.DataFrame:
    return pd.DataFrame([{"seed": seed, "arm": arm, "acc": value} for arm, values in VALUES.items()
                         for seed, value in enumerate(values) if not math.isnan(value)])


def test_each_comparison_is_scipys_paired_t_with_bonferroni_intervals_and_holm_p_values():
    contrasts = [("a", "b"), ("a", "c"), ("c", "b")]
    table = paired_comparisons(long_table(), "arm", "acc", contrasts).set_index("comparison")
    assert (table["family_size"] == 3).all() and table["confidence"].iloc[0] == pytest.approx(1 - 0.05 / 3)
    raw = []
    for a, b in contrasts:
        seeds = [s for s in range(4) if not (math.isnan(VALUES[a][s]) or math.isnan(VALUES[b][s]))]
        x, y = np.array(VALUES[a])[seeds], np.array(VALUES[b])[seeds]
        reference = stats.ttest_rel(x, y)
        row = table.loc[f"{a} − {b}"]
        assert row["n"] == len(seeds) and row["mean"] == pytest.approx((x - y).mean())
        assert row["p"] == pytest.approx(reference.pvalue)
        low, high = reference.confidence_interval(1 - 0.05 / 3)
        assert row["ci_low"] == pytest.approx(low) and row["ci_high"] == pytest.approx(high)
        raw.append(reference.pvalue)
    # Holm by hand: the i-th smallest p times (m − i), then running maximum, capped at 1
    order = np.argsort(raw)
    adjusted = np.minimum(1, np.maximum.accumulate([raw[i] * (3 - k) for k, i in enumerate(order)]))
    expected = dict(zip((contrasts[i] for i in order), adjusted))
    for (a, b), value in expected.items():
        assert table.loc[f"{a} − {b}", "p_holm"] == pytest.approx(value)


def test_an_interval_that_includes_zero_is_no_detectable_difference_with_n_and_the_minimum_effect():
    table = paired_comparisons(long_table(), "arm", "acc", [("a", "c")]).iloc[0]
    assert table["ci_low"] < 0 < table["ci_high"]
    assert table["verdict"] == (f"no detectable difference with n = 3 seeds "
                                f"(minimum detectable effect {table['min_detectable']:.3g})")
    clear = pd.DataFrame({"seed": [0, 1, 2, 0, 1, 2], "arm": ["x"] * 3 + ["y"] * 3,
                          "acc": [10.0, 11.0, 12.0, 1.0, 2.1, 2.9]})
    assert paired_comparisons(clear, "arm", "acc", [("x", "y"), ("y", "x")])["verdict"].tolist() == ["higher", "lower"]


def test_groups_are_compared_separately_but_form_one_family():
    frame = pd.concat([long_table().assign(level="one"), long_table().assign(level="two")])
    table = paired_comparisons(frame, "arm", "acc", [("a", "b")], by=["level"])
    assert table["level"].tolist() == ["one", "two"] and (table["family_size"] == 2).all()
    assert table["level"].notna().all() and table["ci_low"].iloc[0] == table["ci_low"].iloc[1]


@pytest.mark.parametrize("effect, n, alpha", [(1.0, 5, 0.05), (0.5, 10, 0.01), (2.0, 3, 0.05 / 3)])
def test_paired_power_matches_statsmodels_where_it_is_defined(effect, n, alpha):
    assert paired_t_power(effect, n, alpha) == pytest.approx(TTestPower().power(effect, n, alpha), rel=1e-6)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 12), families=st.integers(1, 12), sd=st.floats(0.1, 10.0))
def test_the_minimum_detectable_effect_has_80_percent_power(n, families, sd):
    alpha = 0.05 / families
    effect = min_detectable_difference(n, sd, alpha)
    assert paired_t_power(effect / sd, n, alpha) == pytest.approx(0.8, abs=1e-6)
    assert paired_t_power(0.9 * effect / sd, n, alpha) < 0.8
