"""Compute accounting: FLOPs of known layers, gradient evaluations per step (SAM: 2), run totals."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from trickbench.config import validate_config
from trickbench.data.device_data import prepare
from trickbench.data.sources import SOURCES
from trickbench.design import baseline_spec
from trickbench.techniques.optimizers import OPTIMIZERS
from trickbench.train import loop
from trickbench.train.compute import StepCost, measure_step, run_cost
from trickbench.train.loop import Trainer


def cross_entropy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(model(x), y)


def sgd(params):
    return torch.optim.SGD(params, lr=0.1)


class TwoPassSAM(torch.optim.Optimizer):
    """Sharpness-aware minimization (Foret et al. 2021, Alg. 1) with SGD as the base: a gradient at
    w, an ascent to w + ρ·g/‖g‖, a second gradient there, and the SGD step from w with it."""

    def __init__(self, params, lr: float = 0.1, rho: float = 0.05):
        super().__init__(params, {"lr": lr, "rho": rho})

    def step(self, closure):
        closure()
        params = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
        norm = torch.norm(torch.stack([p.grad.norm() for p in params]))
        shifts = [self.param_groups[0]["rho"] * p.grad / (norm + 1e-12) for p in params]
        with torch.no_grad():
            for p, shift in zip(params, shifts):
                p.add_(shift)
        loss = closure()
        with torch.no_grad():
            for p, shift in zip(params, shifts):
                p.sub_(shift).sub_(self.param_groups[0]["lr"] * p.grad)
        return loss


@pytest.mark.parametrize("batch, fan_in, fan_out", [(7, 3, 4), (32, 192, 10)])
def test_linear_layer_costs_two_flops_per_multiply_add(batch: int, fan_in: int, fan_out: int):
    cost = measure_step(nn.Linear(fan_in, fan_out), sgd, cross_entropy, torch.randn(batch, fan_in),
                        torch.randint(0, fan_out, (batch,)))
    assert cost.forward_flops == 2 * fan_in * fan_out * batch
    # backward of a first layer: the weight gradient only (the data needs no gradient)
    assert cost.backward_flops == 2 * fan_in * fan_out * batch
    assert cost.grad_evals == 1 and cost.other_flops == 0 and cost.batch_size == batch


def test_a_hidden_layer_also_pays_for_its_input_gradient():
    batch, sizes = 5, (6, 8, 3)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    cost = measure_step(model, sgd, cross_entropy, torch.randn(batch, 6), torch.randint(0, 3, (batch,)))
    first, second = 2 * batch * sizes[0] * sizes[1], 2 * batch * sizes[1] * sizes[2]
    assert cost.forward_flops == first + second
    assert cost.backward_flops == first + 2 * second  # layer 2: weight and input gradients


def test_sam_makes_two_gradient_evaluations_per_step():
    model, x, y = nn.Linear(4, 3), torch.randn(10, 4), torch.randint(0, 3, (10,))
    plain = measure_step(model, sgd, cross_entropy, x, y)
    sam = measure_step(model, lambda params: TwoPassSAM(params), cross_entropy, x, y)
    assert sam.grad_evals == 2
    assert sam.forward_flops == 2 * plain.forward_flops and sam.backward_flops == 2 * plain.backward_flops
    assert sam.flops_per_grad_eval_image == plain.flops_per_grad_eval_image


def test_measuring_changes_neither_the_model_nor_the_random_stream():
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 2))
    before = [p.detach().clone() for p in model.parameters()]
    x, y = torch.randn(6, 4), torch.randint(0, 2, (6,))
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    measure_step(model, sgd, cross_entropy, x, y)  # dropout draws, from a forked generator
    assert torch.equal(torch.rand(3), expected)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_run_cost_from_a_measured_step():
    step = StepCost(batch_size=32, grad_evals=2, forward_flops=6400, backward_flops=12800, other_flops=0)
    cost = run_cost(step, grad_evals=20, optimizer_steps=10, images_seen=300)  # mean batch 30
    assert cost["grad_evals_per_step"] == 2.0
    assert cost["flops_per_grad_eval"] == pytest.approx((6400 + 12800) / 2 / 32 * 30)
    assert cost["train_flops"] == pytest.approx(cost["flops_per_grad_eval"] * 20)
    assert cost["flops_per_step"] == 19200


# -- the trainer: what it counts while training equals what one measured step says ---------------

@pytest.fixture
def tiny_trainer(tiny_config):
    def build(optimizer="momentum"):
        tiny_config["baseline"]["optimizer"] = optimizer
        config = validate_config(tiny_config)
        spec = baseline_spec(config, 0)
        images = SOURCES.build(spec.data.source, None, False)
        data = prepare(images, spec.data, spec.preprocessing, torch.device("cpu"))
        return Trainer(spec, data, torch.device("cpu"))

    return build


def test_trainer_counts_sam_closure_calls_twice_per_step(tiny_trainer, monkeypatch):
    trainer = tiny_trainer()
    trainer.optimizer = TwoPassSAM(trainer.model.parameters())
    trainer.scheduler = torch.optim.lr_scheduler.LambdaLR(trainer.optimizer, lambda step: 1.0)
    trainer.train_epoch()
    assert trainer.grad_evals == 2 * trainer.steps_per_epoch == 2 * trainer.optimizer_steps

    class SAMRegistry:
        def build(self, technique, params):
            return TwoPassSAM(params)

    monkeypatch.setattr(loop, "OPTIMIZERS", SAMRegistry())
    assert trainer.step_cost().grad_evals == 2


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_counts_what_its_measured_step_makes(tiny_trainer, name: str):
    """Registry-parametrized: a newly registered optimizer is checked too. One closure call per
    step for first-order methods, two for SAM; what training counts is what the step measures."""
    trainer = tiny_trainer(name)
    cost = trainer.step_cost()
    trainer.train_epoch()
    assert cost.grad_evals >= 1 and cost.forward_flops > 0 and cost.backward_flops > 0
    if name != "lbfgs":  # L-BFGS's closure calls vary with its line search
        assert trainer.grad_evals == cost.grad_evals * trainer.steps_per_epoch
    if name in ("sam", "lookahead_sam"):
        assert cost.grad_evals == 2
    if name in ("sgd", "momentum", "nesterov", "adam"):
        assert cost.grad_evals == 1
    assert not math.isnan(trainer.history[-1]["train_loss"])
