"""Calibration: temperature scaling fitted on validation, and reliability-diagram bins.

Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks", §4.2) divides
the logits by one scalar T > 0 chosen to minimize the negative log-likelihood on the *validation*
split; accuracy is unchanged (the argmax is), only confidence moves. Comparing NLL or ECE without
it confounds a technique's ranking with how over-confident it happens to be, so both are reported,
raw and scaled (Ashukha et al. 2020, "Pitfalls of In-Domain Uncertainty Estimation", recommend
the calibrated log-likelihood for exactly this reason).

For an ensemble, the "logits" are the logarithms of the averaged probabilities: softmax(log p̄) = p̄,
so T = 1 reproduces the ensemble and the same fit applies.

On numpy arrays (N×classes logits, N integer labels), like `metrics`: computed from what runs
saved (val_logits.npy, test_logits.npy), never from a live model.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.special import log_softmax

from trickbench.metrics import EPSILON, expected_calibration_error, nll

#: the temperature is searched in [1/BOUND, BOUND]; a fit at the edge means the logits carry no
#: usable confidence (e.g. constant predictions), and the edge value is still the best on offer
BOUND = 100.0
BINS = 15  # Guo et al. 2017's number of confidence bins


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    return np.exp(log_softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1))


def log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """Logits whose softmax is `probabilities` (for averaged predictions, e.g. an ensemble)."""
    return np.log(np.clip(np.asarray(probabilities, dtype=np.float64), EPSILON, 1.0))


def scaled_nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean NLL of softmax(logits / T): convex in 1/T, so its minimum over T is unique."""
    log_p = log_softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)
    return float(-log_p[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T minimizing the NLL of softmax(logits / T) on (validation) `logits`, `labels`.

    Searched over log T by bounded Brent: NLL is convex in 1/T, hence unimodal in log T, so the
    bracket search finds the global minimum. NaN when there is nothing to fit on (an empty split,
    non-finite logits)."""
    if len(labels) == 0 or not np.isfinite(logits).all():
        return math.nan
    result = optimize.minimize_scalar(lambda log_t: scaled_nll(logits, labels, math.exp(log_t)),
                                      bounds=(-math.log(BOUND), math.log(BOUND)), method="bounded",
                                      options={"xatol": 1e-6})
    return float(math.exp(result.x))


def calibration_record(val_logits: np.ndarray, val_labels: np.ndarray, test_logits: np.ndarray,
                       test_labels: np.ndarray, bins: int = BINS) -> dict[str, float]:
    """Test NLL and ECE raw and after temperature scaling fitted on validation, and that T.

    Without a validation split nothing may be fitted: T and the scaled metrics are NaN rather than
    fitted on test."""
    if not np.isfinite(test_logits).all():  # a diverged run: no predictions worth scoring
        return dict.fromkeys(["test_nll", "test_ece", "temperature", "test_nll_temperature_scaled",
                              "test_ece_temperature_scaled"], math.nan)
    probabilities = softmax(test_logits)
    record = {"test_nll": nll(probabilities, test_labels),
              "test_ece": expected_calibration_error(probabilities, test_labels, bins)}
    temperature = fit_temperature(val_logits, val_labels)
    record["temperature"] = temperature
    if math.isfinite(temperature):
        scaled = softmax(test_logits, temperature)
        record["test_nll_temperature_scaled"] = nll(scaled, test_labels)
        record["test_ece_temperature_scaled"] = expected_calibration_error(scaled, test_labels, bins)
    else:
        record["test_nll_temperature_scaled"] = record["test_ece_temperature_scaled"] = math.nan
    return record


def reliability_bins(probabilities: np.ndarray, labels: np.ndarray, bins: int = BINS) -> pd.DataFrame:
    """The points of a reliability diagram: per equal-width confidence bin (b/B, (b+1)/B], the
    number of predictions, their mean confidence and their accuracy (NaN for an empty bin).

    Same binning as `metrics.expected_calibration_error`, so Σ count/N · |accuracy − confidence|
    over the bins *is* the ECE."""
    confidence = probabilities.max(1)
    correct = probabilities.argmax(1) == labels
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    rows = []
    for b in range(bins):
        members = which == b
        rows.append({"bin": b, "lower": b / bins, "upper": (b + 1) / bins, "count": int(members.sum()),
                     "confidence": float(confidence[members].mean()) if members.any() else math.nan,
                     "accuracy": float(correct[members].mean()) if members.any() else math.nan})
    return pd.DataFrame(rows)


def reliability_table(models: dict[str, tuple[np.ndarray, np.ndarray | None]], val_labels: np.ndarray,
                      test_labels: np.ndarray, bins: int = BINS) -> pd.DataFrame:
    """Tidy reliability table of several predictors, raw and temperature-scaled.

    `models` maps a name (e.g. "ensemble of 5", "single member", "EMA") to its (test probabilities,
    validation probabilities or None). Temperatures are fitted on validation for each predictor.
    Columns: model, scaling ('raw' | 'temperature'), temperature, bin, lower, upper, count,
    confidence, accuracy, ece, nll — the ece and nll of that predictor repeated on its rows, so one
    table draws the diagrams and labels them. Reusable by any study that saves probabilities."""
    parts = []
    for name, (test_probabilities, val_probabilities) in models.items():
        test_logits = log_probabilities(test_probabilities)
        fitted = math.nan if val_probabilities is None else fit_temperature(log_probabilities(val_probabilities), val_labels)
        for scaling, temperature in (("raw", 1.0), ("temperature", fitted)):
            if not math.isfinite(temperature):
                continue
            scaled = softmax(test_logits, temperature)
            table = reliability_bins(scaled, test_labels, bins)
            table.insert(0, "model", name)
            table.insert(1, "scaling", scaling)
            table.insert(2, "temperature", temperature)
            table["ece"] = expected_calibration_error(scaled, test_labels, bins)
            table["nll"] = nll(scaled, test_labels)
            parts.append(table)
    columns = ["model", "scaling", "temperature", "bin", "lower", "upper", "count", "confidence", "accuracy", "ece", "nll"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
