"""The Lion optimizer as a trickbench plugin: a published technique the catalogue lacks.

Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms" (arXiv:2302.06675), Algorithm 2
(Lion, "EvoLved Sign Momentum"), for each parameter θ with gradient g and momentum m (m₀ = 0):

    c ← β1·m + (1 − β1)·g            interpolate the momentum and the gradient
    θ ← θ − lr·(sign(c) + λ·θ)       step by the sign only: every coordinate moves by exactly lr
    m ← β2·m + (1 − β2)·g            the momentum remembers longer than the step looks (β2 > β1)

with the paper's defaults β1 = 0.9, β2 = 0.99 and lr = 1e-4; λ is decoupled weight decay. Because
the step has the same size in every coordinate, the paper advises an lr 3–10× smaller than
AdamW's and a λ 3–10× larger (their product, the decay per step, about the same).

Use it from a config (paths relative to the config file's folder):

    plugins: [lion.py]
    design: {factors: {optimizer: [lion, {name: lion, lr: 0.0003}, adamw]}}

`trickbench techniques optimizer --plugin examples/lion.py` lists it. Written from the paper,
not from a library; tests/plugins/test_lion.py checks it against the update above.
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch

from trickbench.techniques.optimizers import OPTIMIZERS, Params, groups


class Lion(torch.optim.Optimizer):
    """Lion (Chen et al. 2023, Algorithm 2): the sign of an interpolated momentum, with decoupled
    weight decay λ (a param group's `weight_decay`)."""

    def __init__(self, params: Iterable, lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0):
        if lr < 0 or weight_decay < 0 or not all(0.0 <= beta <= 1.0 for beta in betas):
            raise ValueError(f"Lion needs lr >= 0, weight_decay >= 0 and betas in [0, 1]; got {lr}, {weight_decay}, {betas}")
        super().__init__(params, {"lr": lr, "betas": betas, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, beta2), decay = group["lr"], group["betas"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["momentum"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                momentum = state["momentum"]
                interpolated = momentum * beta1 + p.grad * (1 - beta1)  # c = β1·m + (1 − β1)·g
                p.mul_(1 - lr * decay)  # θ − lr·λ·θ ...
                p.add_(interpolated.sign_(), alpha=-lr)  # ... − lr·sign(c)
                momentum.mul_(beta2).add_(p.grad, alpha=1 - beta2)  # m = β2·m + (1 − β2)·g
        return loss


@OPTIMIZERS.register("lion", reference="Chen et al. 2023, Symbolic Discovery of Optimization Algorithms (Alg. 2)",
                     bounds={"lr": (0.0, None), "beta1": (0.0, 1.0), "beta2": (0.0, 1.0), "weight_decay": (0.0, None)})
def lion(params: Params, *, lr: float = 1e-4, beta1: float = 0.9, beta2: float = 0.99,
         weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Sign of interpolated momentum: c = β1·m + (1−β1)·g; w ← w − lr·(sign(c) + λ·w); m ← β2·m + (1−β2)·g."""
    # decay by role (weight matrices and kernels, never gains or biases), as the catalogue's adamw
    # does, so the two compare on equal terms
    decayed = [{"params": group["params"], "weight_decay": weight_decay if group.get("decayed", True) else 0.0}
               for group in groups(params)]
    return Lion(decayed, lr=lr, betas=(beta1, beta2))
