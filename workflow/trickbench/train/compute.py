"""Compute accounting: what one optimizer step costs, measured, and what a whole run cost.

Techniques must be compared at equal compute, not only at equal epochs: SAM (Foret et al. 2021)
takes two gradient evaluations per step, L-BFGS several, so at equal epochs it has had twice or
more the work of SGD. The unit of work here is the *gradient evaluation* — one call of the
optimizer's closure, i.e. one forward and one backward pass over a batch — and its FLOPs.

FLOPs are measured, not estimated from formulas: one real optimizer step on a copy of the model
runs under `torch.utils.flop_counter.FlopCounterMode`, which counts the multiply-adds of matrix
products and convolutions (2 FLOPs each; e.g. a linear layer `in → out` on a batch of B costs
2·in·out·B forward). Element-wise work (activations, normalization, the optimizer's own update,
augmentation) is not counted by that counter, so the figures are the dense-algebra cost that
dominates these models — the convention behind the usual "forward 2·N, backward 4·N FLOPs per
example" rule for N weights (Kaplan et al. 2020, §2.1); a first layer's backward is 2·N, since
the data needs no gradient.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

Loss = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class StepCost:
    """The measured cost of one optimizer step on a batch of `batch_size` images."""

    batch_size: int
    grad_evals: int  # closure calls the optimizer made in the step
    forward_flops: int  # summed over the step's closure calls
    backward_flops: int
    other_flops: int  # counted outside any closure (an optimizer's own matrix work; usually 0)

    @property
    def flops(self) -> int:
        return self.forward_flops + self.backward_flops + self.other_flops

    @property
    def flops_per_grad_eval_image(self) -> float:
        """Forward + backward FLOPs of one image through one gradient evaluation."""
        return (self.forward_flops + self.backward_flops) / (self.grad_evals * self.batch_size)


def measure_step(model: nn.Module, make_optimizer: Callable[[list[nn.Parameter]], torch.optim.Optimizer],
                 loss: Loss, inputs: torch.Tensor, labels: torch.Tensor) -> StepCost:
    """Run one optimizer step (`optimizer.step(closure)`, as the trainer does) on a *copy* of
    `model` under a FLOP counter; the closure reads the counter before and after its forward and
    backward passes, so each pass is attributed to its own total. Neither the model nor the random
    generators of the caller change (dropout draws from a forked generator)."""
    model = copy.deepcopy(model).train()
    optimizer = make_optimizer(list(model.parameters()))
    forward = backward = calls = 0
    devices = [inputs.device] if inputs.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), FlopCounterMode(display=False) as counter:

        def closure() -> torch.Tensor:
            nonlocal forward, backward, calls
            optimizer.zero_grad(set_to_none=True)
            start = counter.get_total_flops()
            value = loss(model, inputs, labels)
            middle = counter.get_total_flops()
            value.backward()
            forward += middle - start
            backward += counter.get_total_flops() - middle
            calls += 1
            return value

        optimizer.step(closure)
        total = counter.get_total_flops()
    return StepCost(len(labels), calls, forward, backward, total - forward - backward)


def run_cost(step: StepCost, grad_evals: int, optimizer_steps: int, images_seen: int) -> dict[str, float | int]:
    """The compute record of a run, from its measured step and its counters.

    images_seen = training images drawn (epochs × training-split size). The run's training FLOPs
    are flops_per_grad_eval × grad_evals, where flops_per_grad_eval is the measured forward +
    backward cost per image times the run's mean batch (images_seen / optimizer_steps): exact when
    every step makes the same number of closure calls, and proportional to the calls otherwise
    (L-BFGS). FLOPs are linear in the batch size for every layer the counter counts."""
    mean_batch = images_seen / optimizer_steps if optimizer_steps else 0.0
    per_grad_eval = step.flops_per_grad_eval_image * mean_batch
    return {
        "optimizer_steps": optimizer_steps,
        "images_seen": images_seen,
        "grad_evals_per_step": grad_evals / optimizer_steps if optimizer_steps else float("nan"),
        "forward_flops_per_step": step.forward_flops,
        "backward_flops_per_step": step.backward_flops,
        "flops_per_step": step.flops,
        "flops_batch_size": step.batch_size,
        "flops_per_grad_eval": per_grad_eval,
        "train_flops": per_grad_eval * grad_evals,
    }


