"""Normalizations: name → `build(layer, features, spatial) -> nn.Module`.

A normalization wraps the affine layer it normalizes (a Linear or Conv2d producing `features`
channels; `spatial` says whether its output is N×C×H×W). Most return `layer` followed by a norm
layer; reparametrizations such as weight norm return the layer itself, changed.
"""

from __future__ import annotations

from torch import nn

from trickbench.registry import Registry

NORMS = Registry("norm")


@NORMS.register("none")
def none(layer: nn.Module, features: int, spatial: bool) -> nn.Module:
    """No normalization."""
    return layer


@NORMS.register("batch", reference="Ioffe & Szegedy 2015", bounds={"momentum": (0.0, 1.0)})
def batch(layer: nn.Module, features: int, spatial: bool, *, momentum: float = 0.1) -> nn.Module:
    """Normalize each channel over the batch (and space); running statistics at eval."""
    norm = nn.BatchNorm2d if spatial else nn.BatchNorm1d
    return nn.Sequential(layer, norm(features, momentum=momentum))


@NORMS.register("layer", reference="Ba et al. 2016")
def layer(layer: nn.Module, features: int, spatial: bool) -> nn.Module:
    """Normalize each sample over all its features (channels and space); same at train and eval."""
    # GroupNorm with one group is layer norm over (C, H, W) with a per-channel affine.
    return nn.Sequential(layer, nn.GroupNorm(1, features) if spatial else nn.LayerNorm(features))
