"""Input preprocessing: name → `fit(train_images) -> transform`.

`fit` sees the *training split only* (float images in [0, 1], N×C×H×W) and returns the transform
applied to every batch of every split — so no statistic ever leaks from validation or test data.
"""

from __future__ import annotations

from typing import Callable

import torch

from trickbench.registry import Registry

PREPROCESSING = Registry("preprocessing")

Transform = Callable[[torch.Tensor], torch.Tensor]


@PREPROCESSING.register("none")
def none(train_images: torch.Tensor) -> Transform:
    """Pixels scaled to [0, 1], nothing else."""
    return lambda x: x


@PREPROCESSING.register("standardize", reference="LeCun et al. 1998, Efficient BackProp")
def standardize(train_images: torch.Tensor) -> Transform:
    """Per-channel standardization: (x − μ_c) / σ_c with training-split statistics."""
    mean = train_images.mean(dim=(0, 2, 3), keepdim=True)
    std = train_images.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return lambda x: (x - mean) / std
