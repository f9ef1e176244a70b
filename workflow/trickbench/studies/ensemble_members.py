"""The ensemble against its members: curves over the number of members k, and paired tests.

Curves. The ensemble of k members is not one number: which k of the K seeds are averaged matters
as much as k (the first k seeds in one order made a dip at k = 4 that was only seed order). So
each point is the mean over all C(K, k) subsets of size k — or over MAX_SUBSETS distinct random
ones when there are more (the table says which) — with a band from the 2.5th to the 97.5th
percentile of the subsets. Accuracy, NLL and ECE (15 bins), NLL and ECE also after temperature
scaling: each subset's averaged probabilities get their own temperature, fitted on the
validation split (`trickbench.calibration`; Ashukha et al. 2020: compare calibration only after it).

Tests. The ensemble of all K against the member validation would pick, and against the mean
member, on the same test images: a paired bootstrap over images (BCa, `stats.paired_bootstrap`)
of the difference of each metric, raw and scaled; the comparisons of the table are one family with
Bonferroni-corrected intervals (each at 1 − α/m), `detectable` when that interval excludes 0.
For accuracy against the chosen member, McNemar's exact test on per-image correctness is reported
beside it. Both are conditional on these members: a new draw of seeds is not in them.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from trickbench.calibration import BINS, fit_temperature, log_probabilities, softmax
from trickbench.stats import mcnemar_exact, paired_bootstrap

#: subsets of size k scored at most; beyond, that many distinct random ones (seeded)
MAX_SUBSETS = 200
METRICS = ("accuracy", "nll", "ece")
SCALINGS = ("raw", "temperature-scaled")
#: the comparisons of the ensemble with a single member: (metric, scaling); scaling leaves accuracy as it is
COMPARED = [("accuracy", "raw"), ("nll", "raw"), ("nll", "temperature-scaled"), ("ece", "raw"), ("ece", "temperature-scaled")]
CHOSEN, MEAN_MEMBER = "single member chosen on validation", "mean single member"
BOOTSTRAP = "paired bootstrap over test images (BCa)"
#: below this a difference is floating point (two temperature fits of the same predictions), not an effect
NUMERICAL_ZERO = 1e-9


@dataclass(frozen=True)
class Member:
    """One member's predicted probabilities on the test and validation splits."""

    test: np.ndarray
    val: np.ndarray


class Scored:
    """One predictor's per-image pieces of accuracy, NLL and ECE, so that a resample of images is
    re-scored without recomputing probabilities. The ECE is Guo et al.'s (as `metrics`): per bin,
    |Σ correct − Σ confidence| / N, summed."""

    def __init__(self, probabilities: np.ndarray, labels: np.ndarray, bins: int = BINS):
        confidence = probabilities.max(1)
        self.correct = (probabilities.argmax(1) == labels).astype(float)
        self.loss = -np.log(np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, 1.0))
        self.confidence = confidence
        self.bin = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
        self.bins = bins

    def score(self, metric: str, images: np.ndarray | None = None) -> float:
        images = np.arange(len(self.correct)) if images is None else images
        if metric == "accuracy":
            return float(self.correct[images].mean())
        if metric == "nll":
            return float(self.loss[images].mean())
        which = self.bin[images]
        gap = (np.bincount(which, self.correct[images], self.bins) - np.bincount(which, self.confidence[images], self.bins))
        return float(np.abs(gap).sum() / len(images))


def scaled(test: np.ndarray, val: np.ndarray, val_labels: np.ndarray, scaling: str) -> np.ndarray | None:
    """The test probabilities as they are, or temperature-scaled with T fitted on validation
    (None without a validation split: nothing may be fitted on test)."""
    if scaling == "raw":
        return test
    temperature = fit_temperature(log_probabilities(val), val_labels) if len(val_labels) else math.nan
    return softmax(log_probabilities(test), temperature) if math.isfinite(temperature) else None


def member_subsets(members: int, k: int, limit: int = MAX_SUBSETS, seed: int = 0) -> tuple[list[tuple[int, ...]], bool]:
    """(subsets of size k, whether they are all of them): all C(K, k), or `limit` distinct random ones."""
    if math.comb(members, k) <= limit:
        return list(itertools.combinations(range(members), k)), True
    rng, chosen = np.random.default_rng([seed, k]), set()
    while len(chosen) < limit:
        chosen.add(tuple(sorted(rng.choice(members, size=k, replace=False).tolist())))
    return sorted(chosen), False


