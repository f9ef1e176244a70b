"""Initializations against their formulas: on large layers the sample std is the formula's within
a few percent, orthogonal weights satisfy WᵀW = gain²·I, and LSUV leaves unit output variance."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from trickbench.registry import Technique
from trickbench.techniques.activations import ACTIVATIONS
from trickbench.techniques.inits import INITS, InitContext, activation_gain, affine_layers, second_moment_gain
from trickbench.techniques.norms import NORMS

RELU = ACTIVATIONS.resolve("relu", "activation")
TANH = ACTIVATIONS.resolve("tanh", "activation")


def init(name: str, model: nn.Module, activation: Technique = RELU, batch: torch.Tensor | None = None, **params) -> nn.Module:
    torch.manual_seed(0)
    INITS.build(INITS.resolve({"name": name, **params}, "init"), model, InitContext(activation, batch))
    return model


def large_layers() -> nn.Sequential:
    """A dense layer with fan_in 1000, fan_out 600, and a conv layer with fan_in 64·9, fan_out 128·9."""
    return nn.Sequential(nn.Linear(1000, 600), nn.Conv2d(64, 128, 3))


# std of each scheme from its formula, given (fan_in, fan_out, rows, gain); ReLU's gain is √2
STD = {
    "small_gaussian": lambda fi, fo, rows, g: 0.01,
    "large_gaussian": lambda fi, fo, rows, g: 1.0,
    "xavier_normal": lambda fi, fo, rows, g: math.sqrt(2 / (fi + fo)),  # Glorot & Bengio: no gain
    "xavier_uniform": lambda fi, fo, rows, g: math.sqrt(2 / (fi + fo)),  # U(−b, b) has std b/√3
    "he_normal": lambda fi, fo, rows, g: g / math.sqrt(fi),
    "he_uniform": lambda fi, fo, rows, g: g / math.sqrt(fi),
    "lecun_normal": lambda fi, fo, rows, g: 1 / math.sqrt(fi),
    # the rows×fan_in matrix has min(rows, fan_in) orthonormal rows or columns, scaled by g
    "orthogonal": lambda fi, fo, rows, g: g / math.sqrt(max(fi, rows)),
}


@pytest.mark.parametrize("name", sorted(STD))
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_sample_std_matches_the_formula_on_large_layers(name, activation):
    activation = ACTIVATIONS.resolve(activation, "activation")
    gain = activation_gain(activation)
    model = init(name, large_layers(), activation)
    for layer, (fan_in, fan_out, rows) in zip(model, [(1000, 600, 600), (64 * 9, 128 * 9, 128)]):
        expected = STD[name](fan_in, fan_out, rows, gain)
        assert layer.weight.std().item() == pytest.approx(expected, rel=0.03)
        assert layer.weight.mean().item() == pytest.approx(0.0, abs=0.03 * expected)
        assert torch.all(layer.bias == 0)


@pytest.mark.parametrize("name, bound", [("xavier_uniform", lambda fi, fo: math.sqrt(6 / (fi + fo))),
                                          ("he_uniform", lambda fi, fo: math.sqrt(2) * math.sqrt(3 / fi))])
def test_uniform_schemes_fill_their_interval(name, bound):
    layer = init(name, large_layers())[0]
    b = bound(1000, 600)
    assert layer.weight.abs().max().item() <= b and layer.weight.abs().max().item() > 0.99 * b


@pytest.mark.parametrize("shape", [(300, 500), (500, 300)])
def test_orthogonal_weights_are_orthonormal_times_the_gain(shape):
    """WᵀW = gain²·I for a tall matrix, W·Wᵀ = gain²·I for a wide one (semi-orthogonal)."""
    layer = init("orthogonal", nn.Linear(shape[1], shape[0]), TANH)
    w = layer.weight.detach().double()
    gram = w.T @ w if shape[0] >= shape[1] else w @ w.T
    torch.testing.assert_close(gram, (5 / 3) ** 2 * torch.eye(min(shape), dtype=torch.float64), atol=1e-5, rtol=0)


def test_zeros_makes_every_unit_of_a_layer_identical():
    model = init("zeros", nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3)))
    assert all(torch.all(layer.weight == 0) and torch.all(layer.bias == 0) for layer in affine_layers(model))


def test_default_leaves_pytorchs_own_init():
    torch.manual_seed(1)
    model = nn.Linear(7, 3)
    before = [p.clone() for p in model.parameters()]
    init("default", model)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


@pytest.mark.parametrize("activation, gain", [("relu", math.sqrt(2)), ("tanh", 5 / 3), ("sigmoid", 1.0), ("selu", 0.75)])
def test_gain_of_tabulated_activations_is_pytorchs(activation, gain):
    assert activation_gain(ACTIVATIONS.resolve(activation, "activation")) == pytest.approx(gain)


@pytest.mark.parametrize("level, slope", [({"name": "leaky_relu", "slope": 0.2}, 0.2), ({"name": "prelu", "init": 0.25}, 0.25)])
def test_gain_of_leaky_rectifiers_is_sqrt_2_over_1_plus_slope_squared(level, slope):
    assert activation_gain(ACTIVATIONS.resolve(level, "activation")) == pytest.approx(math.sqrt(2 / (1 + slope**2)))


def test_second_moment_gain_reproduces_he_for_relu():
    """1/√E[relu(z)²] = √2 exactly; the Monte-Carlo estimate is within its 0.3% error."""
    assert second_moment_gain(RELU) == pytest.approx(math.sqrt(2), rel=0.01)
    assert second_moment_gain(ACTIVATIONS.resolve({"name": "maxout", "pieces": 2}, "activation")) == pytest.approx(1.0, rel=0.01)


def test_he_normal_keeps_the_variance_of_a_deep_relu_net():
    """The purpose of the gain: the pre-activation variance neither grows nor shrinks with depth."""
    layers = [nn.Linear(1000, 1000) for _ in range(6)]
    model = init("he_normal", nn.Sequential(*[m for layer in layers for m in (layer, nn.ReLU())]))
    x = torch.relu(torch.randn(1000, 1000))
    second_moments = []
    with torch.no_grad():
        for layer in layers:
            x = layer(x)
            second_moments.append(x.pow(2).mean().item())
            x = torch.relu(x)
    assert second_moments[-1] == pytest.approx(second_moments[0], rel=0.3)


def test_init_reaches_weight_normalized_layers():
    """Through the parametrization: the effective weight has the formula's std, and g = ‖v‖ per unit."""
    layer = NORMS.build(NORMS.resolve("weight", "norm"), nn.Linear(1000, 600), 600, False, 0)
    init("he_normal", layer)
    assert layer.weight.std().item() == pytest.approx(math.sqrt(2) / math.sqrt(1000), rel=0.03)
    g, v = layer.parametrizations.weight.original0, layer.parametrizations.weight.original1
    torch.testing.assert_close(g.squeeze(1), v.norm(dim=1))


