"""Preprocessing against its definitions, fitted on a training split only (through `prepare`, as a
run gets it): the statistics each transform zeroes or whitens, and ZCA as the whitening that stays
closest to its input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from trickbench.data.device_data import prepare
from trickbench.data.sources import SOURCES
from trickbench.registry import Technique
from trickbench.spec import DataSpec
from trickbench.techniques.preprocessing import PREPROCESSING


def correlated_images(n: int = 4000, seed: int = 0) -> torch.Tensor:
    """Images in [0, 1]-ish with strongly correlated pixels (a random mixing of independent noise)."""
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.randn(48, 48, generator=generator) * torch.logspace(0, -1, 48)[None, :]
    flat = torch.rand(n, 48, generator=generator) @ mixing.T * 0.1 + 0.5
    return flat.view(n, 3, 4, 4)


def fit(level, images: torch.Tensor):
    return PREPROCESSING.build(PREPROCESSING.resolve(level, "preprocessing"), images)


def covariance(x: torch.Tensor) -> torch.Tensor:
    flat = x.reshape(len(x), -1).double()
    centred = flat - flat.mean(0)
    return centred.T @ centred / (len(flat) - 1)


def test_none_only_keeps_the_unit_scale():
    images = correlated_images(10)
    assert torch.equal(fit("none", images)(images), images)


def test_mean_image_subtraction_zeroes_every_pixels_training_mean():
    images = correlated_images()
    out = fit("mean_image", images)(images)
    torch.testing.assert_close(out.mean(0), torch.zeros(3, 4, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(out - images, (out - images)[:1].expand_as(out))  # one shift for all images


def test_channel_mean_subtraction_zeroes_each_channel_and_keeps_the_scale():
    images = correlated_images()
    out = fit("channel_mean", images)(images)
    torch.testing.assert_close(out.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(dim=(0, 2, 3)), images.std(dim=(0, 2, 3)))


def test_standardization_gives_each_channel_zero_mean_unit_std():
    images = correlated_images()
    out = fit("standardize", images)(images)
    torch.testing.assert_close(out.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-5, rtol=0)


def test_statistics_come_from_the_training_split_only():
    """A transform fitted on one split applies that split's statistics to any other."""
    train, other = correlated_images(seed=1), correlated_images(seed=2) + 1.0
    torch.testing.assert_close(fit("channel_mean", train)(other), other - train.mean(dim=(0, 2, 3), keepdim=True))


@pytest.mark.parametrize("name", ["standardize", "mean_image"])
def test_prepare_fits_preprocessing_on_the_images_it_trains_on_only(name):
    """Through `prepare`, as every run gets its data: validation held out of the training images,
    and the test images made bright white, so statistics of either would show. The transform
    every split gets is the one of the training split's own statistics, computed here."""
    images = SOURCES.build(SOURCES.resolve({"name": "synthetic", "n_train": 120, "n_test": 30, "size": 4},
                                           "data.source"), Path("."), False)
    images.x_test.fill_(255)
    spec = DataSpec(Technique("synthetic"), val_fraction=0.25, split_seed=0)
    data = prepare(images, spec, PREPROCESSING.resolve(name, "preprocessing"), torch.device("cpu"))
    assert (len(data.train), len(data.val), len(data.test)) == (90, 30, 30)
    train = data.train.images.float() / 255
    if name == "standardize":
        mean, std = train.mean(dim=(0, 2, 3), keepdim=True), train.std(dim=(0, 2, 3), keepdim=True)
        expected = lambda x: (x - mean) / std
    else:
        expected = lambda x: x - train.mean(dim=0, keepdim=True)
    everything = torch.cat([images.x_train, images.x_test]).float() / 255
    for split in (data.train, data.val, data.test):
        x = split.images.float() / 255
        torch.testing.assert_close(data.preprocess(x), expected(x))
    leaked = fit(name, everything)
    assert not torch.allclose(leaked(train), expected(train), atol=1e-3)  # the check can tell a leak


@pytest.mark.parametrize("name", ["pca_whitening", "zca_whitening"])
def test_whitened_training_data_has_identity_covariance(name):
    images = correlated_images()
    out = fit({"name": name, "epsilon": 1e-9}, images)(images)
    assert out.shape == images.shape
    torch.testing.assert_close(covariance(out), torch.eye(48, dtype=torch.float64), atol=2e-3, rtol=0)


def test_epsilon_damps_the_weak_directions():
    """(λ + ε)^(-1/2) instead of λ^(-1/2): output variances become λ/(λ + ε) < 1."""
    images = correlated_images()
    eigenvalues = torch.linalg.eigvalsh(covariance(images))
    out = fit({"name": "pca_whitening", "epsilon": 1e-3}, images)(images)
    variances = torch.linalg.eigvalsh(covariance(out))
    torch.testing.assert_close(variances.sort().values, (eigenvalues / (eigenvalues + 1e-3)).sort().values, atol=2e-3, rtol=0)


def test_zca_is_the_whitening_closest_to_its_input():
    """Every whitening is Q·W_ZCA for an orthogonal Q; ZCA (Q = I) minimizes E‖Wx − x‖²
    (Kessy et al. 2018): it beats PCA and random rotations of itself."""
    images = correlated_images()
    centred = (images - images.mean(0)).reshape(len(images), -1)
    zca = fit({"name": "zca_whitening", "epsilon": 1e-9}, images)(images).reshape(len(images), -1)
    pca = fit({"name": "pca_whitening", "epsilon": 1e-9}, images)(images).reshape(len(images), -1)
    distance = lambda z: (z - centred).pow(2).sum(1).mean().item()
    rotations = [torch.linalg.qr(torch.randn(48, 48, generator=torch.Generator().manual_seed(s)))[0] for s in range(5)]
    assert distance(zca) < distance(pca)
    assert all(distance(zca) < distance(zca @ q.T) for q in rotations)


def test_zca_matrix_is_symmetric():
    images = correlated_images()
    transform = fit({"name": "zca_whitening", "epsilon": 1e-6}, images)
    mean = transform(torch.zeros(1, 3, 4, 4)).reshape(-1)  # −W·μ
    basis = torch.eye(48).view(48, 3, 4, 4)
    w = transform(basis).reshape(48, 48) - mean  # rows: W·e_i
    torch.testing.assert_close(w, w.T, atol=1e-3, rtol=1e-3)
