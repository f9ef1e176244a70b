"""Fully connected network: flatten, `depth` hidden blocks of `width` units, linear classifier."""

from __future__ import annotations

import math

from torch import nn

from trickbench.models.parts import MODELS, Parts


@MODELS.register("mlp", bounds={"depth": (0, 64), "width": (1, 1 << 16)})
def mlp(parts: Parts, *, depth: int = 3, width: int = 256) -> nn.Module:
    """Multilayer perceptron on the flattened image."""
    features = math.prod(parts.input_shape)
    layers: list[nn.Module] = [nn.Flatten()]
    for _ in range(depth):
        layers.append(parts.hidden(lambda n, f=features: nn.Linear(f, n), width, spatial=False))
        features = width
    layers.append(nn.Linear(features, parts.num_classes))
    return nn.Sequential(*layers)
