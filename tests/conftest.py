"""Shared fixtures: tiny configs on synthetic data, and the repository's paths. No test needs the
network or ../shared; the embedded cifar10-mini file ships inside the package."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]

TINY_CONFIG: dict[str, Any] = {
    "data": {"source": {"name": "synthetic", "n_train": 200, "n_test": 60, "size": 8}, "val_fraction": 0.2},
    "model": {"name": "mlp", "depth": 1, "width": 16},
    "train": {"epochs": 2, "batch_size": 32},
    "baseline": {"activation": "relu", "init": "he_normal", "norm": "batch", "regularizer": "none",
                 "optimizer": {"name": "momentum", "lr": 0.05}, "schedule": "cosine", "preprocessing": "standardize"},
    "design": {"kind": "ablation", "seeds": [0], "factors": {"activation": ["relu", "tanh"]}},
}


@pytest.fixture
def tiny_config() -> dict[str, Any]:
    """A valid config of a 2-run ablation on synthetic 8×8 images (a fresh copy per test)."""
    return copy.deepcopy(TINY_CONFIG)
