"""Activation functions: name → `build(features) -> nn.Module`.

`features` is the number of units the activation outputs (PReLU needs it for per-unit slopes).
A module may set `expansion` > 1 when it needs more inputs than outputs (maxout takes k pieces per
unit): model builders widen the preceding layer by that factor.
"""

from __future__ import annotations

from torch import nn

from trickbench.registry import Registry

ACTIVATIONS = Registry("activation")


@ACTIVATIONS.register("relu", reference="Nair & Hinton 2010")
def relu(features: int) -> nn.Module:
    """max(0, x): cheap, non-saturating for x > 0; units can die."""
    return nn.ReLU()


@ACTIVATIONS.register("tanh", reference="LeCun et al. 1998, Efficient BackProp")
def tanh(features: int) -> nn.Module:
    """Zero-centred squashing to (-1, 1); saturates for large |x|."""
    return nn.Tanh()


@ACTIVATIONS.register("sigmoid", reference="Rumelhart et al. 1986")
def sigmoid(features: int) -> nn.Module:
    """1 / (1 + e^-x): squashes to (0, 1); not zero-centred, saturates."""
    return nn.Sigmoid()


@ACTIVATIONS.register("leaky_relu", reference="Maas et al. 2013", bounds={"slope": (0.0, 1.0)})
def leaky_relu(features: int, *, slope: float = 0.01) -> nn.Module:
    """x for x > 0 else slope·x: keeps a gradient for negative inputs."""
    return nn.LeakyReLU(slope)


@ACTIVATIONS.register("elu", reference="Clevert et al. 2016", bounds={"alpha": (0.0, None)})
def elu(features: int, *, alpha: float = 1.0) -> nn.Module:
    """x for x > 0 else alpha·(e^x - 1): smooth, negative outputs push mean activations to 0."""
    return nn.ELU(alpha)


@ACTIVATIONS.register("selu", reference="Klambauer et al. 2017")
def selu(features: int) -> nn.Module:
    """Scaled ELU with fixed constants that make activations self-normalizing (with LeCun init)."""
    return nn.SELU()


@ACTIVATIONS.register("gelu", reference="Hendrycks & Gimpel 2016")
def gelu(features: int) -> nn.Module:
    """x·Φ(x): smooth ReLU weighted by the Gaussian CDF."""
    return nn.GELU()
