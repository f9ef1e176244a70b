"""Per-layer statistics of hidden activations: mean, std, dead units, saturated units.

What a careful practitioner plots to see whether an initialization keeps the signal alive through
depth (Glorot & Bengio 2010, figs. 3–6; the cs231n notes "Neural Networks Part 2"): the
distribution of each hidden layer's outputs. Two failure fractions, each defined only for the
activations it applies to (found by probing the activation, so a newly registered one is classified
without a list of names):

- *dead*: for a rectifier (flat at its left, unbounded at its right, like ReLU), the share of units
  whose output is the flat value for every example of the batch — no gradient reaches their weights.
- *saturated*: for an activation bounded on both sides (tanh, sigmoid), the share of outputs within
  1 % of the range from an asymptote. There the slope is below 4 % of its maximum for both tanh
  (1 − 0.98² ≈ 0.04) and sigmoid (0.99·0.01 / 0.25 ≈ 0.04), so gradients through them vanish.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from trickbench.registry import Technique
from trickbench.techniques.activations import ACTIVATIONS

#: share of the output range next to an asymptote that counts as saturated
SATURATION_MARGIN = 0.01
#: columns of one row of statistics (one hidden layer at one moment)
COLUMNS = ["layer", "module", "mean", "std", "dead_fraction", "saturated_fraction"]


@dataclass(frozen=True)
class Shape:
    """What probing an activation found: the module type to hook and which fractions apply."""

    module_type: type
    rectifier: bool  # flat (constant) left tail, unbounded right tail: units can die
    bounded: bool  # flat tails on both sides: units can saturate
    low: float  # the left asymptote (the dead value of a rectifier)
    high: float  # the right asymptote (inf when unbounded)


def activation_shape(activation: Technique) -> Shape:
    """Probe the activation's builder on a few scalars far out in both tails."""
    module = ACTIVATIONS.build(activation, 1)
    if getattr(module, "expansion", 1) != 1:  # not elementwise (maxout): no tails to speak of
        return Shape(type(module), False, False, math.nan, math.nan)
    probe = torch.tensor([[-1e4], [-10.0], [-1.0], [1.0], [10.0], [1e4]])
    with torch.no_grad():
        far_left, left, near_left, _, right, far_right = module.eval()(probe).flatten().tolist()
    rectifier = far_left == left == near_left and far_right > 1e3  # exactly flat left, growing right
    bounded = abs(far_left - left) < 1e-3 and abs(far_right - right) < 1e-3  # both tails level off
    return Shape(type(module), rectifier, bounded, far_left, far_right if bounded else math.inf)


def layer_statistics(outputs: torch.Tensor, shape: Shape) -> dict[str, float]:
    """Mean, std (population), dead and saturated fractions of one layer's outputs on a batch.

    A unit is a feature (a channel of a convolution: its positions count as more examples)."""
    values = outputs.detach().float()
    units = values.movedim(1, -1).reshape(-1, values.shape[1]) if values.ndim > 2 else values.reshape(len(values), -1)
    row = {"mean": units.mean().item(), "std": units.std(correction=0).item(), "dead_fraction": math.nan,
           "saturated_fraction": math.nan}
    if shape.rectifier:
        row["dead_fraction"] = (units == shape.low).all(dim=0).float().mean().item()
    if shape.bounded:
        margin = SATURATION_MARGIN * (shape.high - shape.low)
        row["saturated_fraction"] = ((units <= shape.low + margin) | (units >= shape.high - margin)).float().mean().item()
    return row


def activation_statistics(model: nn.Module, inputs: torch.Tensor, activation: Technique) -> list[dict[str, Any]]:
    """One row per activation module of `model` in the order the forward pass calls them.

    The batch passes through a copy in training mode (batch statistics, as training sees them)
    with dropout off (its zeros would count as dead units); the model itself, its running
    statistics and every random generator are left untouched."""
    shape = activation_shape(activation)
    probe = copy.deepcopy(model).train()
    for module in probe.modules():
        if isinstance(module, nn.modules.dropout._DropoutNd):
            module.eval()
    rows: list[dict[str, Any]] = []
    names = {module: name for name, module in probe.named_modules()}

    def record(module: nn.Module, args: Any, output: torch.Tensor) -> None:
        rows.append({"layer": len(rows) + 1, "module": names[module], **layer_statistics(output, shape)})

    hooks = [m.register_forward_hook(record) for m in probe.modules() if type(m) is shape.module_type]
    try:
        with torch.no_grad():
            probe(inputs)
    finally:
        for hook in hooks:
            hook.remove()
    return rows
