"""The noise floor: Welch intervals of differences, the within-noise flag, the seeds a difference
needs, and how the factor-effects table and the report's sentences use them."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from trickbench.config import validate_config
from trickbench.report import noise
from trickbench.report.grid import effects_table
from trickbench.report.stats import (pooled_sd, seeds_needed, t_test_power, versus_reference, welch_difference)


def test_welch_difference_by_hand():
    d = welch_difference([1, 2, 3], [4, 5, 6, 7])
    va, vb = 1 / 3, (5 / 3) / 4  # s²/n of each side
    assert d.diff == -3.5
    assert d.df == pytest.approx((va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 3))
    half = scipy_stats.t.ppf(0.975, d.df) * math.sqrt(va + vb)
    assert (d.low, d.high) == pytest.approx((-3.5 - half, -3.5 + half))
    ci = scipy_stats.ttest_ind([1, 2, 3], [4, 5, 6, 7], equal_var=False).confidence_interval()
    assert (d.low, d.high) == pytest.approx((ci.low, ci.high))
    assert not d.within_noise


def test_within_noise_flag_on_hand_made_seeds():
    assert not welch_difference([80.0, 80.5, 79.8], [70.1, 70.4, 69.9]).within_noise  # 10 points apart, sd ~0.3
    assert welch_difference([80.0, 83.0], [79.0, 84.0]).within_noise  # 0 points apart, sd ~2-3
    one_seed = welch_difference([90.0], [70.0, 71.0])
    assert one_seed.within_noise and math.isnan(one_seed.low)  # one seed says nothing about the noise


def test_seeds_needed_known_values():
    # two-sided two-sample t test, α = 0.05, 80 % power: d = 1 → 17 per group, d = 0.5 → 64 (Cohen 1988, Table 2.4.1)
    assert seeds_needed(1.0, 1.0) == 17
    assert seeds_needed(2.0, 1.0) == 64
    assert seeds_needed(0.3, 3.0) == 2  # a difference ten times the noise: the minimum
    assert seeds_needed(1.0, 0.0) == math.inf
    assert math.isnan(seeds_needed(math.nan, 1.0))


@settings(max_examples=30, deadline=None)
@given(st.floats(0.15, 5.0))
def test_seeds_needed_is_the_smallest_n_with_enough_power(effect: float):
    n = int(seeds_needed(1.0, effect))
    assert t_test_power(n, effect) >= 0.8
    assert n == 2 or t_test_power(n - 1, effect) < 0.8
    # never fewer than the normal approximation 2·(z_.975 + z_.8)²/d² (Lehr's 16/d²)
    assert n >= 2 * (scipy_stats.norm.ppf(0.975) + scipy_stats.norm.ppf(0.8)) ** 2 / effect ** 2


def test_t_test_power_matches_a_simulation():
    rng = np.random.default_rng(0)
    n, effect, trials = 10, 1.0, 2000
    rejected = sum(scipy_stats.ttest_ind(rng.normal(effect, 1, n), rng.normal(0, 1, n)).pvalue < 0.05 for _ in range(trials))
    assert rejected / trials == pytest.approx(t_test_power(n, effect), abs=0.035)


def test_pooled_sd_by_hand():
    assert pooled_sd([[1, 3], [10, 10, 13], [7]]) == pytest.approx(math.sqrt((1 * 2 + 2 * 3) / 3))
    assert math.isnan(pooled_sd([[1], [2]]))


def test_versus_reference_marks_each_level():
    frame = pd.DataFrame({"level": ["base"] * 3 + ["far"] * 3 + ["near"] * 3 + ["single"],
                          "value": [50, 51, 50.5, 60, 61, 60.5, 50, 52, 49, 70]})
    table = versus_reference(frame, "level", "value", "base").set_index("level")
    assert math.isnan(table.loc["base", "within_noise"]) and table.loc["base", "diff"] == 0
    assert table.loc["far", "within_noise"] == False  # noqa: E712
    assert table.loc["near", "within_noise"] == True  # noqa: E712
    assert table.loc["single", "within_noise"] == True and math.isnan(table.loc["single", "diff_ci_low"])  # noqa: E712
    assert table.loc["far", "seeds_needed"] == 2
    assert table.loc["near", "seeds_needed"] > 10


def grid_runs(values: dict[str, list[float]], val_offset: dict[str, float] | None = None) -> pd.DataFrame:
    """Runs of an activation ablation around relu, with given final test accuracies (fractions)."""
    rows = []
    for level, accuracies in values.items():
        for seed, acc in enumerate(accuracies):
            rows.append({"run_id": f"{level}{seed}", "seed": seed, "varies": "baseline" if level == "relu" else "activation",
                         "activation": level, "init": "he_normal", "norm": "batch", "regularizer": "none",
                         "optimizer": "momentum", "schedule": "cosine", "preprocessing": "standardize",
                         "status": "ok", "final_test_acc": acc, "best_test_acc": acc,
                         "final_val_acc": acc + (val_offset or {}).get(level, 0.0)})
    return pd.DataFrame(rows)


def test_factor_effects_carry_the_noise_flag_and_are_ordered_on_validation(tiny_config):
    config = validate_config(tiny_config)
    runs = grid_runs({"relu": [0.50, 0.51, 0.505], "tanh": [0.60, 0.61, 0.605], "gelu": [0.50, 0.53, 0.49]},
                     val_offset={"gelu": 0.2})  # gelu looks best on validation though not on test
    effects = effects_table(runs, config).set_index("level")
    assert effects.index.tolist() == ["gelu", "tanh", "relu"]  # by validation, never by test
    assert effects.loc["tanh", "within_noise"] == False  # noqa: E712
    assert effects.loc["gelu", "within_noise"] == True  # noqa: E712
    assert effects.loc["tanh", "diff"] == pytest.approx(10.0)  # points


def test_noise_sentences_state_the_floor_and_the_claims(tiny_config):
    config = validate_config(tiny_config)
    runs = grid_runs({"relu": [0.50, 0.51, 0.505], "tanh": [0.60, 0.61, 0.605], "gelu": [0.50, 0.53, 0.49]})
    sentences = noise.summary_sentences(noise.noise_table(runs, config))
    assert "pooled standard deviation" in sentences[0] and "seeds per variant" in sentences[0]
    assert sentences[1].startswith("1 of 2 differences to the baseline exceed the noise")
    assert "the others would need" in sentences[1]
    every = noise.summary_sentences(noise.noise_table(grid_runs({"relu": [0.50, 0.51, 0.505], "tanh": [0.60, 0.61, 0.605]}), config))
    assert every[1] == "1 of 1 differences to the baseline exceed the noise (Welch 95 % interval excludes 0)."
    single = noise.summary_sentences(noise.noise_table(grid_runs({"relu": [0.5], "tanh": [0.6]}), config))
    assert "No cell was run with more than one seed" in single[0]
