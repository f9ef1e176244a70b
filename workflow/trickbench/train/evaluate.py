"""Evaluation of a model on a whole split: large batches, no autograd, one host sync per split.

It runs under the training run's `Acceleration` (the same precision and memory format), but
always through the uncompiled model: evaluation is a small share of a run, and a compiled model
would compile a second graph for eval mode.

Besides validation and test, a run scores a fixed sample of its *training* split the same way
(`training_sample`): eval mode, no augmentation, no input noise, dropout off, batch norm on its
running statistics. The running accuracy of the training minibatches is measured with all of
those on, and on weights that move during the epoch, so it understates what the model fits; the
generalization gap is the eval-mode train accuracy minus the validation accuracy.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from trickbench.data.device_data import DeviceData, Split, to_unit_float
from trickbench.train.acceleration import Acceleration


@dataclass(frozen=True)
class Evaluation:
    loss: float
    accuracy: float
    probabilities: torch.Tensor | None = None  # N×classes on the CPU, when asked for
    logits: torch.Tensor | None = None  # the same, before the softmax (for temperature scaling)


def evaluate(model: nn.Module, data: DeviceData, split: str, batch_size: int, keep_probabilities: bool = False,
             acceleration: Acceleration | None = None) -> Evaluation:
    """Mean cross-entropy and accuracy of `model` (in eval mode) on the split named `split`;
    `acceleration`, when given, is the one `model` was prepared with."""
    return evaluate_split(model, data.split(split), data.preprocess, batch_size, keep_probabilities, acceleration)


@torch.inference_mode()
def evaluate_split(model: nn.Module, part: Split, preprocess: Callable[[torch.Tensor], torch.Tensor], batch_size: int,
                   keep_probabilities: bool = False, acceleration: Acceleration | None = None) -> Evaluation:
    """Mean cross-entropy and accuracy of `model` in eval mode on the images of `part`, each
    preprocessed as at test time (no augmentation, no input noise)."""
    if len(part) == 0:
        return Evaluation(float("nan"), float("nan"))
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=part.labels.device)
    correct = torch.zeros((), device=part.labels.device, dtype=torch.int64)
    kept = []
    autocast = acceleration.autocast() if acceleration else contextlib.nullcontext()
    layout = acceleration.inputs if acceleration else (lambda batch: batch)
    for start in range(0, len(part), batch_size):
        images = part.images[start:start + batch_size]
        labels = part.labels[start:start + batch_size]
        with autocast:
            logits = model(layout(preprocess(to_unit_float(images)))).float()
        loss_sum += nn.functional.cross_entropy(logits, labels, reduction="sum")
        correct += (logits.argmax(1) == labels).sum()
        if keep_probabilities:
            kept.append(logits.cpu())
    model.train(was_training)
    return Evaluation(
        loss=loss_sum.item() / len(part),
        accuracy=correct.item() / len(part),
        probabilities=torch.cat(kept).softmax(1) if keep_probabilities else None,
        logits=torch.cat(kept) if keep_probabilities else None,
    )


def training_sample(train: Split, size: int, seed: int) -> Split:
    """`size` images of the training split (all of them if it has fewer), drawn without
    replacement with `seed` and kept in index order: the same images every epoch of a run, and
    the same for every run that shares the data split (the seed is the split's)."""
    if size >= len(train):
        return train
    chosen = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:size].sort().values
    chosen = chosen.to(train.labels.device)
    return Split(train.images[chosen], train.labels[chosen])
