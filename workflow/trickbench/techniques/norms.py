"""Normalizations: name → `build(layer, features, spatial) -> nn.Module`.

A normalization wraps the affine layer it normalizes (a Linear or Conv2d producing `features`
channels; `spatial` says whether its output is N×C×H×W). Most return `layer` followed by a norm
layer; reparametrizations such as weight norm return the layer itself, changed.
"""

from __future__ import annotations

import torch
from torch import nn

from trickbench.errors import ConfigError
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


@NORMS.register("instance", reference="Ulyanov et al. 2016, Instance Normalization")
def instance(layer: nn.Module, features: int, spatial: bool) -> nn.Module:
    """Normalize each sample's each channel over space; same at train and eval. Conv models only."""
    if not spatial:
        raise ConfigError("norm", "instance", "a model with spatial feature maps (cnn, resnet): "
                          "instance norm normalizes each channel over its pixels, and an mlp has none")
    return nn.Sequential(layer, nn.InstanceNorm2d(features, affine=True))


@NORMS.register("group", reference="Wu & He 2018, Group Normalization", bounds={"groups": (1, 1024)})
def group(layer: nn.Module, features: int, spatial: bool, *, groups: int = 8) -> nn.Module:
    """Normalize each sample over groups of channels (and space): 1 group is layer norm, 1 channel each instance norm."""
    if features % groups:
        raise ConfigError("norm.groups", groups, f"a divisor of the normalized layer's width {features}")
    return nn.Sequential(layer, nn.GroupNorm(groups, features))


@NORMS.register("weight", reference="Salimans & Kingma 2016, Weight Normalization")
def weight_norm(layer: nn.Module, features: int, spatial: bool) -> nn.Module:
    """Reparametrize each unit's weights as w = g·v/‖v‖ (torch's parametrization): length apart from direction."""
    return nn.utils.parametrizations.weight_norm(layer, dim=0)


class BatchRenorm(nn.Module):
    """Batch renormalization (Ioffe 2017, Algorithm 1), per channel.

    Training, with batch mean μ_B and σ_B = √(Var_B + ε) (biased variance, as batch norm):
        r = sg(clip(σ_B/σ, 1/r_max, r_max)),  d = sg(clip((μ_B − μ)/σ, −d_max, d_max))
        x̂ = (x − μ_B)/σ_B · r + d,  y = γ·x̂ + β
        μ ← μ + α(μ_B − μ),  σ ← σ + α(σ_B − σ)     (after r and d are computed)
    where sg stops gradients. Inference: y = γ·(x − μ)/σ + β. Since (x − μ)/σ = (x − μ_B)/σ_B · r + d
    for the unclipped r, d, training sees what inference will compute, yet gradients still flow
    through μ_B and σ_B as in batch norm; r = 1, d = 0 (r_max = 1, d_max = 0) is batch norm.
    The paper starts from r_max = 1, d_max = 0 and relaxes them over tens of thousands of steps;
    here the limits are fixed parameters (set them to 1 and 0 for the batch-norm start)."""

    #: training-mode gradients treat r and d as constants, so they are deliberately not the exact
    #: derivative of the forward pass (the babysitting gradient check compares the inference path)
    exact_training_gradient = False

    def __init__(self, features: int, rmax: float = 3.0, dmax: float = 5.0, momentum: float = 0.01, eps: float = 1e-5):
        super().__init__()
        self.rmax, self.dmax, self.momentum, self.eps = rmax, dmax, momentum, eps
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features))
        self.register_buffer("running_mean", torch.zeros(features))
        self.register_buffer("running_std", torch.ones(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = [0, *range(2, x.dim())]
        channel = lambda v: v.view(1, -1, *[1] * (x.dim() - 2))
        if self.training:
            mean = x.mean(dims)
            std = (x.var(dims, unbiased=False) + self.eps).sqrt()
            with torch.no_grad():
                r = (std / self.running_std).clamp(1.0 / self.rmax, self.rmax)
                d = ((mean - self.running_mean) / self.running_std).clamp(-self.dmax, self.dmax)
                self.running_mean += self.momentum * (mean - self.running_mean)
                self.running_std += self.momentum * (std - self.running_std)
            normalized = (x - channel(mean)) / channel(std) * channel(r) + channel(d)
        else:
            normalized = (x - channel(self.running_mean)) / channel(self.running_std)
        return channel(self.weight) * normalized + channel(self.bias)

    def extra_repr(self) -> str:
        return f"{len(self.weight)}, rmax={self.rmax}, dmax={self.dmax}, momentum={self.momentum}"


@NORMS.register("batch_renorm", reference="Ioffe 2017, Batch Renormalization",
                bounds={"rmax": (1.0, None), "dmax": (0.0, None), "momentum": (0.0, 1.0)})
def batch_renorm(layer: nn.Module, features: int, spatial: bool, *, rmax: float = 3.0, dmax: float = 5.0,
                 momentum: float = 0.01) -> nn.Module:
    """Batch norm corrected towards running statistics by clipped r, d: training computes what inference does."""
    return nn.Sequential(layer, BatchRenorm(features, rmax, dmax, momentum))
