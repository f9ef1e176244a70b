"""Optimizers: name → `build(model) -> torch.optim.Optimizer`.

A builder takes the model (its parameters go to the optimizer in two groups by role, decayed and
not: `weight_decay.parameter_groups`) or, where there is no model, parameters or parameter groups
as torch takes them (tests on a quadratic; studies that optimize a copy of the weights).

Every optimizer is stepped as `optimizer.step(closure)`, where the closure zeroes the gradients,
runs forward and backward and returns the loss. That one protocol serves plain first-order
methods (one closure call), L-BFGS (several) and SAM (two: ascent, then descent), so the training
loop never special-cases an optimizer. Weight decay is *not* an optimizer parameter here: it is a
regularizer (coupled L2 or decoupled), so the two can be compared on any optimizer — except in
`adamw`, offered under its familiar name, whose decay is exactly the decoupled regularizer's and
acts on exactly the same parameters.

Wrappers (SAM, Lookahead) take a `base` first-order optimizer by name, built with its registry
defaults and the wrapper's `lr`; they share the base's parameter groups, so a learning-rate
schedule set on the wrapper reaches the base.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import torch
from torch import nn

from trickbench.registry import Registry
from trickbench.techniques.weight_decay import parameter_groups

OPTIMIZERS = Registry("optimizer")

#: a model, or what torch optimizers take: parameters, or parameter groups (dicts with "params")
Params = nn.Module | Iterable[torch.Tensor] | Iterable[dict[str, Any]]
Closure = Callable[[], torch.Tensor]
_LR = {"lr": (0.0, None)}
_BETAS = {"beta1": (0.0, 0.99999), "beta2": (0.0, 0.99999), "eps": (0.0, None)}  # β = 1 never forgets: no estimate
#: optimizers that cannot serve as the base of a wrapper: L-BFGS steps itself, wrappers wrap
_NOT_A_BASE = {"lbfgs", "sam", "lookahead"}


def groups(params: Params) -> list[dict[str, Any]]:
    """Parameter groups: a model's by role (`parameter_groups`), given groups as they are, bare
    parameters as one group with no role (which AdamW decays, as torch's AdamW does)."""
    if isinstance(params, nn.Module):
        return parameter_groups(params)
    params = list(params)
    return [dict(group) for group in params] if params and isinstance(params[0], dict) else [{"params": params}]


def base_names() -> list[str]:
    """The first-order optimizers a wrapper (SAM, Lookahead) may take as its `base`."""
    return [name for name in OPTIMIZERS.names() if name not in _NOT_A_BASE]


@OPTIMIZERS.register("sgd", reference="Robbins & Monro 1951", bounds=_LR)
def sgd(params: Params, *, lr: float = 0.05) -> torch.optim.Optimizer:
    """Plain stochastic gradient descent: w ← w − lr·g."""
    return torch.optim.SGD(groups(params), lr=lr)


@OPTIMIZERS.register("momentum", reference="Polyak 1964", bounds={**_LR, "momentum": (0.0, 1.0)})
def momentum(params: Params, *, lr: float = 0.05, momentum: float = 0.9) -> torch.optim.Optimizer:
    """Heavy-ball momentum: v ← μ·v + g; w ← w − lr·v."""
    return torch.optim.SGD(groups(params), lr=lr, momentum=momentum)


@OPTIMIZERS.register("nesterov", reference="Nesterov 1983; Sutskever et al. 2013", bounds={**_LR, "momentum": (0.0, 1.0)})
def nesterov(params: Params, *, lr: float = 0.05, momentum: float = 0.9) -> torch.optim.Optimizer:
    """Nesterov momentum: the step looks ahead along the velocity: w ← w − lr·(g + μ·v)."""
    return torch.optim.SGD(groups(params), lr=lr, momentum=momentum, nesterov=True)


@OPTIMIZERS.register("adagrad", reference="Duchi et al. 2011", bounds={**_LR, "eps": (0.0, None)})
def adagrad(params: Params, *, lr: float = 0.01, eps: float = 1e-10) -> torch.optim.Optimizer:
    """Per-parameter steps shrinking with all past squared gradients: G ← G + g²; w ← w − lr·g/(√G + ε)."""
    return torch.optim.Adagrad(groups(params), lr=lr, eps=eps)


@OPTIMIZERS.register("rmsprop", reference="Tieleman & Hinton 2012, Lecture 6.5",
                     bounds={**_LR, "alpha": (0.0, 1.0), "eps": (0.0, None)})
def rmsprop(params: Params, *, lr: float = 0.001, alpha: float = 0.9, eps: float = 1e-8) -> torch.optim.Optimizer:
    """AdaGrad with a leaky memory: v ← α·v + (1−α)·g²; w ← w − lr·g/(√v + ε)."""
    return torch.optim.RMSprop(groups(params), lr=lr, alpha=alpha, eps=eps)


@OPTIMIZERS.register("adam", reference="Kingma & Ba 2015", bounds={**_LR, **_BETAS})
def adam(params: Params, *, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> torch.optim.Optimizer:
    """Adaptive moments: per-parameter steps from bias-corrected first and second moment estimates."""
    return torch.optim.Adam(groups(params), lr=lr, betas=(beta1, beta2), eps=eps)


@OPTIMIZERS.register("adamw", reference="Loshchilov & Hutter 2019, Decoupled Weight Decay Regularization",
                     bounds={**_LR, **_BETAS, "weight_decay": (0.0, None)})
def adamw(params: Params, *, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
          weight_decay: float = 0.01) -> torch.optim.Optimizer:
    """Adam with decoupled decay on weight matrices: w ← (1 − lr·λ)·w − lr·adam_step(g).

    Decayed are the parameters the decay regularizers act on (`weight_decay`): the group with
    role "decayed" gets λ, the other 0."""
    decayed = [{**group, "weight_decay": weight_decay if group.get("decayed", True) else 0.0} for group in groups(params)]
    return torch.optim.AdamW(decayed, lr=lr, betas=(beta1, beta2), eps=eps)


@OPTIMIZERS.register("lbfgs", reference="Liu & Nocedal 1989; Nocedal & Wright 2006, §7.2",
                     bounds={**_LR, "max_iter": (1, 100), "history_size": (1, 100)},
                     choices={"line_search": lambda: ["strong_wolfe", "none"]})
def lbfgs(params: Params, *, lr: float = 1.0, max_iter: int = 10, history_size: int = 10,
          line_search: str = "strong_wolfe") -> torch.optim.Optimizer:
    """Limited-memory BFGS: quasi-Newton steps with curvature from recent steps; wants full or large batches.

    Up to max_iter iterations per batch, curvature from the last history_size steps. Its curvature
    pairs assume one fixed function, so use it with a large `train.batch_size`; each iteration
    calls the closure at least once (all counted in grad_evals)."""
    flat = [p for group in groups(params) for p in group["params"]]  # L-BFGS takes one group only
    return torch.optim.LBFGS(flat, lr=lr, max_iter=max_iter, history_size=history_size,
                             line_search_fn=None if line_search == "none" else line_search)


class WrappingOptimizer(torch.optim.Optimizer):
    """An optimizer that drives a base optimizer: it shares the base's parameter groups (so a
    learning-rate schedule on the wrapper reaches the base) and checkpoints both states."""

    def __init__(self, base: torch.optim.Optimizer):
        super().__init__(base.param_groups, base.defaults)
        self.base = base
        self.param_groups = base.param_groups

    @property
    def params(self) -> list[torch.nn.Parameter]:
        return [p for group in self.param_groups for p in group["params"]]

    def own_state(self) -> dict[str, Any]:
        """What the wrapper itself must carry across a checkpoint (beyond the base's state)."""
        return {}

    def load_own_state(self, state: dict[str, Any]) -> None:
        """Restore what `own_state` returned."""

    def state_dict(self) -> dict[str, Any]:
        return {"base": self.base.state_dict(), "own": self.own_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.base.load_state_dict(state_dict["base"])
        self.param_groups = self.base.param_groups
        self.load_own_state(state_dict["own"])


def _base(base: str, lr: float, params: Params) -> torch.optim.Optimizer:
    return OPTIMIZERS.build(OPTIMIZERS.resolve({"name": base, "lr": lr}, "optimizer.base"), params)


class SAM(WrappingOptimizer):
    """Sharpness-aware minimization (Foret et al. 2021, Alg. 1) around any base optimizer.

    One step: g = ∇L(w) (first closure call), ε = ρ·g/‖g‖ with the norm over all parameters
    together, g_SAM = ∇L(w + ε) (second closure call), then w is restored exactly and the base
    optimizer steps with g_SAM. Two gradient evaluations per step.

    Running statistics (`bn_stats`): the perturbed pass runs the network at w + ε, a point it is
    never evaluated at. By default ("unperturbed") every buffer of `model` — batch-norm running
    means, variances and counters, batch renorm's too — is restored after it, so they advance once
    per step, from the unperturbed pass, as in the reference implementation's training loop
    (davda54/sam sets batch-norm momentum to 0 for the second pass; restoring the buffers also
    keeps the counters, which batch renorm's schedule reads). "both" keeps the second update
    too, as a closure-driven SAM that knows nothing of the model does. Without a model (bare
    parameters) there are no statistics to protect."""

    def __init__(self, base: torch.optim.Optimizer, rho: float, model: nn.Module | None = None,
                 bn_stats: str = "unperturbed"):
        super().__init__(base)
        self.rho = rho
        self.restore_buffers_of = model if bn_stats == "unperturbed" else None

    @torch.no_grad()
    def step(self, closure: Closure | None = None) -> torch.Tensor:
        if closure is None:
            raise ValueError("SAM needs a closure: it evaluates the gradient twice per step")
        with torch.enable_grad():
            loss = closure()
        params = [p for p in self.params if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
        scale = self.rho / (norm + 1e-12)
        originals = [p.detach().clone() for p in params]
        for p in params:
            p.add_(p.grad * scale)
        buffers = list(self.restore_buffers_of.buffers()) if self.restore_buffers_of is not None else []
        statistics = [buffer.clone() for buffer in buffers]
        with torch.enable_grad():
            closure()
        for buffer, saved in zip(buffers, statistics):
            buffer.copy_(saved)
        for p, original in zip(params, originals):
            p.copy_(original)
        self.base.step()
        return loss


class Lookahead(WrappingOptimizer):
    """Lookahead (Zhang et al. 2019, Alg. 1): the base optimizer takes k fast steps from the slow
    weights φ; then φ ← φ + α·(θ − φ) and the fast weights θ restart from φ. The base optimizer's
    own state (momentum, moments) is kept across synchronizations."""

    def __init__(self, base: torch.optim.Optimizer, k: int, alpha: float):
        super().__init__(base)
        self.k, self.alpha = k, alpha
        self.fast_steps = 0
        self.slow = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def step(self, closure: Closure | None = None) -> torch.Tensor | None:
        loss = self.base.step(closure)
        self.fast_steps += 1
        if self.fast_steps % self.k == 0:
            for p, slow in zip(self.params, self.slow):
                slow.add_(p - slow, alpha=self.alpha)
                p.copy_(slow)
        return loss

    def own_state(self) -> dict[str, Any]:
        return {"fast_steps": self.fast_steps, "slow": [s.clone() for s in self.slow]}

    def load_own_state(self, state: dict[str, Any]) -> None:
        self.fast_steps = state["fast_steps"]
        for slow, saved in zip(self.slow, state["slow"]):
            slow.copy_(saved)


@OPTIMIZERS.register("sam", reference="Foret et al. 2021, Sharpness-Aware Minimization",
                     bounds={**_LR, "rho": (0.0, None)},
                     choices={"base": base_names, "bn_stats": lambda: ["unperturbed", "both"]})
def sam(params: Params, *, base: str = "momentum", lr: float = 0.05, rho: float = 0.05,
        bn_stats: str = "unperturbed") -> torch.optim.Optimizer:
    """Descend from the worst nearby point: the base optimizer steps with ∇L(w + ρ·g/‖g‖).

    `bn_stats`: running statistics from the unperturbed pass only (the reference
    implementation's), or from both passes."""
    model = params if isinstance(params, nn.Module) else None
    return SAM(_base(base, lr, params), rho, model, bn_stats)


@OPTIMIZERS.register("lookahead", reference="Zhang et al. 2019, Lookahead Optimizer: k steps forward, 1 step back",
                     bounds={**_LR, "k": (1, 100), "alpha": (0.0, 1.0)}, choices={"base": base_names})
def lookahead(params: Params, *, base: str = "momentum", lr: float = 0.05, k: int = 5, alpha: float = 0.5) -> torch.optim.Optimizer:
    """k fast steps of the base optimizer, then the slow weights move α of the way to the fast ones."""
    return Lookahead(_base(base, lr, params), k, alpha)
