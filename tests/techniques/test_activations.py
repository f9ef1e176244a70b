"""Activations against their definitions: values and derivatives at chosen points, PReLU's
learned per-channel slope, and maxout's shapes, maximum and gradient."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from trickbench.models import Parts, build_model
from trickbench.registry import Technique
from trickbench.techniques.activations import ACTIVATIONS, Maxout

SELU_LAMBDA, SELU_ALPHA = 1.0507009873554805, 1.6732632423543772  # Klambauer et al. 2017, eq. 14
PHI = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # standard normal CDF
PDF = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)
SIG = lambda x: 1 / (1 + math.exp(-x))

# (name, parameters, x, f(x), f'(x)) — each value from the activation's formula
POINTS = [
    ("relu", {}, 2.0, 2.0, 1.0),
    ("relu", {}, -1.5, 0.0, 0.0),
    ("leaky_relu", {}, -2.0, -0.02, 0.01),
    ("leaky_relu", {"slope": 0.2}, -2.0, -0.4, 0.2),
    ("leaky_relu", {}, 3.0, 3.0, 1.0),
    ("prelu", {}, -4.0, -1.0, 0.25),
    ("prelu", {"init": 0.1}, 2.0, 2.0, 1.0),
    ("elu", {}, -1.0, math.exp(-1) - 1, math.exp(-1)),
    ("elu", {"alpha": 2.0}, -0.5, 2 * (math.exp(-0.5) - 1), 2 * math.exp(-0.5)),
    ("elu", {}, 1.5, 1.5, 1.0),
    ("selu", {}, -1.0, SELU_LAMBDA * SELU_ALPHA * (math.exp(-1) - 1), SELU_LAMBDA * SELU_ALPHA * math.exp(-1)),
    ("selu", {}, 2.0, 2 * SELU_LAMBDA, SELU_LAMBDA),
    ("sigmoid", {}, 0.0, 0.5, 0.25),
    ("sigmoid", {}, 2.0, SIG(2.0), SIG(2.0) * (1 - SIG(2.0))),
    ("tanh", {}, 0.0, 0.0, 1.0),
    ("tanh", {}, 1.0, math.tanh(1.0), 1 - math.tanh(1.0) ** 2),
    ("gelu", {}, 1.0, PHI(1.0), PHI(1.0) + PDF(1.0)),
    ("gelu", {}, -1.0, -PHI(-1.0), PHI(-1.0) - PDF(-1.0)),
    ("silu", {}, 0.0, 0.0, 0.5),
    ("silu", {}, 2.0, 2 * SIG(2.0), SIG(2.0) * (1 + 2 * (1 - SIG(2.0)))),
    ("softplus", {}, 0.0, math.log(2), 0.5),
    ("softplus", {"beta": 2.0}, 1.0, math.log1p(math.exp(2.0)) / 2, SIG(2.0)),
]


@pytest.mark.parametrize("name, params, x, value, derivative", POINTS, ids=lambda v: str(v) if isinstance(v, str) else None)
def test_value_and_derivative_at_a_chosen_point(name, params, x, value, derivative):
    activation = ACTIVATIONS.build(ACTIVATIONS.resolve({"name": name, **params}, "activation"), 1).double()
    point = torch.tensor([[x]], dtype=torch.float64, requires_grad=True)
    out = activation(point)
    out.sum().backward()
    assert out.item() == pytest.approx(value, abs=1e-9)
    assert point.grad.item() == pytest.approx(derivative, abs=1e-9)


def test_every_activation_is_in_the_table_of_points():
    assert {name for name, *_ in POINTS} | {"maxout"} == set(ACTIVATIONS.names())


def test_prelu_learns_one_slope_per_channel():
    """Per channel of a conv map (and per feature of a dense layer): the slope's gradient is the
    sum of the negative inputs of that channel, as ∂(a·x)/∂a = x for x < 0."""
    prelu = ACTIVATIONS.build(ACTIVATIONS.resolve("prelu", "activation"), 3)
    assert prelu.weight.shape == (3,) and torch.all(prelu.weight == 0.25)
    x = torch.randn(4, 3, 5, 5)
    prelu(x).sum().backward()
    expected = x.clamp(max=0).sum(dim=(0, 2, 3))
    torch.testing.assert_close(prelu.weight.grad, expected)


def test_maxout_takes_the_max_of_consecutive_pieces():
    maxout = Maxout(3)
    x = torch.tensor([[1.0, 5.0, 2.0, -1.0, -3.0, -2.0]])  # unit 0: pieces (1, 5, 2); unit 1: (−1, −3, −2)
    torch.testing.assert_close(maxout(x), torch.tensor([[5.0, -1.0]]))


@pytest.mark.parametrize("shape", [(4, 12), (2, 12, 3, 5)])
def test_maxout_shapes_dense_and_conv(shape):
    maxout = ACTIVATIONS.build(ACTIVATIONS.resolve({"name": "maxout", "pieces": 3}, "activation"), 4)
    x = torch.randn(*shape)
    out = maxout(x)
    assert out.shape == (shape[0], 4, *shape[2:])
    torch.testing.assert_close(out, x.view(shape[0], 4, 3, *shape[2:]).max(dim=2).values)


def test_maxout_gradient_by_gradcheck():
    """Inputs drawn without ties, so the max is differentiable where it is checked."""
    x = torch.randperm(24, dtype=torch.float64).view(2, 12).div(7).requires_grad_()
    assert torch.autograd.gradcheck(Maxout(3), (x,))


@pytest.mark.parametrize("model", [{"name": "mlp", "depth": 2, "width": 6}, {"name": "cnn", "depth": 2, "width": 4}])
def test_maxout_widens_the_affine_layer_before_it(model):
    """The model builder gives each hidden affine layer k·width outputs; blocks still output width."""
    from trickbench.models import MODELS

    parts = Parts((3, 8, 8), 10, Technique("maxout", (("pieces", 3),)), Technique("none"))
    net = build_model(MODELS.resolve(model, "model"), parts)
    affine = [m for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    widths = [6, 6] if model["name"] == "mlp" else [4, 8]
    assert [layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels for layer in affine[:-1]] == [3 * w for w in widths]
    assert [layer.in_features if isinstance(layer, nn.Linear) else layer.in_channels for layer in affine[1:]] == widths
    assert net(torch.randn(2, 3, 8, 8)).shape == (2, 10)
