"""Which parameters weight penalties act on, decided by role — once, for L1, coupled L2, decoupled
decay and AdamW alike.

Decayed: the weight matrix or kernel of every affine layer (Linear, Conv). Under weight
normalization (Salimans & Kingma 2016) the weight is w = g·v/‖v‖, and what is decayed is the
direction parameter v. At initialization v equals w, so the penalty's *value* is the nominal
penalty on the weights, but not its effect: w does not depend on the length of v, so decay that
shrinks v leaves the layer's weights as they were. What it changes is the effective step size:
the gradient with respect to v scales as 1/‖v‖, so once v is shorter the same step turns w
further (by 1/‖v‖², van Laarhoven 2017, "L2 Regularization versus Batch and Weight
Normalization"). Never decayed: biases, the gains and shifts of normalization layers, weight norm's
gain g (a normalization gain: decaying it too would double the penalty at initialization), PReLU's
slopes (He et al. 2015, §2.1: "we do not use weight decay … when updating a_i").

The decision reads what a tensor *is* in the model, not its shape: weight norm's g has the shape
(out, 1[, 1, 1]) of a matrix, and a 1×n weight matrix the length of a bias.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _WeightNorm  # torch's weight_norm: original0 = g, original1 = v

from trickbench.techniques.inits import affine_layers


def decayed_names(model: nn.Module) -> set[str]:
    """Names (as in `model.named_parameters()`) of the parameters weight penalties act on."""
    affine = {id(layer) for layer in affine_layers(model)}  # the layers whose weights an init sets
    names = set()
    for prefix, module in model.named_modules():
        if id(module) not in affine:
            continue
        prefix = f"{prefix}." if prefix else ""
        if parametrize.is_parametrized(module, "weight"):
            parametrization = module.parametrizations.weight
            decayed = "original1" if isinstance(parametrization[0], _WeightNorm) else "original"
            names.add(f"{prefix}parametrizations.weight.{decayed}")
        else:
            names.add(f"{prefix}weight")
    return names


def decayed_parameters(model: nn.Module) -> Iterator[nn.Parameter]:
    """The parameters of `model` that weight penalties act on (see `decayed_names`), in model order."""
    decayed = decayed_names(model)
    return (p for name, p in model.named_parameters() if name in decayed)


def parameter_groups(model: nn.Module, tensors: Mapping[str, torch.Tensor] | None = None) -> list[dict[str, Any]]:
    """The model's parameters as optimizer parameter groups by role: `{"params": [...], "decayed":
    True}` then `{"params": [...], "decayed": False}` (empty groups left out). An optimizer with
    its own decay (AdamW) applies it to the first group only.

    `tensors` maps parameter names to the tensors to optimize in their place (a study that trains
    a copy of the weights, e.g. mode connectivity's curve); by default the parameters themselves."""
    decayed = decayed_names(model)
    pick = (lambda name, p: tensors[name]) if tensors is not None else (lambda name, p: p)
    groups = [{"params": [pick(name, p) for name, p in model.named_parameters() if (name in decayed) is role],
               "decayed": role} for role in (True, False)]
    return [group for group in groups if group["params"]]
