"""Normalizations: name → `build(layer, features, spatial, total_steps) -> nn.Module`.

A normalization wraps the affine layer it normalizes (a Linear or Conv2d producing `features`
channels; `spatial` says whether its output is N×C×H×W). Most return `layer` followed by a norm
layer; reparametrizations such as weight norm return the layer itself, changed. `total_steps` is
the number of optimizer steps the model will train for (0 when unknown), for normalizations
whose behaviour follows the progress of training (batch renorm's relaxation).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

from trickbench.errors import ConfigError
from trickbench.registry import Registry

NORMS = Registry("norm")


@NORMS.register("none")
def none(layer: nn.Module, features: int, spatial: bool, total_steps: int) -> nn.Module:
    """No normalization."""
    return layer


@NORMS.register("batch", reference="Ioffe & Szegedy 2015", bounds={"momentum": (0.0, 1.0)})
def batch(layer: nn.Module, features: int, spatial: bool, total_steps: int, *, momentum: float = 0.1) -> nn.Module:
    """Normalize each channel over the batch (and space); running statistics at eval."""
    norm = nn.BatchNorm2d if spatial else nn.BatchNorm1d
    return nn.Sequential(layer, norm(features, momentum=momentum))


@NORMS.register("layer", reference="Ba et al. 2016")
def layer(layer: nn.Module, features: int, spatial: bool, total_steps: int) -> nn.Module:
    """Normalize each sample over all its features (channels and space); same at train and eval."""
    # GroupNorm with one group is layer norm over (C, H, W) with a per-channel affine.
    return nn.Sequential(layer, nn.GroupNorm(1, features) if spatial else nn.LayerNorm(features))


@NORMS.register("instance", reference="Ulyanov et al. 2016, Instance Normalization")
def instance(layer: nn.Module, features: int, spatial: bool, total_steps: int) -> nn.Module:
    """Normalize each sample's each channel over space; same at train and eval. Conv models only."""
    if not spatial:
        raise ConfigError("norm", "instance", "a model with spatial feature maps (cnn, resnet): "
                          "instance norm normalizes each channel over its pixels, and an mlp has none")
    return nn.Sequential(layer, nn.InstanceNorm2d(features, affine=True))


@NORMS.register("group", reference="Wu & He 2018, Group Normalization", bounds={"groups": (1, 1024)})
def group(layer: nn.Module, features: int, spatial: bool, total_steps: int, *, groups: int = 8) -> nn.Module:
    """Normalize each sample over groups of channels (and space): 1 group is layer norm, 1 channel each instance norm."""
    if features % groups:
        raise ConfigError("norm.groups", groups, f"a divisor of the normalized layer's width {features}")
    return nn.Sequential(layer, nn.GroupNorm(groups, features))


@NORMS.register("weight", reference="Salimans & Kingma 2016, Weight Normalization")
def weight_norm(layer: nn.Module, features: int, spatial: bool, total_steps: int) -> nn.Module:
    """Reparametrize each unit's weights as w = g·v/‖v‖ (torch's parametrization): length apart from direction."""
    return nn.utils.parametrizations.weight_norm(layer, dim=0)


@dataclass(frozen=True)
class Relaxation:
    """When batch renorm's limits relax, in training steps (Ioffe 2017, §4): r_max = 1 and
    d_max = 0 (batch norm) up to step `start`, then each rises linearly to its final value over
    its own number of steps. All zero: the final limits from the first step."""

    start: int = 0
    rmax_steps: int = 0
    dmax_steps: int = 0

    @classmethod
    def of_run(cls, total_steps: int, start: float, rmax_ramp: float, dmax_ramp: float) -> "Relaxation":
        """The schedule with its points given as fractions of a run of `total_steps` steps."""
        return cls(*(round(fraction * total_steps) for fraction in (start, rmax_ramp, dmax_ramp)))

    def progress(self, step: torch.Tensor, ramp_steps: int) -> torch.Tensor:
        """How far a limit has relaxed at `step` (0-based): 0 up to `start`, 1 after its ramp."""
        if ramp_steps == 0:
            return (step >= self.start).float()
        return ((step - self.start) / ramp_steps).clamp(0.0, 1.0)


