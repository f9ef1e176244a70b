"""MC dropout (train.mc_dropout): T stochastic passes with dropout on, batch norm in eval mode."""

from __future__ import annotations

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
    model = network(0.5)
    passes = mc_dropout_probabilities(model, INPUTS, passes=5, seed=3)
    # the same passes by hand: dropout layers in training mode, everything else in eval mode
    model.eval()
    model[3].train()
    torch.manual_seed(3)
    with torch.no_grad():
        by_hand = torch.stack([model(INPUTS).softmax(1) for _ in range(5)])
    torch.testing.assert_close(passes, by_hand)
    assert not torch.allclose(passes[0], passes[1])  # stochastic passes differ
    torch.testing.assert_close(passes.sum(2), torch.ones(5, 8))


def test_passes_are_reproducible_and_leave_the_random_stream_alone():
    model = network(0.5)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = mc_dropout_probabilities(model, INPUTS, passes=3, seed=7)
    assert torch.equal(torch.get_rng_state(), before)
    torch.testing.assert_close(mc_dropout_probabilities(model, INPUTS, passes=3, seed=7), first)
    assert model.training  # the model's mode is restored
