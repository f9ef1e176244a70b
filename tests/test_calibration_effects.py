"""Calibration per variant: raw and scaled metrics per variant, and the sentence on whether scaling
changes which variant has the lowest NLL."""

from __future__ import annotations

import pandas as pd
import pytest

from trickbench.config import validate_config
from trickbench.report.calibration_effects import calibration_table, summary_sentences


def runs_with_calibration() -> pd.DataFrame:
    """relu: over-confident (raw NLL high, scaled lowest); tanh: raw NLL lowest, scaled worse."""
    numbers = {"relu": (2.0, 1.60, 0.25, 0.03, 2.2), "tanh": (1.8, 1.75, 0.10, 0.04, 1.3)}
    rows = []
    for level, (nll, nll_scaled, ece, ece_scaled, temperature) in numbers.items():
        for seed in (0, 1):
            rows.append({"run_id": f"{level}{seed}", "seed": seed, "activation": level, "init": "he_normal",
                         "norm": "batch", "regularizer": "none", "optimizer": "momentum", "schedule": "cosine",
                         "preprocessing": "standardize", "status": "ok", "final_test_acc": 0.5,
                         "test_nll": nll + seed / 100, "test_nll_temperature_scaled": nll_scaled + seed / 100,
                         "test_ece": ece, "test_ece_temperature_scaled": ece_scaled, "temperature": temperature})
    return pd.DataFrame(rows)


def test_table_holds_raw_and_scaled_means_per_variant(tiny_config):
    table = calibration_table(runs_with_calibration(), validate_config(tiny_config)).set_index(["variant", "metric", "scaling"])
    assert table.loc[("baseline", "nll", "raw"), "mean"] == pytest.approx(2.005)
    assert table.loc[("activation=tanh", "ece", "temperature-scaled"), "mean"] == pytest.approx(4.0)  # in %
    assert table.loc[("baseline", "nll", "raw"), "temperature"] == pytest.approx(2.2)
    assert table.loc[("baseline", "nll", "raw"), "n"] == 2


def test_sentence_says_when_scaling_changes_the_best_variant(tiny_config):
    config = validate_config(tiny_config)
    sentence = summary_sentences(calibration_table(runs_with_calibration(), config))[0]
    assert "the lowest raw NLL is activation=tanh's (1.805), but after scaling baseline's (1.605 vs 1.755)" in sentence
    same = runs_with_calibration().assign(test_nll_temperature_scaled=lambda r: r["test_nll"] - 0.1)
    assert "activation=tanh has the lowest NLL both raw and scaled" in summary_sentences(calibration_table(same, config))[0]
