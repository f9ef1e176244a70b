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
    """Scaled ELU with fixed constants that make activations self-normalizing."""
    return nn.SELU()


@ACTIVATIONS.register("gelu", reference="Hendrycks & Gimpel 2016")
def gelu(features: int) -> nn.Module:
    """x·Φ(x): smooth ReLU weighted by the Gaussian CDF."""
    return nn.GELU()


@ACTIVATIONS.register("prelu", reference="He et al. 2015, Delving Deep into Rectifiers", bounds={"init": (0.0, 1.0)})
def prelu(features: int, *, init: float = 0.25) -> nn.Module:
    """Leaky ReLU whose negative slope is learned, one per unit (per channel in conv nets)."""
    return nn.PReLU(features, init)


@ACTIVATIONS.register("silu", reference="Elfwing et al. 2018; Ramachandran et al. 2017 (Swish)")
def silu(features: int) -> nn.Module:
    """x·σ(x) (Swish-1): smooth, non-monotonic just below 0."""
    return nn.SiLU()


@ACTIVATIONS.register("softplus", reference="Dugas et al. 2001", bounds={"beta": (1e-3, None)})
def softplus(features: int, *, beta: float = 1.0) -> nn.Module:
    """log(1 + e^(beta·x)) / beta: a smooth ReLU that is never flat."""
    return nn.Softplus(beta)


class Maxout(nn.Module):
    """The maximum over `pieces` linear pieces per unit: input N×(F·k)[×H×W] → output N×F[×H×W].

    The k pieces of unit j are the k consecutive channels j·k … j·k+k−1 of the affine layer
    before it, which the model builder widens by `expansion` = k (Goodfellow et al. 2013)."""

    def __init__(self, pieces: int):
        super().__init__()
        self.expansion = pieces

    def forward(self, x):
        return x.unflatten(1, (-1, self.expansion)).amax(dim=2)

    def extra_repr(self) -> str:
        return f"pieces={self.expansion}"


@ACTIVATIONS.register("maxout", reference="Goodfellow et al. 2013, Maxout Networks", bounds={"pieces": (2, 8)})
def maxout(features: int, *, pieces: int = 2) -> nn.Module:
    """max over k affine pieces per unit: a learned convex piecewise-linear activation."""
    return Maxout(pieces)