def subset_curve(members: Sequence[Member], labels: dict[str, np.ndarray], bins: int = BINS,
                 limit: int = MAX_SUBSETS) -> pd.DataFrame:
    """Per k, metric and scaling: the mean over subsets of k members of the averaged probabilities'
    score, its 2.5–97.5 % band over subsets, how many subsets and whether they are all."""
    rows = []
    for k in range(1, len(members) + 1):
        subsets, exhaustive = member_subsets(len(members), k, limit)
        scores: dict[tuple[str, str], list[float]] = {}
        for subset in subsets:
            test = np.mean([members[i].test for i in subset], axis=0)
            val = np.mean([members[i].val for i in subset], axis=0)
            for scaling in SCALINGS:
                probabilities = scaled(test, val, labels["val"], scaling)
                if probabilities is None:
                    continue
                scored = Scored(probabilities, labels["test"], bins)
                for metric in METRICS if scaling == "raw" else METRICS[1:]:
                    scores.setdefault((metric, scaling), []).append(scored.score(metric))
        for (metric, scaling), values in scores.items():
            low, high = np.quantile(values, [0.025, 0.975])
            rows.append({"k": k, "kind": "ensemble", "metric": metric, "scaling": scaling, "value": float(np.mean(values)),
                         "band_low": float(low), "band_high": float(high), "subsets": len(values), "all_subsets": exhaustive})
    return pd.DataFrame(rows)


def single_members(members: Sequence[Member], labels: dict[str, np.ndarray], chosen: int | None,
                   bins: int = BINS) -> pd.DataFrame:
    """The mean single member and the member chosen on validation (None: no validation, no choice)."""
    rows = []
    for scaling in SCALINGS:
        scored = [_scored(m.test, m.val, labels, scaling, bins) for m in members]
        for metric in METRICS if scaling == "raw" else METRICS[1:]:
            values = [s.score(metric) for s in scored if s is not None]
            if values:
                rows.append({"kind": MEAN_MEMBER, "metric": metric, "scaling": scaling, "value": float(np.mean(values)),
                             "band_low": float(np.min(values)), "band_high": float(np.max(values)), "subsets": len(values)})
            if chosen is not None and scored[chosen] is not None:
                rows.append({"kind": CHOSEN, "metric": metric, "scaling": scaling, "value": scored[chosen].score(metric),
                             "subsets": 1})
    return pd.DataFrame(rows)


def versus_members(members: Sequence[Member], labels: dict[str, np.ndarray], chosen: int | None, bins: int = BINS,
                   level: float = 0.95, resamples: int = 2000) -> pd.DataFrame:
    """The ensemble of all members minus the chosen member and minus the mean member, per metric
    and scaling, with Bonferroni-corrected paired-bootstrap intervals over test images."""
    ensemble = Member(np.mean([m.test for m in members], axis=0), np.mean([m.val for m in members], axis=0))
    against = {MEAN_MEMBER: list(members), **({CHOSEN: [members[chosen]]} if chosen is not None else {})}
    plans = []
    for name, group in against.items():
        for metric, scaling in COMPARED:
            ours = _scored(ensemble.test, ensemble.val, labels, scaling, bins)
            theirs = [_scored(m.test, m.val, labels, scaling, bins) for m in group]
            if ours is not None and all(s is not None for s in theirs):
                plans.append((name, metric, scaling, ours, theirs))
    alpha = (1 - level) / max(len(plans), 1)
    rows = []
    for name, metric, scaling, ours, theirs in plans:
        difference = lambda images, o=ours, t=theirs, m=metric: o.score(m, images) - np.mean([s.score(m, images) for s in t])
        estimate, low, high = paired_bootstrap(difference, len(labels["test"]), 1 - alpha, resamples)
        row = {"against": name, "metric": metric, "scaling": scaling, "ensemble": ours.score(metric),
               "member": float(np.mean([s.score(metric) for s in theirs])), "diff": estimate, "diff_ci_low": low,
               "diff_ci_high": high, "ci_level": 1 - alpha, "test": BOOTSTRAP,
               "detectable": bool(low > NUMERICAL_ZERO or high < -NUMERICAL_ZERO),
               "correction": "bonferroni", "family_size": len(plans), "n_images": len(labels["test"])}
        if metric == "accuracy" and name == CHOSEN:
            counts = mcnemar_exact(ours.correct.astype(bool), theirs[0].correct.astype(bool))
            row.update(only_ensemble_right=counts["only_first_right"], only_member_right=counts["only_other_right"],
                       mcnemar_p=counts["mcnemar_p"])
        rows.append(row)
    return pd.DataFrame(rows)


def _scored(test: np.ndarray, val: np.ndarray, labels: dict[str, np.ndarray], scaling: str, bins: int) -> Scored | None:
    probabilities = scaled(test, val, labels["val"], scaling)
    return None if probabilities is None else Scored(probabilities, labels["test"], bins)
