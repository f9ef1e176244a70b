"""Weight initializations: name → `apply(model, context)` that sets every affine layer's weights.

Biases start at zero for every scheme except `default` (PyTorch's own), so that schemes differ
only in what they are about: the weights. `InitContext` carries what some schemes need: the run's
activation (for the gain of He/Xavier) and a data batch (for data-dependent schemes like LSUV).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
from torch import nn

from trickbench.registry import Registry, Technique

INITS = Registry("init")


@dataclass(frozen=True)
class InitContext:
    activation: Technique
    batch: torch.Tensor | None = None


def affine_layers(model: nn.Module) -> Iterator[nn.Module]:
    """The Linear and Conv layers of `model`, in forward order, whose weights an init sets."""
    return (m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)))


def activation_gain(activation: Technique) -> float:
    """The gain that keeps activation variance through a layer (torch.nn.init.calculate_gain)."""
    params = activation.kwargs
    if activation.name == "leaky_relu":
        return nn.init.calculate_gain("leaky_relu", params["slope"])
    known = {"relu", "tanh", "sigmoid", "selu"}
    return nn.init.calculate_gain(activation.name) if activation.name in known else 1.0


def _each_weight(model: nn.Module, fill: Callable[[torch.Tensor], object]) -> None:
    with torch.no_grad():
        for layer in affine_layers(model):
            fill(layer.weight)
            if layer.bias is not None:
                layer.bias.zero_()


@INITS.register("default")
def default(model: nn.Module, context: InitContext) -> None:
    """PyTorch's own per-layer init (Kaiming-uniform with a=√5, biases uniform): left untouched."""


@INITS.register("small_gaussian", reference="cs231n: W ~ 0.01·N(0, 1)", bounds={"std": (0.0, None)})
def small_gaussian(model: nn.Module, context: InitContext, *, std: float = 0.01) -> None:
    """N(0, std²) with a small std: activations shrink layer after layer in deep nets."""
    _each_weight(model, lambda w: w.normal_(0.0, std))


@INITS.register("large_gaussian", reference="cs231n: W ~ N(0, 1)", bounds={"std": (0.0, None)})
def large_gaussian(model: nn.Module, context: InitContext, *, std: float = 1.0) -> None:
    """N(0, std²) with a large std: activations blow up or saturate."""
    _each_weight(model, lambda w: w.normal_(0.0, std))


@INITS.register("xavier_normal", reference="Glorot & Bengio 2010")
def xavier_normal(model: nn.Module, context: InitContext) -> None:
    """N(0, gain²·2/(fan_in+fan_out)): keeps variance forward and backward for linear-ish units."""
    gain = activation_gain(context.activation)
    _each_weight(model, lambda w: nn.init.xavier_normal_(w, gain=gain))


@INITS.register("he_normal", reference="He et al. 2015, Delving Deep into Rectifiers")
def he_normal(model: nn.Module, context: InitContext) -> None:
    """N(0, gain²/fan_in) with the activation's gain (2 for ReLU): for rectifier networks."""
    gain = activation_gain(context.activation)
    _each_weight(model, lambda w: w.normal_(0.0, gain / math.sqrt(nn.init._calculate_correct_fan(w, "fan_in"))))


@INITS.register("orthogonal", reference="Saxe et al. 2014")
def orthogonal(model: nn.Module, context: InitContext) -> None:
    """A (semi-)orthogonal matrix times the activation's gain: preserves norms exactly at start."""
    gain = activation_gain(context.activation)
    _each_weight(model, lambda w: nn.init.orthogonal_(w, gain=gain))
