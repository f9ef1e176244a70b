"""Holding out a validation split: stratified by class, reproducible from a seed.

The test split is the data set's own and is never used to choose anything; validation is carved
from the training images so that early stopping, best-epoch selection and searches have a split
of their own.
"""

from __future__ import annotations

import numpy as np
import torch


def stratified_split(labels: torch.Tensor, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (train, val): from each class, round(val_fraction·n_c) random images go to val."""
    rng = np.random.default_rng(seed)
    labels_np = labels.numpy()
    val_parts = []
    for cls in np.unique(labels_np):
        members = np.flatnonzero(labels_np == cls)
        val_parts.append(rng.permutation(members)[: int(round(val_fraction * len(members)))])
    val = np.sort(np.concatenate(val_parts)) if val_parts else np.array([], dtype=np.int64)
    train = np.setdiff1d(np.arange(len(labels_np)), val, assume_unique=True)
    return torch.from_numpy(train), torch.from_numpy(val)


def subsample(indices: torch.Tensor, size: int, seed: int) -> torch.Tensor:
    """`size` of `indices`, drawn without replacement from `seed` and kept in their original order
    (the double-descent study trains on a subset, where the interpolation threshold is cheap to
    reach); `size` 0 or ≥ len(indices) keeps them all."""
    if size <= 0 or size >= len(indices):
        return indices
    chosen = np.random.default_rng([seed, 1]).choice(len(indices), size=size, replace=False)
    return indices[torch.from_numpy(np.sort(chosen))]
