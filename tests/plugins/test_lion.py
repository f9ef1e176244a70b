"""The Lion plugin (examples/lion.py) against its definition, Chen et al. 2023, "Symbolic
Discovery of Optimization Algorithms", Algorithm 2, for a parameter θ with gradient g and
momentum m (m₀ = 0):

    c ← β1·m + (1 − β1)·g;   θ ← θ − lr·(sign(c) + λ·θ);   m ← β2·m + (1 − β2)·g

Expected values are worked out by hand from these lines (shown in the comments) or follow from
them in closed form (first step = signSGD; same-sign gradients move every coordinate by exactly lr
per step; zero gradients only decay), never by re-running the plugin's own steps."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import REPO
from plugin_helpers import LION
from trickbench.plugins import load_plugin, unload_all
from trickbench.techniques.optimizers import OPTIMIZERS


@pytest.fixture(scope="module")
def lion():
    """The plugin's module, loaded as a config would load it (and unloaded after these tests)."""
    unload_all()
    yield load_plugin(str(LION), REPO).module
    unload_all()


def test_three_steps_worked_out_by_hand(lion):
    """lr 0.1, β1 0.9, β2 0.99, λ 0.5 on θ = (1, −2, 0.5):
    step 1, g = (0.5, −1, 0):   c = 0.1·g = (0.05, −0.1, 0), sign (1, −1, 0)
            θ = θ − 0.1·(sign + 0.5·θ) = (1 − 0.15, −2 + 0.2, 0.5 − 0.025) = (0.85, −1.8, 0.475)
            m = 0.01·g = (0.005, −0.01, 0)
    step 2, g = (−0.01, −1, 2): c = 0.9·m + 0.1·g = (0.0035, −0.109, 0.2), sign (1, −1, 1) — the
            first coordinate follows the momentum, against its gradient
            θ = (0.85 − 0.1·1.425, −1.8 + 0.1·1.9, 0.475 − 0.1·1.2375) = (0.7075, −1.61, 0.35125)
            m = 0.99·m + 0.01·g = (0.00485, −0.0199, 0.02)
    step 3, g = (−0.1, 0, 0):   c = (0.004365 − 0.01, −0.01791, 0.018), sign (−1, −1, 1) — the second
            coordinate moves on momentum alone
            θ = (0.7075 + 0.1·0.64625, −1.61 + 0.1·1.805, 0.35125 − 0.1·1.175625)
              = (0.772125, −1.4295, 0.2336875)"""
    theta = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64, requires_grad=True)
    optimizer = lion.Lion([theta], lr=0.1, betas=(0.9, 0.99), weight_decay=0.5)
    steps = [([0.5, -1.0, 0.0], [0.85, -1.8, 0.475]),
             ([-0.01, -1.0, 2.0], [0.7075, -1.61, 0.35125]),
             ([-0.1, 0.0, 0.0], [0.772125, -1.4295, 0.2336875])]
    for gradient, expected in steps:
        theta.grad = torch.tensor(gradient, dtype=torch.float64)
        optimizer.step()
        assert theta.detach().tolist() == pytest.approx(expected, abs=1e-12)


