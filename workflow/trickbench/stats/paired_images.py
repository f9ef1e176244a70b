"""Two predictors scored on the same test images: paired tests over images.

When two fixed models (an ensemble and one of its members) are compared, the uncertainty is that
of the test set: another draw of test images could reverse a small gap. Both predictors see the
same images, so the comparison is paired per image:

- McNemar's exact test on per-image correctness (statsmodels `mcnemar(exact=True)`): only the
  images one predictor gets right and the other wrong carry information, and under "equally
  accurate" each of those discordant images is a fair coin.
- A paired bootstrap over images (scipy `bootstrap`, BCa): resample images with replacement,
  keeping each image's two predictions together, and recompute the difference of any metric —
  accuracy, NLL, or ECE, which is not a mean over images and has no simple test.

Both are conditional on the models: seed-to-seed variation of the members is not in them.
"""

from __future__ import annotations

import math
import warnings
from typing import Callable

import numpy as np
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar

RESAMPLES = 2000


def mcnemar_exact(correct: np.ndarray, other_correct: np.ndarray) -> dict[str, float]:
    """Discordant counts (only the first right, only the other right) and McNemar's exact p."""
    correct, other_correct = np.asarray(correct, dtype=bool), np.asarray(other_correct, dtype=bool)
    only_first, only_other = int((correct & ~other_correct).sum()), int((~correct & other_correct).sum())
    table = [[int((correct & other_correct).sum()), only_first], [only_other, int((~correct & ~other_correct).sum())]]
    p = float(mcnemar(table, exact=True).pvalue) if only_first + only_other else 1.0
    return {"only_first_right": only_first, "only_other_right": only_other, "mcnemar_p": p}


def paired_bootstrap(difference: Callable[[np.ndarray], float], n_images: int, confidence: float = 0.95,
                     resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float, float]:
    """(difference on all images, BCa interval) of `difference(indices)`, a function of which
    images (with repeats) to score both predictors on. A difference that no resample moves gets a
    zero-width interval."""
    everything = np.arange(n_images)
    estimate = float(difference(everything))
    if n_images < 2:
        return estimate, math.nan, math.nan
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)  # a constant difference: handled below
        result = stats.bootstrap((everything,), difference, vectorized=False, paired=False, confidence_level=confidence,
                                 n_resamples=resamples, method="BCa", rng=np.random.default_rng(seed))
    distribution = result.bootstrap_distribution
    if np.ptp(distribution) == 0:
        return estimate, estimate, estimate
    low, high = result.confidence_interval
    if not (math.isfinite(low) and math.isfinite(high)):  # BCa undefined (e.g. a degenerate jackknife): percentiles
        low, high = np.quantile(distribution, [(1 - confidence) / 2, (1 + confidence) / 2])
    return estimate, float(low), float(high)
