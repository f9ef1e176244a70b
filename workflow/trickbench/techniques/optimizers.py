"""Optimizers: name → `build(params) -> torch.optim.Optimizer`.

Every optimizer is stepped as `optimizer.step(closure)`, where the closure zeroes the gradients,
runs forward and backward and returns the loss. That one protocol serves plain first-order
methods (one closure call), L-BFGS (several) and SAM (two: ascent, then descent), so the training
loop never special-cases an optimizer. Weight decay is *not* an optimizer parameter here: it is a
regularizer (coupled L2 or decoupled), so the two can be compared on any optimizer.
"""

from __future__ import annotations

from typing import Iterable

import torch

from trickbench.registry import Registry

OPTIMIZERS = Registry("optimizer")

Params = Iterable[torch.nn.Parameter]
_LR = {"lr": (0.0, None)}


@OPTIMIZERS.register("sgd", reference="Robbins & Monro 1951", bounds=_LR)
def sgd(params: Params, *, lr: float = 0.05) -> torch.optim.Optimizer:
    """Plain stochastic gradient descent: w ← w − lr·g."""
    return torch.optim.SGD(params, lr=lr)


@OPTIMIZERS.register("momentum", reference="Polyak 1964", bounds={**_LR, "momentum": (0.0, 1.0)})
def momentum(params: Params, *, lr: float = 0.05, momentum: float = 0.9) -> torch.optim.Optimizer:
    """Heavy-ball momentum: v ← μ·v + g; w ← w − lr·v."""
    return torch.optim.SGD(params, lr=lr, momentum=momentum)


@OPTIMIZERS.register("nesterov", reference="Nesterov 1983; Sutskever et al. 2013", bounds={**_LR, "momentum": (0.0, 1.0)})
def nesterov(params: Params, *, lr: float = 0.05, momentum: float = 0.9) -> torch.optim.Optimizer:
    """Nesterov momentum: the step looks ahead along the velocity: w ← w − lr·(g + μ·v)."""
    return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=True)


@OPTIMIZERS.register("adam", reference="Kingma & Ba 2015", bounds=_LR)
def adam(params: Params, *, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> torch.optim.Optimizer:
    """Adaptive moments: per-parameter steps from bias-corrected first and second moment estimates."""
    return torch.optim.Adam(params, lr=lr, betas=(beta1, beta2), eps=eps)
