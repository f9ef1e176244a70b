"""Averages of the weights along one training trajectory, read out beside the weights themselves.

- EMA (Polyak & Juditsky 1992, in its exponential form): after every optimizer step
  x_avg ← d·x_avg + (1−d)·x, starting from the initial weights, so after n steps
  x_avg = dⁿ·x₀ + (1−d)·Σₖ dⁿ⁻ᵏ·xₖ. Batch-norm running statistics are averaged the same way
  (as timm's ModelEmaV2 does), because recomputing them every epoch would cost a pass over the data.
- SWA (Izmailov et al. 2018, "Averaging Weights Leads to Wider Optima"): the arithmetic mean of
  the weights at the end of every epoch from `swa_start_epoch` on. With `swa_lr` > 0 the learning
  rate follows the paper (§3.2, §4): the run's schedule, planned for the epochs before SWA, decays
  to swa_lr, which then stays constant while the average is taken, so the iterates keep exploring
  instead of converging to one point (averaging while the rate anneals to 0 is close to taking the
  final weights). The mean of batch-norm statistics is *not* the statistics of the mean network,
  so they are recomputed with one pass over the training images after every update
  (`update_running_statistics`: torch's `update_bn` for batch norm, and the same for batch renorm,
  whose statistics `update_bn` would leave as copied from the live model).

Both are `torch.optim.swa_utils.AveragedModel`s, so their state checkpoints with the run. Each
epoch, every average is scored on validation and test into `<name>_{val,test}_{loss,acc}` columns.
"""

from __future__ import annotations

import math
from contextlib import ExitStack
from typing import Callable, Iterable, Iterator

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from trickbench.data.device_data import DeviceData, to_unit_float
from trickbench.errors import ConfigError
from trickbench.registry import Technique
from trickbench.spec import TrainSpec
from trickbench.techniques.norms import BatchRenorm
from trickbench.techniques.schedules import lr_multiplier
from trickbench.train.evaluate import evaluate


class WeightAverage:
    """One running average of a model's weights, updated through the trainer's two hooks."""

    name: str

    def __init__(self, average: AveragedModel):
        self.average = average

    @property
    def model(self) -> nn.Module:
        return self.average.module

    @property
    def ready(self) -> bool:
        """Whether the average holds at least one snapshot (SWA holds none before it starts)."""
        return bool(self.average.n_averaged > 0)

    def after_step(self, model: nn.Module) -> None:
        """Called after every optimizer step."""

    def after_epoch(self, model: nn.Module, epoch: int, train_inputs: Callable[[], Iterable[torch.Tensor]]) -> None:
        """Called after every epoch (1-based `epoch`); `train_inputs()` yields preprocessed batches."""

    def evaluate_into(self, row: dict[str, float], data: DeviceData, batch_size: int) -> None:
        for split in ("val", "test"):
            result = evaluate(self.model, data, split, batch_size) if self.ready else None
            row[f"{self.name}_{split}_loss"] = result.loss if result else math.nan
            row[f"{self.name}_{split}_acc"] = result.accuracy if result else math.nan


class ExponentialAverage(WeightAverage):
    name = "ema"

    def __init__(self, model: nn.Module, decay: float):
        super().__init__(AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True))
        self.average.update_parameters(model)  # the first update copies: x_avg = x₀

    def after_step(self, model: nn.Module) -> None:
        self.average.update_parameters(model)


class StochasticWeightAverage(WeightAverage):
    name = "swa"

    def __init__(self, model: nn.Module, start_epoch: int):
        super().__init__(AveragedModel(model))  # equal weights; buffers are copied, then recomputed
        self.start_epoch = start_epoch

    def after_epoch(self, model, epoch, train_inputs):
        if epoch < self.start_epoch:
            return
        self.average.update_parameters(model)
        update_running_statistics(train_inputs(), self.average)


@torch.no_grad()
def update_running_statistics(batches: Iterable[torch.Tensor], model: nn.Module) -> None:
    """Recompute the running statistics of every layer of `model` that keeps them, in one pass over
    `batches` in training mode: torch's batch norms as `torch.optim.swa_utils.update_bn` does (reset,
    then momentum None: the equal-weight mean over the batches), and batch renorm's the same way
    (`BatchRenorm.recomputing_statistics`), which update_bn knows nothing of."""
    batch_norms = [module for module in model.modules() if isinstance(module, _BatchNorm)]
    renorms = [module for module in model.modules() if isinstance(module, BatchRenorm)]
    if not (batch_norms or renorms):
        return
    momenta = {module: module.momentum for module in batch_norms}
    was_training = model.training
    with ExitStack() as stack:
        for renorm in renorms:
            stack.enter_context(renorm.recomputing_statistics())
        for module in batch_norms:
            module.reset_running_stats()
            module.momentum = None
        model.train()
        for batch in batches:
            model(batch)
    for module, momentum in momenta.items():
        module.momentum = momentum
    model.train(was_training)


def weight_averages(train: TrainSpec, model: nn.Module) -> list[WeightAverage]:
    """The averages a run's spec asks for (none by default)."""
    averages: list[WeightAverage] = []
    if train.ema_decay > 0:
        averages.append(ExponentialAverage(model, train.ema_decay))
    if train.swa_start_epoch > 0:
        averages.append(StochasticWeightAverage(model, train.swa_start_epoch))
    return averages


def schedule_with_swa_phase(schedule: Technique, train: TrainSpec, steps_per_epoch: int,
                            base_lr: float) -> Callable[[int], float]:
    """The run's learning-rate multiplier for `LambdaLR` (warm-up, then `schedule`, over all its
    steps), with the SWA phase of Izmailov et al. 2018 when the spec sets `swa_lr`.

    With r = swa_lr / base_lr and S the first step of epoch `swa_start_epoch`: warm-up as planned,
    then r + (1 − r)·m(t), the schedule m planned for the S steps before SWA and rescaled to end at
    r (the paper decays its rate to swa_lr, then holds it), and r from step S on."""
    warmup = round(train.warmup_epochs * steps_per_epoch)
    if not (train.swa_start_epoch and train.swa_lr):
        return lr_multiplier(schedule, train.epochs * steps_per_epoch, warmup)
    if base_lr <= 0:
        raise ConfigError("optimizer.lr", base_lr, "> 0 when train.swa_lr sets the SWA phase's rate")
    start_step, ratio = (train.swa_start_epoch - 1) * steps_per_epoch, train.swa_lr / base_lr
    planned = lr_multiplier(schedule, start_step, warmup)

    def swa_multiplier(step: int) -> float:
        if step >= start_step:
            return ratio
        return planned(step) if step < warmup else ratio + (1 - ratio) * planned(step)

    return swa_multiplier


def preprocessed_batches(data: DeviceData, batch_size: int) -> Iterator[torch.Tensor]:
    """The training images as the model sees them (preprocessed, not augmented), in order."""
    images = data.train.images
    for start in range(0, len(images), batch_size):
        yield data.preprocess(to_unit_float(images[start:start + batch_size]))
