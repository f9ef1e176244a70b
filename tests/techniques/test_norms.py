"""Normalizations against their definitions: the output statistics each one fixes (per batch, per
sample, per group), train vs eval behaviour, and batch renormalization from Ioffe 2017's equations
and its relaxation schedule (batch norm first, the limits relaxed over a run's length)."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from technique_helpers import tiny_trainer
from trickbench.errors import ConfigError
from trickbench.models import MODELS, Parts, build_model
from trickbench.techniques.activations import ACTIVATIONS
from trickbench.techniques.norms import NORMS, BatchRenorm


def norm(name: str, layer: nn.Module, features: int, spatial: bool, total_steps: int = 0, **params) -> nn.Module:
    torch.manual_seed(0)
    return NORMS.build(NORMS.resolve({"name": name, **params}, "norm"), layer, features, spatial, total_steps)


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
    """Ioffe & Szegedy 2015, Alg. 2: one training batch moves the running statistics from (0, 1)
    by momentum 0.1 towards the batch's mean and *unbiased* variance; inference standardizes with
    those, (x − μ)/√(σ² + ε)."""
    layer = nn.Conv2d(4, 8, 3) if spatial else nn.Linear(4, 8)
    block = norm("batch", layer, 8, spatial)
    x = conv_input() if spatial else 3 * torch.randn(64, 4) + 2
    dims = (0, 2, 3) if spatial else 0
    assert_standardized(block, x, dims)
    with torch.no_grad():
        pre = layer(x)
    running_mean = 0.1 * pre.mean(dims)
    running_var = 0.9 + 0.1 * pre.var(dims, unbiased=True)
    bn = block[1]
    torch.testing.assert_close(bn.running_mean, running_mean)
    torch.testing.assert_close(bn.running_var, running_var)
    block.eval()
    channel = lambda v: v.view(1, -1, *[1] * (pre.dim() - 2))
    torch.testing.assert_close(block(x), (pre - channel(running_mean)) / (channel(running_var) + 1e-5).sqrt())


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


# --- batch renormalization's relaxation (Ioffe 2017, §4) ----------------------------------------


def test_first_forward_of_a_cnn_under_batch_renorm_is_batch_norm():
    """At step 0 the running statistics are (0, 1), nothing like the data's: with the paper's
    start (r_max = 1, d_max = 0) every batch-renorm layer of a 3-layer CNN standardizes its
    input over the batch exactly as batch norm does, so each channel's output has std ≈ 1
    (at full strength, r_max = 3, d_max = 5, it would be r·x̂ + d with r, d clipped: std up to 3)."""
    torch.manual_seed(0)
    parts = Parts((3, 16, 16), 10, ACTIVATIONS.resolve("relu", "activation"), NORMS.resolve("batch_renorm", "norm"),
                  total_steps=1000)
    model = build_model(MODELS.resolve({"name": "cnn", "depth": 3, "width": 8}, "model"), parts).train()
    seen = []
    for module in model.modules():
        if isinstance(module, BatchRenorm):
            module.register_forward_hook(lambda m, inputs, output: seen.append((inputs[0].detach(), output.detach())))
    model(torch.rand(32, 3, 16, 16, generator=torch.Generator().manual_seed(1)))
    assert len(seen) == 3
    for inputs, output in seen:
        torch.testing.assert_close(output, standardized(inputs, (0, 2, 3)), atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(output.std(dim=(0, 2, 3), unbiased=False), torch.ones(output.shape[1]), atol=1e-3, rtol=0)


def far_statistics(renorm: BatchRenorm) -> None:
    """Running statistics so far from any batch's that r and d always hit their limits (+r_max, +d_max)."""
    with torch.no_grad():
        renorm.running_mean.fill_(-50.0)
        renorm.running_std.fill_(0.01)


#: the paper's schedule at its default fractions (0.04, 0.27, 0.15) on a 1000-step run: batch norm
#: up to step 40; r_max from 1 to 3 over steps 40…310, d_max from 0 to 5 over steps 40…190
RELAXED = [(0, 1.0, 0.0), (40, 1.0, 0.0), (41, 1 + 2 / 270, 5 / 150), (115, 1 + 2 * 75 / 270, 2.5),
           (190, 1 + 2 * 150 / 270, 5.0), (310, 3.0, 5.0), (999, 3.0, 5.0), (5000, 3.0, 5.0)]


