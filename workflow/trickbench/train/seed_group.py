"""Several seeds of one run trained together in one process: stacked weights, one batched pass.

A small model leaves a GPU mostly idle: launching its kernels costs more than running them.
Runs that differ only in their seed share their architecture, so their weights can be stacked
along a new leading dimension and all K forward and backward passes done as one batched call
(`torch.func.stack_module_state`, `functional_call` under `vmap`, as in PyTorch's "Model
ensembling" tutorial; functorch, He & Zou 2021).

Each member stays a whole `Trainer` — its own seeded initialization, data order, augmentation,
optimizer, schedule, regularizer hooks, history and early stopping — whose parameters and buffers
are views into the stacked tensors. The one backward pass leaves each member's gradient in its
slice; each member's own optimizer then steps its own weights. So a member is the same experiment
as its run trained alone: the same initialization, batches, augmentations and updates, up to the
floating-point rounding of batched kernels; only dropout masks come from one shared random stream.

Limits: the optimizer must evaluate its closure once per step (SAM and L-BFGS evaluate it more
often: train those runs alone), and so must a run that aborts on explosion (`train.explode_factor`
checks every step's loss on the host); channels_last and torch.compile do not apply to the batched pass.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Sequence

import torch
from torch import nn
from torch.func import functional_call, vmap

from trickbench.data.device_data import DeviceData
from trickbench.errors import ConfigError
from trickbench.spec import RunSpec
from trickbench.train.acceleration import choose_acceleration
from trickbench.train.loop import Outcome, Trainer


def tie(models: Sequence[nn.Module]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Stack the parameters and buffers of same-architecture `models` (K of them) into tensors of
    leading size K, and make every model's own tensors views of its slice: what the stacked tensors
    learn, each model holds, and what an optimizer does to a model lands in the stack."""
    def stacked(named: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        out = {}
        for name in named[0]:
            stack = torch.stack([tensors[name].detach() for tensors in named])
            for k, tensors in enumerate(named):
                tensors[name].data = stack[k]
            out[name] = stack
        return out

    params = stacked([dict(m.named_parameters()) for m in models])
    buffers = stacked([dict(m.named_buffers()) for m in models])
    for tensor in params.values():
        tensor.requires_grad_()
    return params, buffers


class SeedGroup:
    """K runs that differ only in their seed, trained in lockstep, one batched pass per step."""

    def __init__(self, specs: Sequence[RunSpec], data: DeviceData, device: torch.device,
                 eval_batch_size: int = 1024, precision: str = "auto"):
        if len({replace(spec, seed=0) for spec in specs}) != 1:
            raise ConfigError("seed group", [spec.run_id for spec in specs], "runs that differ only in their seed")
        if specs[0].train.explode_factor:
            raise ConfigError("train.explode_factor", specs[0].train.explode_factor, "0 in a seed group (train such runs alone)")
        acceleration = replace(choose_acceleration(device, precision), channels_last=False, compile=False)
        self.members = [Trainer(spec, data, device, eval_batch_size, acceleration) for spec in specs]
        self.params, self.buffers = tie([member.model for member in self.members])
        self.template = self.members[0].model  # functional_call runs its code with the stacked tensors
        self.acceleration = acceleration

    @property
    def finished(self) -> bool:
        return all(member.finished for member in self.members)

    def _forward(self, params, buffers, inputs):
        return functional_call(self.template, (params, buffers), (inputs,))

    def train_epoch(self) -> list[dict[str, float]]:
        """One epoch of every member still training; returns their rows. A member's
        `train_seconds` is its share of the group's time (the epoch's time / members training)."""
        active = [k for k, member in enumerate(self.members) if not member.finished]
        start = time.perf_counter()
        for member in self.members:
            member.model.train()
        device = self.members[0].device
        loss_sums = torch.zeros(len(self.members), device=device)
        corrects = torch.zeros(len(self.members), device=device, dtype=torch.int64)
        seen, lrs = 0, {}
        for indices in zip(*(self.members[k].epoch_batches() for k in active)):
            batches = dict(zip(active, (self.members[k].batch(index) for k, index in zip(active, indices))))
            # finished members ride along on an active member's batch; their results are not used
            inputs = torch.stack([batches.get(k, batches[active[0]])[0] for k in range(len(self.members))])
            for tensor in self.params.values():
                tensor.grad = None
            with self.acceleration.autocast():
                logits = vmap(self._forward, randomness="different")(self.params, self.buffers, inputs).float()
            losses = {}
            for k in active:
                member = self.members[k]
                member.optimizer.zero_grad(set_to_none=True)
                losses[k] = member.criterion(logits[k], batches[k][1]) + member.regularizer.penalty(member.model)
            sum(losses.values()).backward()
            for k in active:
                lrs[k] = self._step_member(k, losses[k])
                loss_sums[k] += losses[k].detach() * len(batches[k][1])
                corrects[k] += (logits[k].detach().argmax(1) == batches[k][1]).sum()
            seen += len(batches[active[0]][1])
        loss_sums, corrects = loss_sums.tolist(), corrects.tolist()  # the one host sync of the epoch
        share = (time.perf_counter() - start) / len(active)
        rows = []
        for k in active:
            member = self.members[k]
            row = {"epoch": member.epoch + 1, "lr": lrs[k], "train_loss": loss_sums[k] / seen,
                   "train_acc": corrects[k] / seen, "train_seconds": share, "images_per_s": seen / share}
            member.record_epoch(row)
            rows.append(row)
        return rows

    def _step_member(self, k: int, loss: torch.Tensor) -> float:
        """Hand member k its slice of the stacked gradients (plus its penalty's, already on its own
        parameters) and let its optimizer step, with a closure that returns the computed loss."""
        member = self.members[k]
        own = dict(member.model.named_parameters())
        for name, stacked in self.params.items():
            if stacked.grad is not None:
                param = own[name]
                param.grad = stacked.grad[k] if param.grad is None else param.grad + stacked.grad[k]
        member.grad_evals += 1
        calls = []

        def closure() -> torch.Tensor:
            if calls:
                raise ConfigError("optimizer", member.spec.optimizer.name,
                                  "an optimizer that evaluates its closure once per step in a seed group")
            calls.append(1)
            return loss

        return member.step(closure)

    def finish(self) -> list[Outcome]:
        return [member.finish(sum(row["train_seconds"] for row in member.history)) for member in self.members]


def train_seed_group(specs: Sequence[RunSpec], data: DeviceData, device: torch.device,
                     eval_batch_size: int = 1024, precision: str = "auto") -> list[Outcome]:
    """Train runs that differ only in their seed together; one `Outcome` per spec, in order."""
    group = SeedGroup(specs, data, device, eval_batch_size, precision)
    while not group.finished:
        group.train_epoch()
    return group.finish()
