"""Weight initializations: name → `apply(model, context)` that sets every affine layer's weights.

Biases start at zero for every scheme except `default` (PyTorch's own), so that schemes differ
only in what they are about: the weights. `InitContext` carries what some schemes need: the run's
activation (for the gain of He and orthogonal) and a data batch (for data-dependent schemes like LSUV).
Weights are written through `set_weight`, so reparametrized layers (weight norm) get them too.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
from torch import nn

from trickbench.registry import Registry, Technique
from trickbench.techniques.activations import ACTIVATIONS

INITS = Registry("init")


@dataclass(frozen=True)
class InitContext:
    activation: Technique
    batch: torch.Tensor | None = None


def affine_layers(model: nn.Module) -> Iterator[nn.Module]:
    """The Linear and Conv layers of `model`, in forward order, whose weights an init sets."""
    return (m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)))


def fans(weight: torch.Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a Linear (out×in) or Conv (out×in×k…) weight."""
    receptive = math.prod(weight.shape[2:])
    return weight.shape[1] * receptive, weight.shape[0] * receptive


#: gains PyTorch tabulates (torch.nn.init.calculate_gain); every other activation gets its
#: second-moment gain, the same rule He et al. derived for ReLU
_TABULATED = {"relu", "tanh", "sigmoid", "selu"}


def activation_gain(activation: Technique) -> float:
    """The gain that keeps activation variance through a layer.

    PyTorch's table where it has one (√2 for ReLU, 5/3 for tanh, …); PReLU uses the leaky-ReLU
    gain at its initial slope, √(2/(1+a²)) (He et al. 2015, §2.2); any other activation f gets
    1/√E[f(z)²], z ~ N(0, 1) — He et al.'s derivation Var[y] = n·Var[w]·E[f(z)²] solved for
    Var[w] = gain²/n, which gives exactly √2 for ReLU."""
    params = activation.kwargs
    if activation.name == "leaky_relu":
        return nn.init.calculate_gain("leaky_relu", params["slope"])
    if activation.name == "prelu":
        return nn.init.calculate_gain("leaky_relu", params["init"])
    if activation.name in _TABULATED:
        return nn.init.calculate_gain(activation.name)
    return second_moment_gain(activation)


