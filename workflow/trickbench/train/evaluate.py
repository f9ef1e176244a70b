"""Evaluation of a model on a whole split: large batches, no autograd, one host sync per split."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from trickbench.data.device_data import DeviceData, to_unit_float


@dataclass(frozen=True)
class Evaluation:
    loss: float
    accuracy: float
    probabilities: torch.Tensor | None = None  # N×classes on the CPU, when asked for
    logits: torch.Tensor | None = None  # the same, before the softmax (for temperature scaling)


@torch.inference_mode()
def evaluate(model: nn.Module, data: DeviceData, split: str, batch_size: int, keep_probabilities: bool = False) -> Evaluation:
    """Mean cross-entropy and accuracy of `model` (in eval mode) on `split`."""
    part = data.split(split)
    if len(part) == 0:
        return Evaluation(float("nan"), float("nan"))
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=part.labels.device)
    correct = torch.zeros((), device=part.labels.device, dtype=torch.int64)
    kept = []
    for start in range(0, len(part), batch_size):
        images = part.images[start:start + batch_size]
        labels = part.labels[start:start + batch_size]
        logits = model(data.preprocess(to_unit_float(images))).float()
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
