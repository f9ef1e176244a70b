"""Helpers of the technique tests: a tiny real Trainer on synthetic 8×8 images, and small
deterministic problems. (A module, not a conftest: tests import it by name.)"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from conftest import TINY_CONFIG
from trickbench.config import validate_config
from trickbench.data.device_data import DeviceData, prepare
from trickbench.data.sources import SOURCES
from trickbench.design import baseline_levels, make_spec, resolve_level
from trickbench.spec import RunSpec
from trickbench.train.loop import Trainer

CPU = torch.device("cpu")


#: the tiny config, validated once (validation reads the schema: slow to repeat per test)
VALIDATED = validate_config(copy.deepcopy(TINY_CONFIG))


def tiny_spec(model: dict[str, Any] | None = None, epochs: int = 1, **levels: Any) -> RunSpec:
    """The tiny config's baseline run with some factor levels replaced (config syntax)."""
    config = copy.deepcopy(VALIDATED)
    if model is not None:
        config["model"] = model
    config["train"]["epochs"] = epochs
    combination = baseline_levels(config)
    combination.update({family: resolve_level(family, level, family) for family, level in levels.items()})
    return make_spec(config, combination, seed=0)


def tiny_data(spec: RunSpec) -> DeviceData:
    return prepare(SOURCES.build(spec.data.source, Path("."), False), spec.data, spec.preprocessing, CPU)


def tiny_trainer(model: dict[str, Any] | None = None, epochs: int = 1, **levels: Any) -> Trainer:
    spec = tiny_spec(model, epochs, **levels)
    return Trainer(spec, tiny_data(spec), CPU)


def quadratic(dim: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """An SPD matrix A and a vector b: f(w) = ½wᵀAw − bᵀw, ∇f = Aw − b, minimum at A⁻¹b."""
    generator = torch.Generator().manual_seed(seed)
    m = torch.randn(dim, dim, generator=generator, dtype=torch.float64)
    return m @ m.T + dim * torch.eye(dim, dtype=torch.float64), torch.randn(dim, generator=generator, dtype=torch.float64)
