"""Shared building blocks: one hidden unit block = affine layer → normalization → activation → dropout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from trickbench.registry import Registry, Technique
from trickbench.techniques.activations import ACTIVATIONS
from trickbench.techniques.norms import NORMS

MODELS = Registry("model")


@dataclass(frozen=True)
class Parts:
    input_shape: tuple[int, int, int]
    num_classes: int
    activation: Technique
    norm: Technique
    dropout: float = 0.0
    #: optimizer steps the model will train for, for norms that follow training's progress (batch
    #: renorm's relaxation); 0 when unknown (a model built only to load weights into or to probe)
    total_steps: int = 0

    def activation_layer(self, features: int) -> nn.Module:
        return ACTIVATIONS.build(self.activation, features)

    def normalized(self, layer: nn.Module, features: int, spatial: bool) -> nn.Module:
        return NORMS.build(self.norm, layer, features, spatial, self.total_steps)

    def hidden(self, make_layer: Callable[[int], nn.Module], features: int, spatial: bool,
               dropout: bool = True) -> nn.Sequential:
        """`make_layer(n)` builds the affine layer with n outputs; it gets `features` times the
        activation's expansion (maxout's k pieces), so the block outputs `features` units. With
        `dropout` (and a dropout probability), dropout follows the activation."""
        activation = self.activation_layer(features)
        width = features * getattr(activation, "expansion", 1)
        block = [self.normalized(make_layer(width), width, spatial), activation]
        if dropout and self.dropout > 0:
            block.append(nn.Dropout(self.dropout))
        return nn.Sequential(*block)


def build_model(model: Technique, parts: Parts) -> nn.Module:
    return MODELS.build(model, parts)