class BatchRenorm(nn.Module):
    """Batch renormalization (Ioffe 2017, Algorithm 1), per channel.

    Training, with batch mean μ_B and σ_B = √(Var_B + ε) (biased variance, as batch norm):
        r = sg(clip(σ_B/σ, 1/r_max, r_max)),  d = sg(clip((μ_B − μ)/σ, −d_max, d_max))
        x̂ = (x − μ_B)/σ_B · r + d,  y = γ·x̂ + β
        μ ← μ + α(μ_B − μ),  σ ← σ + α(σ_B − σ)     (after r and d are computed)
    where sg stops gradients. Inference: y = γ·(x − μ)/σ + β. Since (x − μ)/σ = (x − μ_B)/σ_B · r + d
    for the unclipped r, d, training sees what inference will compute, yet gradients still flow
    through μ_B and σ_B as in batch norm; r_max = 1, d_max = 0 is batch norm.

    The limits follow `relaxation` (§4 of the paper: batch norm first, while the running
    statistics are still far from the data's, then gradually relaxed), counted in training-mode
    forward passes, which the layer counts itself in the buffer `num_batches_tracked` — part of
    its state, so a resumed run continues the schedule exactly. One pass per optimizer step for
    every optimizer but L-BFGS, whose line search evaluates several times per step (SAM's perturbed
    pass leaves the counter alone, see `optimizers.SAM`)."""

    #: training-mode gradients treat r and d as constants, so they are deliberately not the exact
    #: derivative of the forward pass (the babysitting gradient check compares the inference path)
    exact_training_gradient = False

    def __init__(self, features: int, rmax: float = 3.0, dmax: float = 5.0, momentum: float = 0.01, eps: float = 1e-5,
                 relaxation: Relaxation = Relaxation()):
        super().__init__()
        self.rmax, self.dmax, self.momentum, self.eps, self.relaxation = rmax, dmax, momentum, eps, relaxation
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features))
        self.register_buffer("running_mean", torch.zeros(features))
        self.register_buffer("running_std", torch.ones(features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def limits(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(r_max, d_max) for the next training pass: 1 + (r_max − 1)·progress and d_max·progress.
        Tensors computed from the counter on its device, so reading them never waits for the device."""
        step, relaxation = self.num_batches_tracked, self.relaxation
        rmax = 1.0 + (self.rmax - 1.0) * relaxation.progress(step, relaxation.rmax_steps)
        return rmax, self.dmax * relaxation.progress(step, relaxation.dmax_steps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = [0, *range(2, x.dim())]
        channel = lambda v: v.view(1, -1, *[1] * (x.dim() - 2))
        if self.training:
            mean = x.mean(dims)
            std = (x.var(dims, unbiased=False) + self.eps).sqrt()
            with torch.no_grad():
                rmax, dmax = self.limits()
                r = torch.minimum(torch.maximum(std / self.running_std, 1.0 / rmax), rmax).to(x.dtype)
                d = torch.minimum(torch.maximum((mean - self.running_mean) / self.running_std, -dmax), dmax).to(x.dtype)
                self.running_mean += self.momentum * (mean - self.running_mean)
                self.running_std += self.momentum * (std - self.running_std)
                self.num_batches_tracked += 1
            normalized = (x - channel(mean)) / channel(std) * channel(r) + channel(d)
        else:
            normalized = (x - channel(self.running_mean)) / channel(self.running_std)
        return channel(self.weight) * normalized + channel(self.bias)

    def extra_repr(self) -> str:
        return f"{len(self.weight)}, rmax={self.rmax}, dmax={self.dmax}, momentum={self.momentum}, {self.relaxation}"

    @contextmanager
    def recomputing_statistics(self) -> Iterator[None]:
        """Inside, the running statistics are recomputed from scratch, as `update_bn` recomputes batch
        norm's for averaged weights (SWA): each training-mode pass normalizes by its batch's own
        statistics (r = 1, d = 0: batch norm, like batch norm in update_bn) and the running mean and
        std become the equal-weight mean of the passes' μ_B and σ_B (update_bn's momentum None).
        The limits, the momentum and the relaxation's step counter are as before afterwards."""
        saved = self.rmax, self.dmax, self.momentum, self.num_batches_tracked.clone()
        passes = 0

        def cumulative(module: nn.Module, inputs: tuple) -> None:
            nonlocal passes
            if module.training:
                passes += 1
                module.momentum = 1.0 / passes  # after k passes: the mean of their k statistics

        self.rmax, self.dmax = 1.0, 0.0
        handle = self.register_forward_pre_hook(cumulative)
        try:
            yield
        finally:
            handle.remove()
            self.rmax, self.dmax, self.momentum = saved[:3]
            self.num_batches_tracked.copy_(saved[3])


_FRACTION = (0.0, 1.0)


@NORMS.register("batch_renorm", reference="Ioffe 2017, Batch Renormalization",
                bounds={"rmax": (1.0, None), "dmax": (0.0, None), "momentum": (0.0, 1.0),
                        "relax_start": _FRACTION, "rmax_ramp": _FRACTION, "dmax_ramp": _FRACTION})
def batch_renorm(layer: nn.Module, features: int, spatial: bool, total_steps: int, *, rmax: float = 3.0,
                 dmax: float = 5.0, momentum: float = 0.01, relax_start: float = 0.04, rmax_ramp: float = 0.27,
                 dmax_ramp: float = 0.15) -> nn.Module:
    """Batch norm corrected towards running statistics by clipped r, d: training computes what inference does.

    Starts as batch norm (r_max = 1, d_max = 0) for the first `relax_start` of training, then
    r_max rises linearly to `rmax` over the next `rmax_ramp` of it and d_max to `dmax` over the next
    `dmax_ramp` — the paper's schedule (Ioffe 2017, §4: batch norm for 5k steps, r_max = 3 at
    40k and d_max = 5 at 25k, of a ≈130k-step run) as fractions of this run's `total_steps`
    (rounded to steps). A ramp that runs past the end leaves that limit short of its final value;
    all three at 0 use the final limits from the first step (as does a model built with no
    training length, total_steps = 0)."""
    relaxation = Relaxation.of_run(total_steps, relax_start, rmax_ramp, dmax_ramp)
    return nn.Sequential(layer, BatchRenorm(features, rmax, dmax, momentum, relaxation=relaxation))
