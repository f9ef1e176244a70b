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


@PREPROCESSING.register("mean_image", reference="cs231n: mean subtraction (AlexNet's mean image)")
def mean_image(train_images: torch.Tensor) -> Transform:
    """Subtract the mean training image, pixel by pixel: x − mean_n(x_n)."""
    mean = train_images.mean(dim=0, keepdim=True)
    return lambda x: x - mean


@PREPROCESSING.register("channel_mean", reference="Simonyan & Zisserman 2015 (VGG: per-channel mean)")
def channel_mean(train_images: torch.Tensor) -> Transform:
    """Subtract each channel's training mean: x − μ_c (no scaling)."""
    mean = train_images.mean(dim=(0, 2, 3), keepdim=True)
    return lambda x: x - mean


def _whitening(train_images: torch.Tensor, epsilon: float, zca: bool) -> Transform:
    """Fit W from the training covariance Σ = U·Λ·Uᵀ of the flattened images:
    PCA W = (Λ+ε)^(-1/2)·Uᵀ, ZCA W = U·(Λ+ε)^(-1/2)·Uᵀ; the transform is W(x − μ), reshaped back
    to C×H×W. Accumulated in float64, a chunk of images at a time (eigenvalues of image
    covariances span many decades; the full CIFAR-10 in float64 at once would take 1 GB)."""
    shape, n = train_images.shape[1:], len(train_images)
    chunks = train_images.reshape(n, -1).split(4096)
    mean = sum(chunk.double().sum(dim=0) for chunk in chunks) / n
    covariance = sum((chunk.double() - mean).T @ (chunk.double() - mean) for chunk in chunks) / (n - 1)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    matrix = eigenvectors.T / (eigenvalues.clamp_min(0) + epsilon).sqrt()[:, None]
    if zca:
        matrix = eigenvectors @ matrix
    matrix, mean = matrix.T.float().contiguous(), mean.float()  # rows x → x·Wᵀ

    def transform(x: torch.Tensor) -> torch.Tensor:
        return ((x.reshape(len(x), -1) - mean) @ matrix).reshape(len(x), *shape)

    return transform


_EPSILON = {"epsilon": (0.0, None)}


@PREPROCESSING.register("pca_whitening", reference="cs231n: PCA and whitening; Bishop 2006 §12.1.3", bounds=_EPSILON)
def pca_whitening(train_images: torch.Tensor, *, epsilon: float = 1e-2) -> Transform:
    """Rotate onto the training principal axes and scale each to unit variance: (Λ+ε)^(-1/2)·Uᵀ(x − μ)."""
    return _whitening(train_images, epsilon, zca=False)


@PREPROCESSING.register("zca_whitening", reference="Bell & Sejnowski 1997; Krizhevsky 2009, App. A", bounds=_EPSILON)
def zca_whitening(train_images: torch.Tensor, *, epsilon: float = 1e-2) -> Transform:
    """PCA whitening rotated back to pixel space, U·(Λ+ε)^(-1/2)·Uᵀ(x − μ): the whitening closest to the input.

    Among all whitening matrices it minimizes E‖W(x − μ) − (x − μ)‖², so images still look like
    (edge-enhanced) images."""
    return _whitening(train_images, epsilon, zca=True)
