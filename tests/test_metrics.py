"""Metrics of saved probabilities, checked on examples computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from trickbench.metrics import accuracy, expected_calibration_error, nll


def test_accuracy_and_nll_by_hand():
    probabilities = np.array([[0.7, 0.3], [0.4, 0.6], [0.9, 0.1]])
    labels = np.array([0, 0, 1])
    assert accuracy(probabilities, labels) == pytest.approx(1 / 3)
    assert nll(probabilities, labels) == pytest.approx(-(math.log(0.7) + math.log(0.4) + math.log(0.1)) / 3)


def test_ece_on_a_hand_made_example():
    # bin (14/15, 1] holds confidences 0.95 (right) and 0.95 (wrong): |0.5 − 0.95| = 0.45, weight 2/4
    # bin (8/15, 9/15] holds 0.6 (right) and 0.55 (wrong): |0.5 − 0.575| = 0.075, weight 2/4
    probabilities = np.array([[0.95, 0.05], [0.05, 0.95], [0.6, 0.4], [0.55, 0.45]])
    labels = np.array([0, 0, 0, 1])
    assert expected_calibration_error(probabilities, labels, bins=15) == pytest.approx(0.5 * 0.45 + 0.5 * 0.075)


def test_ece_of_a_perfectly_calibrated_predictor_is_zero():
    # 10 predictions at confidence 0.8, of which exactly 8 are right
    probabilities = np.tile([0.8, 0.2], (10, 1))
    labels = np.array([0] * 8 + [1] * 2)
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.0, abs=1e-12)


def test_a_confident_mistake_costs_a_finite_nll():
    assert math.isfinite(nll(np.array([[1.0, 0.0]]), np.array([1])))


@settings(max_examples=50, deadline=None)
@given(logits=arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(2, 6)), elements=st.floats(-5, 5)),
       seed=st.integers(0, 1000))
def test_ece_lies_between_zero_and_one(logits, seed):
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = np.random.default_rng(seed).integers(0, logits.shape[1], len(logits))
    assert 0.0 <= expected_calibration_error(probabilities, labels) <= 1.0