def deep_tanh_net(norm: str = "none") -> nn.Sequential:
    blocks = []
    for fan_in, fan_out in [(48, 64), (64, 64), (64, 32)]:
        blocks += [NORMS.build(NORMS.resolve(norm, "norm"), nn.Linear(fan_in, fan_out), fan_out, False, 0), nn.Tanh(), nn.Dropout(0.5)]
    return nn.Sequential(nn.Flatten(), *blocks, nn.Linear(32, 10))


def test_lsuv_gives_every_layer_unit_output_variance_on_the_batch():
    batch = 3 * torch.randn(256, 3, 4, 4) + 1
    model = init("lsuv", deep_tanh_net(), TANH, batch)
    outputs = []
    hooks = [layer.register_forward_hook(lambda m, i, o: outputs.append(o.var().item())) for layer in affine_layers(model)]
    model.train()
    for module in model.modules():  # LSUV measures with dropout off
        if isinstance(module, nn.Dropout):
            module.eval()
    with torch.no_grad():
        model(batch)
    for hook in hooks:
        hook.remove()
    assert len(outputs) == 4 and all(abs(v - 1) < 0.1 for v in outputs), outputs


def test_lsuv_starts_orthonormal_and_only_rescales():
    batch = torch.randn(256, 3, 4, 4)
    layer = next(affine_layers(init("lsuv", deep_tanh_net(), TANH, batch)))
    w = layer.weight.detach().double()
    gram = w.T @ w  # 64×48: tall, so WᵀW is a multiple of I
    torch.testing.assert_close(gram, gram[0, 0] * torch.eye(48, dtype=torch.float64), atol=1e-5, rtol=0)


def test_lsuv_leaves_no_trace_in_running_statistics_or_modes():
    model = deep_tanh_net("batch")
    model.eval()
    init("lsuv", model, TANH, torch.randn(64, 3, 4, 4))
    bn = next(m for m in model.modules() if isinstance(m, nn.BatchNorm1d))
    assert torch.all(bn.running_mean == 0) and torch.all(bn.running_var == 1) and bn.num_batches_tracked == 0
    assert not any(m.training for m in model.modules())


def test_lsuv_needs_a_batch():
    with pytest.raises(ValueError, match="batch"):
        init("lsuv", deep_tanh_net(), TANH, None)
