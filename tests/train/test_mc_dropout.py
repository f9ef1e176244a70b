"""MC dropout (train.mc_dropout): T stochastic passes with dropout on, batch norm in eval mode."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trickbench.train.mc_dropout import mc_dropout_probabilities


def network(p: float) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(p), nn.Linear(16, 3))
    model.train()
    model(torch.randn(32, 4))  # give batch norm running statistics unlike a batch's own
    return model


INPUTS = torch.randn(8, 4, generator=torch.Generator().manual_seed(1))


def test_without_dropout_every_pass_is_the_plain_eval_forward():
    model = network(0.0)
    passes = mc_dropout_probabilities(model, INPUTS, passes=4, seed=0)
    plain = model.eval()(INPUTS).softmax(1)
    assert passes.shape == (4, 8, 3)
    for single in passes:
        torch.testing.assert_close(single, plain)


def test_each_pass_samples_a_mask_with_batch_norm_frozen():
    """A network whose output layer is the identity shows each pass's hidden units: softmax(m ⊙ h)
    with h = relu(BN_eval(W·x + b)) computed here from the running statistics, and m the pass's
    mask. Every hidden unit is kept positive, so the dropped ones are exactly the smallest
    log-probabilities (m_j·h_j = 0): log p − min log p must be 0 or h_j/(1 − p) unit by unit, the
    masks must differ between passes and drop about a fraction p of the units."""
    p, passes = 0.5, 40
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(p), nn.Linear(16, 16))
    with torch.no_grad():
        model[4].weight.copy_(torch.eye(16))
        model[4].bias.zero_()
        model[1].bias.fill_(3.0)  # h > 0: every unit active, so a dropped unit is the only zero
    model.train()
    model(torch.randn(32, 4))  # running statistics unlike any batch's own
    bn = model[1]
    with torch.no_grad():
        pre = INPUTS @ model[0].weight.T + model[0].bias
        hidden = torch.relu((pre - bn.running_mean) / (bn.running_var + bn.eps).sqrt() * bn.weight + bn.bias)
    assert hidden.min() > 0.5
    probabilities = mc_dropout_probabilities(model, INPUTS, passes=passes, seed=3)
    log_p = probabilities.double().log()
    units = log_p - log_p.min(dim=2, keepdim=True).values  # m ⊙ h, up to float error
    kept = (units - hidden.double() / (1 - p)).abs() < 1e-3
    dropped = units.abs() < 1e-3
    assert torch.all(kept ^ dropped)
    assert dropped.double().mean().item() == pytest.approx(p, abs=0.05)  # 40 passes × 8 inputs × 16 units
    assert not torch.equal(dropped[0], dropped[1])
    torch.testing.assert_close(probabilities.sum(2), torch.ones(passes, 8))


def test_passes_are_reproducible_and_leave_the_random_stream_alone():
    model = network(0.5)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = mc_dropout_probabilities(model, INPUTS, passes=3, seed=7)
    assert torch.equal(torch.get_rng_state(), before)
    torch.testing.assert_close(mc_dropout_probabilities(model, INPUTS, passes=3, seed=7), first)
    assert model.training  # the model's mode is restored
