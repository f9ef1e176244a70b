"""Metrics of predicted class probabilities: accuracy, negative log-likelihood, calibration error.

On numpy arrays (N×classes probabilities, N integer labels), because they are computed from what
runs saved (test_probs.npy), never from a live model.
"""

from __future__ import annotations

import numpy as np

#: probabilities are clipped here before the log, so one confident mistake costs a finite amount
EPSILON = 1e-12


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float((probabilities.argmax(1) == labels).mean())


def nll(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the true labels (cross-entropy of the predictions)."""
    picked = probabilities[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(picked, EPSILON, 1.0)).mean())


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE (Guo et al. 2017): confidences binned in `bins` equal-width bins of (0, 1]; the
    sample-weighted mean over bins of |accuracy − mean confidence|."""
    confidence = probabilities.max(1)
    correct = probabilities.argmax(1) == labels
    # bin b holds confidences in (b/B, (b+1)/B]; a confidence of exactly 0 cannot occur (max ≥ 1/C)
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            error += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(error)