coordinates = st.lists(st.floats(-10, 10, allow_nan=False), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(theta=coordinates, lr=st.floats(1e-4, 1.0), beta1=st.floats(0.0, 0.99), beta2=st.floats(0.0, 0.999),
       steps=st.integers(1, 5), data=st.data())
def test_same_sign_gradients_move_every_coordinate_by_exactly_lr_per_step(lion, theta, lr, beta1, beta2, steps, data):
    """With λ = 0 and gradients whose sign stays fixed per coordinate (any magnitudes), m and g share
    that sign, so c does too: each step moves every coordinate by exactly lr against it, whatever
    the gradient's size. The first step alone is signSGD (m₀ = 0)."""
    signs = data.draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=len(theta), max_size=len(theta)))
    start = torch.tensor(theta, dtype=torch.float64)
    param = start.clone().requires_grad_(True)
    optimizer = lion.Lion([param], lr=lr, betas=(beta1, beta2), weight_decay=0.0)
    for _ in range(steps):
        magnitudes = data.draw(st.lists(st.floats(1e-3, 1e3), min_size=len(theta), max_size=len(theta)))
        param.grad = torch.tensor([s * m for s, m in zip(signs, magnitudes)], dtype=torch.float64)
        before = param.detach().clone()
        optimizer.step()
        moved = (param.detach() - before).tolist()
        assert moved == pytest.approx([-lr * s for s in signs], rel=1e-9, abs=1e-12)
    assert param.detach().tolist() == pytest.approx([t - steps * lr * s for t, s in zip(theta, signs)], rel=1e-9, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(theta=coordinates, lr=st.floats(1e-4, 0.5), decay=st.floats(0.0, 1.0), steps=st.integers(1, 5))
def test_zero_gradients_only_decay(lion, theta, lr, decay, steps):
    """g = 0 from m = 0 gives c = 0 and sign(c) = 0: θ_k = (1 − lr·λ)^k·θ₀, the decoupled decay alone."""
    param = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    optimizer = lion.Lion([param], lr=lr, betas=(0.9, 0.99), weight_decay=decay)
    for _ in range(steps):
        param.grad = torch.zeros_like(param)
        optimizer.step()
    assert param.detach().tolist() == pytest.approx([t * (1 - lr * decay) ** steps for t in theta], rel=1e-9, abs=1e-12)


def test_registered_with_the_papers_defaults_and_bounds(lion):
    entry = OPTIMIZERS.get("lion")
    assert dict(entry.defaults) == {"lr": 1e-4, "beta1": 0.9, "beta2": 0.99, "weight_decay": 0.0}
    assert entry.bounds["lr"] == (0.0, None) and entry.bounds["beta2"] == (0.0, 1.0)
    assert entry.reference.startswith("Chen et al. 2023") and entry.plugin.file == str(LION)


def test_the_registered_builder_decays_weight_matrices_only(lion):
    """As the catalogue's adamw: λ acts on weights by role (the model's parameter groups), never on
    biases. With zero gradients a step multiplies the weight by 1 − lr·λ = 1 − 0.1·0.5 and leaves
    the bias."""
    layer = torch.nn.Linear(3, 2)
    weight, bias = layer.weight.detach().clone(), layer.bias.detach().clone()
    technique = OPTIMIZERS.resolve({"name": "lion", "lr": 0.1, "weight_decay": 0.5}, "optimizer")
    optimizer = OPTIMIZERS.build(technique, layer)
    for p in layer.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    assert torch.allclose(layer.weight, 0.95 * weight) and torch.equal(layer.bias, bias)


def test_steps_with_the_trainers_closure_and_resumes_from_its_state(lion):
    """The training loop steps every optimizer as step(closure); a checkpoint is its state_dict."""
    torch.manual_seed(0)
    target = torch.randn(4, dtype=torch.float64)

    def run(steps, state=None):
        param = torch.zeros(4, dtype=torch.float64, requires_grad=True)
        if state is not None:
            param.data.copy_(state["param"])
        optimizer = lion.Lion([param], lr=0.05)
        if state is not None:
            optimizer.load_state_dict(state["optimizer"])
        calls = []

        def closure():
            calls.append(1)
            param.grad = None
            loss = ((param - target) ** 2).sum()
            loss.backward()
            return loss

        losses = [optimizer.step(closure).item() for _ in range(steps)]
        return param, optimizer, losses, len(calls)

    param, optimizer, losses, calls = run(3)
    assert calls == 3 and losses[0] == pytest.approx(float((target ** 2).sum()))
    state = {"param": param.detach().clone(), "optimizer": optimizer.state_dict()}
    straight, _, _, _ = run(5)
    resumed, _, _, _ = run(2, state)
    assert torch.equal(straight, resumed) and not torch.equal(straight, torch.zeros(4, dtype=torch.float64))
    assert math.isfinite(losses[-1]) and losses[-1] < losses[0]
