"""Normalizations against their definitions: the output statistics each one fixes (per batch, per
sample, per group), train vs eval behaviour, and batch renormalization from Ioffe 2017's equations."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trickbench.errors import ConfigError
from trickbench.techniques.norms import NORMS, BatchRenorm


def norm(name: str, layer: nn.Module, features: int, spatial: bool, **params) -> nn.Module:
    torch.manual_seed(0)
    return NORMS.build(NORMS.resolve({"name": name, **params}, "norm"), layer, features, spatial)


def conv_input() -> torch.Tensor:
    return 3 * torch.randn(16, 4, 6, 6, generator=torch.Generator().manual_seed(1)) + 2


def standardized(pre: torch.Tensor, dims, eps: float = 1e-5) -> torch.Tensor:
    """The definition every normalization shares: (x − mean)/√(var + ε) over `dims` (biased var)."""
    mean = pre.mean(dim=dims, keepdim=True)
    return (pre - mean) / (pre.var(dim=dims, unbiased=False, keepdim=True) + eps).sqrt()


def assert_standardized(block: nn.Module, x: torch.Tensor, dims, groups: int | None = None) -> torch.Tensor:
    """The block's output (gain 1, shift 0 at init) is its affine layer's output standardized over
    `dims` — per group of channels when `groups` is given — so it has mean 0 and variance ≈ 1 there."""
    pre, out = block[0](x), block(x)
    if groups:
        expected = standardized(pre.reshape(len(pre), groups, -1), dims).reshape(pre.shape)
    else:
        expected = standardized(pre, dims)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)
    view = out.reshape(len(out), groups, -1) if groups else out
    assert view.mean(dim=dims).abs().max() < 1e-5
    return out


def test_none_is_the_layer_itself():
    layer = nn.Linear(3, 2)
    assert norm("none", layer, 2, False) is layer


@pytest.mark.parametrize("spatial", [False, True])
def test_batch_norm_standardizes_each_channel_over_the_batch_and_uses_running_stats_at_eval(spatial):
    layer = nn.Conv2d(4, 8, 3) if spatial else nn.Linear(4, 8)
    block = norm("batch", layer, 8, spatial)
    x = conv_input() if spatial else 3 * torch.randn(64, 4) + 2
    assert_standardized(block, x, (0, 2, 3) if spatial else 0)
    bn = block[1]
    block.eval()
    pre = layer(x)
    expected = (pre - bn.running_mean.view(1, -1, *[1] * (pre.dim() - 2))) / (bn.running_var + bn.eps).sqrt().view(1, -1, *[1] * (pre.dim() - 2))
    torch.testing.assert_close(block(x), expected)


@pytest.mark.parametrize("spatial", [False, True])
def test_layer_norm_standardizes_each_sample_over_all_its_features_same_at_eval(spatial):
    block = norm("layer", nn.Conv2d(4, 8, 3) if spatial else nn.Linear(4, 8), 8, spatial)
    x = conv_input() if spatial else 3 * torch.randn(64, 4) + 2
    y = assert_standardized(block, x, (1, 2, 3) if spatial else 1)
    block.eval()
    torch.testing.assert_close(block(x), y)


def test_instance_norm_standardizes_each_sample_and_channel_over_space_same_at_eval():
    block = norm("instance", nn.Conv2d(4, 8, 3), 8, True)
    x = conv_input()
    y = assert_standardized(block, x, (2, 3))
    block.eval()
    torch.testing.assert_close(block(x), y)


def test_instance_norm_refuses_a_dense_layer():
    with pytest.raises(ConfigError, match="'norm'.*spatial"):
        norm("instance", nn.Linear(4, 8), 8, False)


@pytest.mark.parametrize("spatial", [False, True])
def test_group_norm_standardizes_each_sample_and_group(spatial):
    block = norm("group", nn.Conv2d(4, 8, 3) if spatial else nn.Linear(4, 8), 8, spatial, groups=4)
    x = conv_input() if spatial else 3 * torch.randn(64, 4) + 2
    y = assert_standardized(block, x, 2, groups=4)  # each group: 2 channels (and their pixels)
    block.eval()
    torch.testing.assert_close(block(x), y)


def test_group_norm_needs_groups_that_divide_the_width():
    with pytest.raises(ConfigError, match="norm.groups.*divisor.*8"):
        norm("group", nn.Linear(4, 8), 8, False, groups=3)


def test_weight_norm_reparametrizes_w_as_g_times_unit_v():
    layer = norm("weight", nn.Linear(5, 3), 3, False)
    g, v = layer.parametrizations.weight.original0, layer.parametrizations.weight.original1
    with torch.no_grad():
        g.copy_(torch.tensor([[2.0], [0.5], [3.0]]))
        v.mul_(7.0)  # the direction, not the length, comes from v
    torch.testing.assert_close(layer.weight, g * v / v.norm(dim=1, keepdim=True))
    torch.testing.assert_close(layer.weight.norm(dim=1), torch.tensor([2.0, 0.5, 3.0]))
    layer(torch.randn(4, 5)).sum().backward()
    assert g.grad is not None and v.grad is not None


# --- batch renormalization (Ioffe 2017, Algorithm 1) -------------------------------------------


def renorm_and_batchnorm(spatial: bool, **limits) -> tuple[BatchRenorm, nn.Module, torch.Tensor]:
    renorm = BatchRenorm(4, **limits)
    batchnorm = (nn.BatchNorm2d if spatial else nn.BatchNorm1d)(4)
    with torch.no_grad():
        for module in (renorm, batchnorm):
            module.weight.copy_(torch.tensor([1.0, 2.0, 0.5, -1.0]))
            module.bias.copy_(torch.tensor([0.0, 1.0, -2.0, 0.3]))
    x = conv_input() if spatial else 3 * torch.randn(32, 4) + 2
    return renorm, batchnorm, x


@pytest.mark.parametrize("spatial", [False, True])
def test_batch_renorm_with_r_1_and_d_0_is_batch_norm_forward_and_backward(spatial):
    renorm, batchnorm, x = renorm_and_batchnorm(spatial, rmax=1.0, dmax=0.0)
    upstream = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
    grads = []
    for module in (renorm, batchnorm):
        inputs = x.clone().requires_grad_()
        out = module(inputs)
        (out * upstream).sum().backward()
        grads.append((out.detach(), inputs.grad, module.weight.grad, module.bias.grad))
    for ours, torchs in zip(*grads):
        torch.testing.assert_close(ours, torchs, atol=1e-5, rtol=1e-5)


def test_batch_renorm_is_batch_norm_when_the_running_statistics_are_the_batch_statistics():
    """r = σ_B/σ = 1 and d = (μ_B − μ)/σ = 0 without any clipping."""
    renorm, batchnorm, x = renorm_and_batchnorm(False)
    with torch.no_grad():
        renorm.running_mean.copy_(x.mean(0))
        renorm.running_std.copy_((x.var(0, unbiased=False) + renorm.eps).sqrt())
    torch.testing.assert_close(renorm(x), batchnorm(x), atol=1e-5, rtol=1e-5)


def test_batch_renorm_trains_on_what_inference_computes_and_updates_its_statistics():
    """Unclipped, (x − μ_B)/σ_B·r + d = (x − μ)/σ: the training output equals the eval output of
    the statistics before the update; then μ ← μ + α(μ_B − μ), σ ← σ + α(σ_B − σ)."""
    renorm, _, x = renorm_and_batchnorm(False, rmax=100.0, dmax=100.0, momentum=0.25)
    mu, sigma = torch.tensor([1.5, 2.5, 1.0, 2.0]), torch.tensor([2.0, 4.0, 3.0, 2.5])
    with torch.no_grad():
        renorm.running_mean.copy_(mu)
        renorm.running_std.copy_(sigma)
    renorm.eval()
    at_eval = renorm(x)
    renorm.train()
    torch.testing.assert_close(renorm(x), at_eval, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(at_eval, renorm.weight * (x - mu) / sigma + renorm.bias)
    batch_mean, batch_std = x.mean(0), (x.var(0, unbiased=False) + renorm.eps).sqrt()
    torch.testing.assert_close(renorm.running_mean, mu + 0.25 * (batch_mean - mu))
    torch.testing.assert_close(renorm.running_std, sigma + 0.25 * (batch_std - sigma))


def test_batch_renorm_clips_r_and_d():
    renorm, _, x = renorm_and_batchnorm(False, rmax=2.0, dmax=0.5)
    with torch.no_grad():
        renorm.running_mean.fill_(-50.0)  # d = (μ_B − μ)/σ ≫ dmax
        renorm.running_std.fill_(0.01)  # r = σ_B/σ ≫ rmax
    batch_mean, batch_std = x.mean(0), (x.var(0, unbiased=False) + renorm.eps).sqrt()
    expected = renorm.weight * ((x - batch_mean) / batch_std * 2.0 + 0.5) + renorm.bias
    torch.testing.assert_close(renorm(x), expected)


def test_batch_renorm_r_and_d_carry_no_gradient():
    """With r, d treated as constants, ∂y/∂x is r times batch norm's: both see the same x̂ path."""
    renorm, batchnorm, x = renorm_and_batchnorm(False, rmax=10.0, dmax=10.0)
    with torch.no_grad():
        renorm.running_mean.fill_(0.5)
        renorm.running_std.fill_(2.0)
    r = ((x.var(0, unbiased=False) + renorm.eps).sqrt() / 2.0)
    upstream = torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
    ours, theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    (renorm(ours) * upstream).sum().backward()
    (batchnorm(theirs) * upstream * r).sum().backward()
    torch.testing.assert_close(ours.grad, theirs.grad, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("spatial", [False, True])
def test_batch_renorm_gradcheck(spatial):
    """In float64 with r, d pinned at their clip limits (constant, so the forward pass is exactly
    the function autograd differentiates) and no statistics update between evaluations."""
    renorm = BatchRenorm(3, rmax=1.5, dmax=0.25, momentum=0.0).double()
    with torch.no_grad():
        renorm.running_mean.fill_(-20.0)
        renorm.running_std.fill_(0.05)
    shape = (6, 3, 2, 2) if spatial else (8, 3)
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(4)).requires_grad_()
    gamma, beta = (torch.rand(3, dtype=torch.float64, generator=torch.Generator().manual_seed(s)).requires_grad_() for s in (5, 6))
    forward = lambda x, gamma, beta: torch.func.functional_call(renorm, {"weight": gamma, "bias": beta}, (x,))
    assert torch.autograd.gradcheck(forward, (x, gamma, beta))


def test_batch_renorm_block_wraps_the_layer():
    block = norm("batch_renorm", nn.Conv2d(4, 8, 3), 8, True, rmax=2.0, dmax=1.0)
    assert isinstance(block[1], BatchRenorm) and (block[1].rmax, block[1].dmax, block[1].momentum) == (2.0, 1.0, 0.01)
    assert block(conv_input()).shape == (16, 8, 4, 4)
