"""Calibration per variant: raw and scaled metrics per variant, the sentence on whether scaling
changes which variant has the lowest NLL, and whether that one differs detectably from the baseline
(the report's paired comparison, recomputed with scipy)."""

from __future__ import annotations

import pandas as pd
import pytest
from scipy import stats

from trickbench.config import validate_config
from trickbench.report.calibration_effects import calibration_table, scaled_nll_comparisons, summary_sentences


def runs_with_calibration(spread: float = 0.01) -> pd.DataFrame:
    """relu: over-confident (raw NLL high, scaled lowest); tanh: raw NLL lowest, scaled worse."""
    numbers = {"relu": (2.0, 1.60, 0.25, 0.03, 2.2), "tanh": (1.8, 1.75, 0.10, 0.04, 1.3)}
    rows = []
    for level, (nll, nll_scaled, ece, ece_scaled, temperature) in numbers.items():
        for seed in (0, 1, 2):
            wobble = spread * (seed if level == "relu" else seed ** 2)
            rows.append({"run_id": f"{level}{seed}", "seed": seed, "activation": level, "init": "he_normal",
                         "norm": "batch", "regularizer": "none", "optimizer": "momentum", "schedule": "cosine",
                         "preprocessing": "standardize", "status": "ok", "final_test_acc": 0.5, "final_val_acc": 0.5,
                         "test_nll": nll + wobble, "test_nll_temperature_scaled": nll_scaled + wobble,
                         "test_ece": ece, "test_ece_temperature_scaled": ece_scaled, "temperature": temperature})
    return pd.DataFrame(rows)


def test_table_holds_raw_and_scaled_means_per_variant(tiny_config):
    table = calibration_table(runs_with_calibration(), validate_config(tiny_config)).set_index(["variant", "metric", "scaling"])
    assert table.loc[("baseline", "nll", "raw"), "mean"] == pytest.approx(2.01)
    assert table.loc[("activation=tanh", "ece", "temperature-scaled"), "mean"] == pytest.approx(4.0)  # in %
    assert table.loc[("baseline", "nll", "raw"), "temperature"] == pytest.approx(2.2)
    assert table.loc[("baseline", "nll", "raw"), "n"] == 3


def test_sentences_say_when_scaling_changes_the_best_variant_and_test_it(tiny_config):
    config = validate_config(tiny_config)
    sentences = summary_sentences(runs_with_calibration(), config)
    assert "The lowest raw NLL is activation=tanh's (1.817), but after scaling baseline's (1.610 vs 1.767)" in sentences[1]
    assert sentences[2] == ("After scaling, 1 of 1 variants differ detectably from the baseline in test NLL (the baseline "
                            "itself has the lowest).")
    same = runs_with_calibration().assign(test_nll_temperature_scaled=lambda r: r["test_nll"] - 0.1)
    lines = summary_sentences(same, config)
    assert len(lines) == 2 and lines[1].startswith("After scaling, 1 of 1 variants differ detectably from the baseline in "
                                                   "test NLL. Lowest after scaling, activation=tanh is better than the "
                                                   "baseline by 0.193 nats of temperature-scaled test NLL")


def test_the_scaled_comparison_is_the_paired_t_on_seeds(tiny_config):
    runs = runs_with_calibration()
    (row,) = scaled_nll_comparisons(runs, validate_config(tiny_config)).to_dict("records")
    tanh = runs.loc[runs.activation == "tanh", "test_nll_temperature_scaled"].to_numpy()
    relu = runs.loc[runs.activation == "relu", "test_nll_temperature_scaled"].to_numpy()
    assert row["test"] == "paired t" and row["p_value"] == pytest.approx(stats.ttest_rel(tanh, relu).pvalue)
    low, high = stats.ttest_rel(tanh, relu).confidence_interval(0.95)  # a family of one: no correction
    assert (row["diff_ci_low"], row["diff_ci_high"]) == pytest.approx((low, high))
