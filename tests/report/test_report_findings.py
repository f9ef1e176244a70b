"""Findings against their definitions: Welch's interval by hand, known effects recovered from
synthetic runs, failures named, the best configuration chosen on validation and never on test."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from conftest import TINY_CONFIG
from synthetic_results import THOUSAND_FACTORS, grid_config, write_tables
from trickbench.report.findings import (Comparison, best_configuration, comparisons, difference_ci, sentence,
                                        top_findings)

ABLATION = {"kind": "ablation", "seeds": [0, 1, 2],
            "factors": {"activation": ["relu", "tanh", "sigmoid"], "init": ["he_normal", "small_gaussian"]}}


def test_difference_ci_is_welchs_interval_by_hand():
    a, b = np.array([1.0, 2.0, 4.0]), np.array([0.0, 1.0])
    va, vb = a.var(ddof=1) / 3, b.var(ddof=1) / 2  # 7/3/3 and 0.5/2
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 1)  # Welch–Satterthwaite
    half = stats.t.ppf(0.975, df) * se
    diff, low, high = difference_ci(a, b)
    assert diff == pytest.approx(7 / 3 - 0.5)
    assert (low, high) == pytest.approx((diff - half, diff + half))


def test_difference_ci_without_spread_or_with_one_value():
    assert difference_ci(np.array([2.0, 2.0]), np.array([1.0, 1.0])) == (1.0, 1.0, 1.0)
    diff, low, high = difference_ci(np.array([3.0]), np.array([1.0, 2.0]))
    assert diff == 1.5 and math.isnan(low) and math.isnan(high)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-50, 50), min_size=2, max_size=8), st.lists(st.floats(-50, 50), min_size=2, max_size=8),
       st.floats(-20, 20))
def test_shifting_one_group_shifts_the_interval_by_as_much(a, b, shift):
    diff, low, high = difference_ci(np.array(a), np.array(b))
    moved = difference_ci(np.array(a) + shift, np.array(b))
    assert moved[0] == pytest.approx(diff + shift, abs=1e-6)
    if math.isfinite(low) and high - low > 1e-6:
        assert moved[1] - low == pytest.approx(shift, abs=1e-6) and moved[2] - high == pytest.approx(shift, abs=1e-6)


def test_comparisons_recover_known_effects_within_their_intervals(tmp_path):
    config = grid_config(TINY_CONFIG, ABLATION)
    runs = write_tables(tmp_path, config, effects={("activation", "tanh"): -10.0, ("init", "small_gaussian"): 5.0})
    found = {(c.factor, c.level): c for c in comparisons(runs, config)}
    assert set(found) == {("activation", "tanh"), ("activation", "sigmoid"), ("init", "small_gaussian")}
    assert found["activation", "tanh"].low < -10 < found["activation", "tanh"].high
    assert found["activation", "tanh"].clear and found["init", "small_gaussian"].clear
    assert found["activation", "tanh"].baseline == "relu" and found["activation", "tanh"].n_baseline == 3


def test_a_full_design_compares_main_effects(tmp_path):
    config = grid_config(TINY_CONFIG, {"kind": "full", "seeds": [0], "factors": {"activation": ["relu", "tanh"],
                                                                                  "norm": ["batch", "none"]}})
    runs = write_tables(tmp_path, config, effects={("norm", "none"): -6.0}, noise=0.0)
    found = {(c.factor, c.level): c for c in comparisons(runs, config)}
    assert found["norm", "none"].diff == pytest.approx(-6.0) and found["norm", "none"].n == 2
    assert found["activation", "tanh"].diff == pytest.approx(0.0)
    assert "averaged over the other factors" in sentence(found["norm", "none"], "full")


def test_sentences_carry_the_difference_and_its_interval():
    c = Comparison("init", "large_gaussian", "he_normal", 30.26, 40.84, -10.58, -13.8, -7.36, 2, 2)
    assert sentence(c, "ablation") == ("init large_gaussian trails the baseline he_normal by 10.6 ± 3.2 points of "
                                       "test accuracy (30.3 vs 40.8 %; 2 and 2 runs).")
    within = Comparison("norm", "layer", "batch", 41.0, 40.0, 1.0, -2.0, 4.0, 3, 3)
    assert sentence(within, "ablation").startswith("norm layer beats the baseline batch by 1.0 ± 3.0 points")
    assert "within the noise" in sentence(within, "ablation")
    once = Comparison("norm", "layer", "batch", 41.0, 40.0, 1.0, math.nan, math.nan, 1, 1)
    assert "no uncertainty estimate" in sentence(once, "ablation")


def test_top_findings_name_failures_first_then_the_largest_clear_effects(tmp_path):
    config = grid_config(TINY_CONFIG, ABLATION)
    runs = write_tables(tmp_path, config, effects={("activation", "tanh"): -10.0, ("init", "small_gaussian"): 5.0},
                        status=lambda spec: "diverged" if spec.activation.name == "sigmoid" and spec.seed == 2 else "ok")
    lines = top_findings(runs, config)
    assert lines[0] == "1 of 12 runs diverged: activation=sigmoid (seed 2). They are left out of every mean below."
    assert lines[1].startswith("activation tanh trails the baseline relu by 10.")
    assert lines[2].startswith("init small_gaussian beats the baseline he_normal by")
    assert lines[3] == "The other level does not differ from the baseline beyond the noise (every comparison is in the table below)."


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


def test_the_best_configuration_is_chosen_on_validation_not_test(tmp_path):
    config = grid_config(TINY_CONFIG, {"kind": "ablation", "seeds": [0, 1], "factors": {"activation": ["relu", "tanh"]}})
    runs = write_tables(tmp_path, config, noise=0.0)
    tanh = runs["activation"] == "tanh"
    runs.loc[tanh, "final_val_acc"] = 0.60  # tanh best on validation …
    runs.loc[tanh, "final_test_acc"] = 0.10  # … and worst on test: validation must win
    best = best_configuration(runs, config)
    assert best["variant"] == "activation=tanh" and best["runs"] == 2 and best["candidates"] == 2
    assert best["val"] == pytest.approx((60.0, 0.0)) and best["test"][0] == pytest.approx(10.0)


def test_diverged_runs_never_enter_a_mean(tmp_path):
    config = grid_config(TINY_CONFIG, {"kind": "ablation", "seeds": [0, 1], "factors": {"activation": ["relu", "tanh"]}})
    runs = write_tables(tmp_path, config, noise=0.0, status=lambda s: "diverged" if s.activation.name == "tanh" and s.seed else "ok")
    (tanh,) = comparisons(runs, config)
    assert tanh.n == 1 and math.isnan(tanh.half)
    # its accuracy is a finite number (NaN logits argmax to class 0): the status keeps it out
    assert np.isfinite(runs.loc[runs.status == "diverged", "final_test_acc"]).all()