@pytest.mark.parametrize("step, rmax, dmax", RELAXED)
def test_batch_renorm_limits_follow_the_relaxation_schedule(step, rmax, dmax):
    block = norm("batch_renorm", nn.Linear(4, 4), 4, False, total_steps=1000)
    renorm = block[1]
    far_statistics(renorm)
    renorm.num_batches_tracked.fill_(step)
    x = 3 * torch.randn(32, 4, generator=torch.Generator().manual_seed(2)) + 2
    with torch.no_grad():
        pre = block[0](x)
    expected = standardized(pre, 0) * rmax + dmax  # r and d at their limits; gain 1, shift 0
    torch.testing.assert_close(block(x), expected, atol=1e-5, rtol=1e-5)
    assert renorm.num_batches_tracked.item() == step + 1


def test_batch_renorm_parameters_set_the_schedule_and_the_final_limits():
    """relax_start 0.1, rmax_ramp 0.2, dmax_ramp 0.5 of 100 steps: batch norm up to step 10,
    r_max = 2 reached at 30, d_max = 1 at 60; all zero: the final limits from the first step."""
    expectations = {
        (0.1, 0.2, 0.5): [(10, 1.0, 0.0), (20, 1.5, 0.2), (30, 2.0, 0.4), (60, 2.0, 1.0)],
        (0.0, 0.0, 0.0): [(0, 2.0, 1.0)],
    }
    x = 3 * torch.randn(32, 4, generator=torch.Generator().manual_seed(2)) + 2
    for (start, rmax_ramp, dmax_ramp), points in expectations.items():
        for step, rmax, dmax in points:
            block = norm("batch_renorm", nn.Linear(4, 4), 4, False, total_steps=100, rmax=2.0, dmax=1.0,
                         relax_start=start, rmax_ramp=rmax_ramp, dmax_ramp=dmax_ramp)
            far_statistics(block[1])
            block[1].num_batches_tracked.fill_(step)
            with torch.no_grad():
                pre = block[0](x)
            torch.testing.assert_close(block(x), standardized(pre, 0) * rmax + dmax, atol=1e-5, rtol=1e-5)


def test_batch_renorm_resumes_its_schedule_from_its_state_dict():
    """The step count is a buffer: a layer loaded from another's state continues bit for bit,
    where one that restarted its count would clip differently."""
    make = lambda: norm("batch_renorm", nn.Linear(4, 4), 4, False, total_steps=20)  # start 1, r ramp 5, d ramp 3
    batches = [3 * torch.randn(16, 4, generator=torch.Generator().manual_seed(s)) + s for s in range(6)]
    trained = make()
    for x in batches[:4]:
        trained(x)
    resumed, restarted = make(), make()
    resumed.load_state_dict(io_roundtrip(trained.state_dict()))
    restarted.load_state_dict({k: v for k, v in trained.state_dict().items() if not k.endswith("num_batches_tracked")},
                              strict=False)
    assert resumed[1].num_batches_tracked.item() == 4 and restarted[1].num_batches_tracked.item() == 0
    expected = trained(batches[4])
    assert torch.equal(resumed(batches[4]), expected)
    assert not torch.allclose(restarted(batches[4]), expected)


def io_roundtrip(state: dict) -> dict:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_the_trainer_gives_batch_renorm_the_runs_length_and_it_counts_its_steps():
    """Tiny run: 160 training images in batches of 32 for 2 epochs, T = 10 steps: relaxation from
    step round(0.4) = 0, r_max over round(2.7) = 3 steps, d_max over round(1.5) = 2."""
    trainer = tiny_trainer({"name": "mlp", "depth": 1, "width": 16}, epochs=2, norm="batch_renorm")
    renorm = next(m for m in trainer.model.modules() if isinstance(m, BatchRenorm))
    assert (renorm.relaxation.start, renorm.relaxation.rmax_steps, renorm.relaxation.dmax_steps) == (0, 3, 2)
    trainer.train_epoch()
    assert renorm.num_batches_tracked.item() == 5
