"""Temperature scaling and reliability bins against their definitions (Guo et al. 2017)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trickbench.calibration import (calibration_record, fit_temperature, log_probabilities, reliability_bins,
                                    reliability_table, scaled_nll, softmax)
from trickbench.metrics import expected_calibration_error, nll


def calibrated_sample(n: int = 4000, classes: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels *drawn from* softmax(logits): calibrated at T = 1 by construction."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.0, size=(n, classes))
    probabilities = softmax(logits)
    labels = np.array([rng.choice(classes, p=p) for p in probabilities])
    return logits, labels


def test_temperature_is_one_on_calibrated_predictions():
    logits, labels = calibrated_sample()
    assert fit_temperature(logits, labels) == pytest.approx(1.0, abs=0.08)


@pytest.mark.parametrize("sharpening", [3.0, 0.4])
def test_temperature_undoes_over_and_under_confidence_and_lowers_nll(sharpening: float):
    logits, labels = calibrated_sample(seed=1)
    miscalibrated = sharpening * logits  # over-confident for > 1, under-confident for < 1
    temperature = fit_temperature(miscalibrated, labels)
    assert temperature == pytest.approx(sharpening, rel=0.1)
    assert scaled_nll(miscalibrated, labels, temperature) < scaled_nll(miscalibrated, labels, 1.0) - 0.05


def test_fitted_temperature_is_the_minimum_of_the_nll():
    logits, labels = calibrated_sample(n=500, seed=2)
    logits = 2.5 * logits
    temperature = fit_temperature(logits, labels)
    best = scaled_nll(logits, labels, temperature)
    for factor in (0.9, 0.97, 1.03, 1.1):
        assert best <= scaled_nll(logits, labels, temperature * factor) + 1e-12


def test_scaling_keeps_the_argmax():
    logits, _ = calibrated_sample(n=200)
    assert (softmax(logits, 0.3).argmax(1) == softmax(logits, 4.0).argmax(1)).all()


def test_reliability_bins_by_hand():
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.55, 0.45]])
    labels = np.array([0, 1, 1, 0])
    bins = reliability_bins(probabilities, labels, bins=5)  # (0, .2], (.2, .4], (.4, .6], (.6, .8], (.8, 1]
    assert bins["count"].tolist() == [0, 0, 2, 1, 1]
    assert bins.loc[2, "confidence"] == pytest.approx((0.6 + 0.55) / 2)
    assert bins.loc[2, "accuracy"] == pytest.approx(0.5)  # 0.6 wrong (label 1), 0.55 right
    assert bins.loc[3, "accuracy"] == 1.0 and bins.loc[4, "accuracy"] == 1.0
    assert math.isnan(bins.loc[0, "accuracy"])


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 6), st.integers(2, 20))
def test_ece_is_the_weighted_gap_of_the_reliability_bins(seed: int, classes: int, bins: int):
    rng = np.random.default_rng(seed)
    probabilities = softmax(rng.normal(0, 3, size=(60, classes)))
    labels = rng.integers(0, classes, size=60)
    table = reliability_bins(probabilities, labels, bins).dropna()
    gap = (table["count"] / 60 * (table["accuracy"] - table["confidence"]).abs()).sum()
    assert gap == pytest.approx(expected_calibration_error(probabilities, labels, bins))


def test_calibration_record_fits_on_validation_and_reports_test():
    logits, labels = calibrated_sample(n=3000, seed=3)
    record = calibration_record(3 * logits[:1500], labels[:1500], 3 * logits[1500:], labels[1500:])
    assert record["temperature"] == pytest.approx(3.0, rel=0.15)
    assert record["test_nll"] == pytest.approx(nll(softmax(3 * logits[1500:]), labels[1500:]))
    assert record["test_nll_temperature_scaled"] < record["test_nll"]
    assert record["test_ece_temperature_scaled"] < record["test_ece"]


def test_without_validation_nothing_is_fitted_on_test():
    logits, labels = calibrated_sample(n=100)
    record = calibration_record(np.zeros((0, 5)), np.zeros(0, dtype=int), logits, labels)
    assert math.isnan(record["temperature"]) and math.isnan(record["test_nll_temperature_scaled"])
    assert math.isfinite(record["test_nll"])


def test_diverged_logits_give_no_calibration_numbers():
    logits, labels = calibrated_sample(n=50)
    logits[3, 1] = np.nan
    assert all(math.isnan(v) for v in calibration_record(logits, labels, logits, labels).values())


def test_log_probabilities_round_trip_through_softmax():
    probabilities = softmax(np.random.default_rng(0).normal(size=(20, 4)))
    np.testing.assert_allclose(softmax(log_probabilities(probabilities)), probabilities, rtol=1e-9)


def test_reliability_table_has_raw_and_scaled_rows_per_predictor():
    logits, labels = calibrated_sample(n=1000, seed=4)
    sharp = softmax(3 * logits)
    table = reliability_table({"sharp": (sharp[500:], sharp[:500]), "no validation": (sharp[500:], None)},
                              labels[:500], labels[500:], bins=10)
    assert set(map(tuple, table[["model", "scaling"]].drop_duplicates().to_numpy())) == {
        ("sharp", "raw"), ("sharp", "temperature"), ("no validation", "raw")}
    raw = table[(table.model == "sharp") & (table.scaling == "raw")]
    scaled = table[(table.model == "sharp") & (table.scaling == "temperature")]
    assert raw["temperature"].iloc[0] == 1.0 and scaled["temperature"].iloc[0] == pytest.approx(3.0, rel=0.2)
    assert scaled["ece"].iloc[0] < raw["ece"].iloc[0] and scaled["nll"].iloc[0] < raw["nll"].iloc[0]
    assert raw["count"].sum() == 500 and len(raw) == 10
