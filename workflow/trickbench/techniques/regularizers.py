"""Regularizers: name → a `Regularizer`, an object that acts through one or more training hooks.

Regularizers differ in *where* they act — the model (dropout), the inputs (augmentation, noise),
the targets (label smoothing), the loss (L1/L2 penalties), the update (decoupled decay, max-norm)
or the schedule of training (early stopping) — so a regularizer is a small class overriding the
hooks it needs; every other hook is a no-op. A run may combine several (`RegularizerSet`).
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from trickbench.registry import Registry
from trickbench.techniques.inits import affine_layers, set_weight
from trickbench.techniques.weight_decay import decayed_parameters

REGULARIZERS = Registry("regularizer")


class Regularizer:
    """Base class: every hook is a no-op."""

    #: dropout probability of the dropout layers the model builder places (see `Dropout`)
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
    """Inverted dropout after each hidden activation, in a ResNet once per residual block: zero with probability p, scale by 1/(1-p).

    In an mlp and a cnn a dropout layer follows every hidden activation; in a resnet one sits
    inside every residual block, after its first activation (Zagoruyko & Komodakis 2016, wide
    ResNets), none after the stem or after a block's sum with its shortcut."""

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


@REGULARIZERS.register("l1", reference="Tibshirani 1996 (lasso); cs231n", bounds={"strength": (0.0, None)})
class L1Penalty(Regularizer):
    """Adds λ·Σ|W| to the loss: a constant pull λ·sign(W) towards 0, driving weights to exact zeros."""

    def __init__(self, *, strength: float = 1e-5):
        self.strength = strength

    def penalty(self, model):
        return self.strength * sum(p.abs().sum() for p in decayed_parameters(model))


def grayscale(images: torch.Tensor) -> torch.Tensor:
    """Luma of RGB images, N×1×H×W, with torchvision's weights (ITU-R 601-2: 0.2989 R + 0.587 G + 0.114 B)."""
    weights = torch.tensor([0.2989, 0.587, 0.114], device=images.device, dtype=images.dtype)
    return (images * weights[None, :, None, None]).sum(dim=1, keepdim=True)


def blend(images: torch.Tensor, other: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """factor·image + (1 − factor)·other per image, clipped to [0, 1] (torchvision's adjust_* rule)."""
    factors = factors[:, None, None, None]
    return (factors * images + (1 - factors) * other).clamp(0.0, 1.0)


def _factors(n: int, strength: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """One factor per image, uniform in [max(0, 1 − s), 1 + s] (torchvision's ColorJitter ranges)."""
    low = max(0.0, 1.0 - strength)
    return low + (1.0 + strength - low) * torch.rand(n, generator=generator, device=device)


@REGULARIZERS.register("color_jitter", reference="Krizhevsky et al. 2012; torchvision ColorJitter",
                       bounds={"brightness": (0.0, 1.0), "contrast": (0.0, 1.0), "saturation": (0.0, 1.0)})
class ColorJitter(Regularizer):
    """Random brightness, contrast and saturation per image, on whole batches.

    Each is a blend, by a random factor per image, with black, with the image's mean grey, and
    with its greyscale version (torchvision's adjust_brightness/contrast/saturation), in that order."""

    def __init__(self, *, brightness: float = 0.4, contrast: float = 0.4, saturation: float = 0.4):
        self.brightness, self.contrast, self.saturation = brightness, contrast, saturation

    def augment(self, images, generator):
        n, device = len(images), images.device
        if self.brightness:
            images = blend(images, torch.zeros_like(images), _factors(n, self.brightness, generator, device))
        if self.contrast:
            mean_grey = grayscale(images).mean(dim=(1, 2, 3), keepdim=True)
            images = blend(images, mean_grey, _factors(n, self.contrast, generator, device))
        if self.saturation and images.shape[1] == 3:
            images = blend(images, grayscale(images), _factors(n, self.saturation, generator, device))
        return images


@REGULARIZERS.register("gaussian_noise", reference="Bishop 1995, Training with noise is equivalent to Tikhonov regularization",
                       bounds={"std": (0.0, None)})
class GaussianNoise(Regularizer):
    """Adds N(0, std²) noise to every input the model trains on (after preprocessing)."""

    def __init__(self, *, std: float = 0.1):
        self.std = std

    def perturb(self, inputs, generator):
        noise = torch.randn(inputs.shape, generator=generator, device=inputs.device, dtype=inputs.dtype)
        return inputs + self.std * noise


@REGULARIZERS.register("label_smoothing", reference="Szegedy et al. 2016, Rethinking the Inception Architecture §7",
                       bounds={"epsilon": (0.0, 1.0)})
class LabelSmoothing(Regularizer):
    """Train on targets (1 − ε)·onehot + ε/K instead of onehot: penalizes over-confident logits."""

    def __init__(self, *, epsilon: float = 0.1):
        self.label_smoothing = epsilon


@REGULARIZERS.register("early_stopping", reference="Prechelt 1998, Early Stopping — But When?",
                       bounds={"patience": (0, 1000)})
class EarlyStopping(Regularizer):
    """Stop when validation loss has not improved for `patience` epochs; keep the best epoch's weights."""

    def __init__(self, *, patience: int = 3):
        self.patience = patience


@REGULARIZERS.register("max_norm", reference="Srebro et al. 2005; Srivastava et al. 2014 §5.1",
                       bounds={"limit": (1e-3, None)})
class MaxNorm(Regularizer):
    """After each step, project every hidden unit's incoming weight vector onto the ball ‖w‖ ≤ limit."""

    def __init__(self, *, limit: float = 3.0):
        self.limit = limit

    @torch.no_grad()
    def after_step(self, model, lr):
        *hidden, _classifier = affine_layers(model)  # the constraint is on hidden units only
        for layer in hidden:
            weight = layer.weight.detach()
            norms = weight.flatten(1).norm(dim=1).view(-1, *[1] * (weight.dim() - 1))
            if (norms > self.limit).any():
                clipped = weight * (self.limit / norms).clamp(max=1.0)
                set_weight(layer, lambda w: w.copy_(clipped))
