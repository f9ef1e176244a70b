"""Regularizers: name → a `Regularizer`, an object that acts through one or more training hooks.

Regularizers differ in *where* they act — the model (dropout), the inputs (augmentation, noise),
the targets (label smoothing), the loss (L1/L2 penalties), the update (decoupled decay, max-norm)
or the schedule of training (early stopping) — so a regularizer is a small class overriding the
hooks it needs; every other hook is a no-op. A run may combine several (`RegularizerSet`).
"""

from __future__ import annotations

from typing import Iterable, Iterator

import torch
from torch import nn

from trickbench.registry import Registry

REGULARIZERS = Registry("regularizer")


def decayed_parameters(model: nn.Module) -> Iterator[nn.Parameter]:
    """Parameters that weight penalties act on: weight matrices and kernels (ndim > 1), never
    biases or normalization gains — decided once here for L1, L2 and decoupled decay alike."""
    return (p for p in model.parameters() if p.ndim > 1)


class Regularizer:
    """Base class: every hook is a no-op."""

    #: dropout probability the model builder puts after each hidden activation
    dropout: float = 0.0
    #: ε of label smoothing in the cross-entropy loss
    label_smoothing: float = 0.0
    #: early stopping: epochs without validation-loss improvement before stopping (None = off)
    patience: int | None = None

    def augment(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Transform a training batch of images in [0, 1], N×C×H×W, before preprocessing."""
        return images

    def perturb(self, inputs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Transform a preprocessed training batch (what the model sees)."""
        return inputs

    def penalty(self, model: nn.Module) -> torch.Tensor | float:
        """A term added to the training loss."""
        return 0.0

    def before_step(self, model: nn.Module, lr: float) -> None:
        """Called just before the optimizer step, while the weights still hold their pre-step values."""

    def after_step(self, model: nn.Module, lr: float) -> None:
        """Called after the optimizer moved the weights."""


class RegularizerSet(Regularizer):
    """Several regularizers acting together: each hook runs every member's, in name order."""

    def __init__(self, members: Iterable[Regularizer]):
        self.members = list(members)
        self.dropout = max((m.dropout for m in self.members), default=0.0)
        self.label_smoothing = max((m.label_smoothing for m in self.members), default=0.0)
        patiences = [m.patience for m in self.members if m.patience is not None]
        self.patience = min(patiences) if patiences else None

    def augment(self, images, generator):
        for member in self.members:
            images = member.augment(images, generator)
        return images

    def perturb(self, inputs, generator):
        for member in self.members:
            inputs = member.perturb(inputs, generator)
        return inputs

    def penalty(self, model):
        return sum((member.penalty(model) for member in self.members), 0.0)

    def before_step(self, model, lr):
        for member in self.members:
            member.before_step(model, lr)

    def after_step(self, model, lr):
        for member in self.members:
            member.after_step(model, lr)


@REGULARIZERS.register("none")
class NoRegularization(Regularizer):
    """No regularization."""


@REGULARIZERS.register("dropout", reference="Srivastava et al. 2014", bounds={"p": (0.0, 0.95)})
class Dropout(Regularizer):
    """Inverted dropout after each hidden activation: zero units with probability p, scale by 1/(1-p)."""

    def __init__(self, *, p: float = 0.3):
        self.dropout = p


@REGULARIZERS.register("l2", reference="Krogh & Hertz 1992", bounds={"strength": (0.0, None)})
class L2Penalty(Regularizer):
    """Coupled L2: adds (λ/2)·Σ‖W‖² to the loss, so the decay passes through the optimizer's scaling."""

    def __init__(self, *, strength: float = 5e-4):
        self.strength = strength

    def penalty(self, model):
        return 0.5 * self.strength * sum(p.pow(2).sum() for p in decayed_parameters(model))


@REGULARIZERS.register("decoupled_weight_decay", reference="Loshchilov & Hutter 2019, AdamW", bounds={"strength": (0.0, None)})
class DecoupledWeightDecay(Regularizer):
    """Decoupled decay for any optimizer: w ← w − lr·λ·w_before, beside (not through) the update.

    With Adam this is exactly torch's AdamW: (1 − lr·λ)·w − lr·adam_step(g)."""

    def __init__(self, *, strength: float = 5e-4):
        self.strength = strength
        self._decay: list[torch.Tensor] = []

    def before_step(self, model, lr):
        self._decay = [p.detach() * (lr * self.strength) for p in decayed_parameters(model)]

    @torch.no_grad()
    def after_step(self, model, lr):
        for param, decay in zip(decayed_parameters(model), self._decay):
            param.sub_(decay)
        self._decay = []


def random_crop(images: torch.Tensor, padding: int, generator: torch.Generator, flip: bool = False) -> torch.Tensor:
    """Pad each image by `padding` zeros and cut a random H×W window: one gather for the batch.

    The window of image i starting at (dy_i, dx_i) is read with flat indices into its padded
    plane, (y + dy_i)·(W + 2p) + (x + dx_i), shared by its channels: a single `gather` whose index
    is N×H×W (broadcast over channels), 3× faster on a CPU than indexing with four N×C×H×W index
    tensors. With `flip`, the window is also mirrored with probability ½ by reading its columns
    backwards (x → W−1−x) in the same gather — the same random draws, in the same order, and the
    same result as `random_flip(random_crop(...))`, without a second pass over the batch."""
    n, c, h, w = images.shape
    padded = nn.functional.pad(images, (padding,) * 4)
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=images.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=images.device)
    x = torch.arange(w, device=images.device)
    if flip:
        x = torch.where(flip_draws(n, generator, images.device)[:, None], w - 1 - x, x)
    rows = torch.arange(h, device=images.device)[None, :, None] + dy[:, None, None]
    cols = x.view(-1, 1, w) + dx[:, None, None]
    flat = (rows * (w + 2 * padding) + cols).view(n, 1, h * w).expand(n, c, h * w)
    return padded.flatten(2).gather(2, flat).view(n, c, h, w)


def flip_draws(n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Which of n images to mirror: each with probability ½."""
    return torch.rand(n, generator=generator, device=device) < 0.5


def random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability ½."""
    flip = flip_draws(images.shape[0], generator, images.device)
    return torch.where(flip[:, None, None, None], images.flip(3), images)


@REGULARIZERS.register("augment", reference="Krizhevsky et al. 2012", bounds={"padding": (0, 16)})
class Augment(Regularizer):
    """Random crop with zero padding and random horizontal flip, on whole batches."""

    def __init__(self, *, padding: int = 4, flip: bool = True):
        self.padding, self.flip = padding, flip

    def augment(self, images, generator):
        if self.padding:
            return random_crop(images, self.padding, generator, flip=self.flip)
        return random_flip(images, generator) if self.flip else images