def second_moment_gain(activation: Technique, samples: int = 1 << 18) -> float:
    """1/√E[f(z)²] for z ~ N(0, 1), by Monte Carlo with a fixed seed (relative error ~0.3%).

    Maxout gets its k pieces as k independent standard normals, as a layer with independent
    weights per piece produces them."""
    module = ACTIVATIONS.build(activation, 1)
    z = torch.randn(samples, getattr(module, "expansion", 1), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return float(module(z).pow(2).mean().rsqrt())


@torch.no_grad()
def set_weight(layer: nn.Module, fill: Callable[[torch.Tensor], object]) -> None:
    """Fill a fresh tensor shaped like `layer.weight` and assign it; a parametrized weight (weight
    norm) takes it through its right inverse, so g and v are set to represent exactly it."""
    weight = torch.empty_like(layer.weight)
    fill(weight)
    if nn.utils.parametrize.is_parametrized(layer, "weight"):
        layer.weight = weight
    else:
        layer.weight.copy_(weight)


def _each_weight(model: nn.Module, fill: Callable[[torch.Tensor], object]) -> None:
    for layer in affine_layers(model):
        set_weight(layer, fill)
        if layer.bias is not None:
            with torch.no_grad():
                layer.bias.zero_()


def _gaussian(std: Callable[[torch.Tensor], float]) -> Callable[[torch.Tensor], object]:
    return lambda w: w.normal_(0.0, std(w))


def _uniform(bound: Callable[[torch.Tensor], float]) -> Callable[[torch.Tensor], object]:
    return lambda w: w.uniform_(-bound(w), bound(w))


@INITS.register("default")
def default(model: nn.Module, context: InitContext) -> None:
    """PyTorch's own per-layer init (Kaiming-uniform with a=√5, biases uniform): left untouched."""


@INITS.register("zeros", reference="cs231n: the symmetry-breaking failure")
def zeros(model: nn.Module, context: InitContext) -> None:
    """All weights 0: every unit of a layer computes and learns the same thing (symmetry never breaks)."""
    _each_weight(model, lambda w: w.zero_())


@INITS.register("small_gaussian", reference="cs231n: W ~ 0.01·N(0, 1)", bounds={"std": (0.0, None)})
def small_gaussian(model: nn.Module, context: InitContext, *, std: float = 0.01) -> None:
    """N(0, std²) with a small std: activations shrink layer after layer in deep nets."""
    _each_weight(model, _gaussian(lambda w: std))


@INITS.register("large_gaussian", reference="cs231n: W ~ N(0, 1)", bounds={"std": (0.0, None)})
def large_gaussian(model: nn.Module, context: InitContext, *, std: float = 1.0) -> None:
    """N(0, std²) with a large std: activations blow up or saturate."""
    _each_weight(model, _gaussian(lambda w: std))


@INITS.register("xavier_normal", reference="Glorot & Bengio 2010")
def xavier_normal(model: nn.Module, context: InitContext) -> None:
    """N(0, 2/(fan_in+fan_out)), no gain: keeps variance through units linear near 0 (tanh).

    As in the paper: under ReLU the signal's second moment then halves per layer — the failure
    He et al. fixed, which the init-statistics study shows."""
    _each_weight(model, _gaussian(lambda w: math.sqrt(2.0 / sum(fans(w)))))


@INITS.register("xavier_uniform", reference="Glorot & Bengio 2010, eq. 16")
def xavier_uniform(model: nn.Module, context: InitContext) -> None:
    """U(−b, b) with b = √(6/(fan_in+fan_out)): the same variance as xavier_normal."""
    _each_weight(model, _uniform(lambda w: math.sqrt(6.0 / sum(fans(w)))))


@INITS.register("he_normal", reference="He et al. 2015, Delving Deep into Rectifiers")
def he_normal(model: nn.Module, context: InitContext) -> None:
    """N(0, gain²/fan_in) with the activation's gain (2 for ReLU): for rectifier networks."""
    gain = activation_gain(context.activation)
    _each_weight(model, _gaussian(lambda w: gain / math.sqrt(fans(w)[0])))


@INITS.register("he_uniform", reference="He et al. 2015, Delving Deep into Rectifiers")
def he_uniform(model: nn.Module, context: InitContext) -> None:
    """U(−b, b) with b = gain·√(3/fan_in): the same variance as he_normal."""
    gain = activation_gain(context.activation)
    _each_weight(model, _uniform(lambda w: gain * math.sqrt(3.0 / fans(w)[0])))


@INITS.register("lecun_normal", reference="LeCun et al. 1998, Efficient BackProp; Klambauer et al. 2017")
def lecun_normal(model: nn.Module, context: InitContext) -> None:
    """N(0, 1/fan_in), no gain: the init SELU's self-normalization assumes."""
    _each_weight(model, _gaussian(lambda w: 1.0 / math.sqrt(fans(w)[0])))


@INITS.register("orthogonal", reference="Saxe et al. 2014")
def orthogonal(model: nn.Module, context: InitContext) -> None:
    """A (semi-)orthogonal matrix times the activation's gain: preserves norms exactly at start."""
    gain = activation_gain(context.activation)
    _each_weight(model, lambda w: nn.init.orthogonal_(w, gain=gain))


@INITS.register("lsuv", reference="Mishkin & Matas 2016, All you need is a good init (Alg. 1)",
                bounds={"tolerance": (1e-3, 1.0), "max_iterations": (1, 100)})
def lsuv(model: nn.Module, context: InitContext, *, tolerance: float = 0.1, max_iterations: int = 10) -> None:
    """Layer-sequential unit variance: orthonormal start, then each layer rescaled to output variance 1.

    In forward order, each affine layer's weights are divided by the standard deviation of its
    output on the run's first training batch until |Var − 1| < tolerance (at most max_iterations
    passes per layer; biases are zero, so one pass is usually exact)."""
    if context.batch is None:
        raise ValueError("the lsuv init needs a data batch (InitContext.batch)")
    _each_weight(model, nn.init.orthogonal_)
    with _probing(model):
        for layer in affine_layers(model):
            for _ in range(max_iterations):
                variance = _output_of(model, layer, context.batch).var().item()
                if abs(variance - 1.0) < tolerance:
                    break
                rescaled = layer.weight.detach() / math.sqrt(variance)
                set_weight(layer, lambda w: w.copy_(rescaled))


def _output_of(model: nn.Module, layer: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """What `layer` outputs when `model` runs on `batch`."""
    captured: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda module, inputs, output: captured.append(output))
    try:
        model(batch)
    finally:
        handle.remove()
    return captured[0]


@contextlib.contextmanager
def _probing(model: nn.Module) -> Iterator[None]:
    """Forward passes as in training (batch statistics) but with dropout off and no trace left:
    normalization buffers (running statistics) are restored afterwards."""
    buffers = {name: buffer.clone() for name, buffer in model.named_buffers()}
    modes = {module: module.training for module in model.modules()}
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.dropout._DropoutNd):
            module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for module, mode in modes.items():
            module.train(mode)
        with torch.no_grad():
            for name, buffer in model.named_buffers():
                buffer.copy_(buffers[name])
