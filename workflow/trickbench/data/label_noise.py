"""Label noise: a fixed fraction of the training labels replaced by a different, random class.

Double descent shows most clearly with noisy labels, because fitting the noise is what costs a
model at the interpolation threshold (Nakkiran et al. 2019, §3: "label noise of probability p").
Unlike their "with probability p, a uniformly random label" (which keeps the true label 1/C of
the time), exactly round(p·n) labels are changed here and each to a *different* class, so the
configured fraction is the fraction actually wrong. Only training labels are touched: validation
and test keep their true labels, so they measure what the model learnt of the real task.
"""

from __future__ import annotations

import numpy as np
import torch


def flip_labels(labels: torch.Tensor, fraction: float, num_classes: int, seed: int) -> torch.Tensor:
    """A copy of `labels` with round(fraction·n) of them, chosen from `seed`, moved to another class
    drawn uniformly from the other num_classes − 1."""
    count = int(round(fraction * len(labels)))
    if count == 0:
        return labels.clone()
    rng = np.random.default_rng([seed, 2])
    which = torch.from_numpy(rng.choice(len(labels), size=count, replace=False))
    shift = torch.from_numpy(rng.integers(1, num_classes, size=count))  # 1..C−1: never the same class
    noisy = labels.clone()
    noisy[which] = (labels[which] + shift.to(labels.dtype)) % num_classes
    return noisy
