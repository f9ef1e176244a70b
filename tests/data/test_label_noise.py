"""Label noise, training subsets and downsampling (data.label_noise, splits.subsample, device_data)."""

from __future__ import annotations

import dataclasses

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trickbench.config import validate_config
from trickbench.data.device_data import downsampled, prepare
from trickbench.data.label_noise import flip_labels
from trickbench.data.sources import SOURCES
from trickbench.data.splits import stratified_split, subsample
from trickbench.design import baseline_spec


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 300), fraction=st.floats(0.0, 1.0), classes=st.integers(2, 12), seed=st.integers(0, 99))
def test_flips_exactly_the_fraction_each_to_another_class(n, fraction, classes, seed):
    labels = torch.arange(n) % classes
    noisy = flip_labels(labels, fraction, classes, seed)
    changed = noisy != labels
    assert int(changed.sum()) == round(fraction * n)  # every chosen label really changes
    assert noisy.min() >= 0 and noisy.max() < classes
    assert torch.equal(flip_labels(labels, fraction, classes, seed), noisy)  # reproducible
    assert torch.equal(labels, torch.arange(n) % classes)  # the input is left alone


def test_other_seeds_flip_other_labels():
    labels = torch.arange(1000) % 10
    assert not torch.equal(flip_labels(labels, 0.2, 10, 0), flip_labels(labels, 0.2, 10, 1))


def test_subsample_keeps_an_ordered_reproducible_subset():
    indices = torch.arange(100, 200)
    chosen = subsample(indices, 30, seed=4)
    assert len(chosen) == 30 and len(set(chosen.tolist())) == 30
    assert set(chosen.tolist()) <= set(indices.tolist())
    assert torch.equal(chosen, chosen.sort().values)
    assert torch.equal(subsample(indices, 30, seed=4), chosen)
    assert torch.equal(subsample(indices, 0, seed=4), indices) and torch.equal(subsample(indices, 500, seed=4), indices)


def test_downsampling_averages_blocks_of_pixels():
    images = SOURCES.build(SOURCES.resolve({"name": "synthetic", "n_train": 10, "n_test": 4, "size": 8}, "s"), None, False)
    small = downsampled(images, 4)
    assert small.x_train.shape == (10, 3, 4, 4) and small.x_test.shape == (4, 3, 4, 4)
    block = images.x_train[3, 1, 2:4, 6:8].double().mean()
    assert int(small.x_train[3, 1, 1, 3]) == int(torch.round(block))
    assert downsampled(images, 0) is images


def test_prepare_corrupts_training_labels_only(tiny_config):
    spec = baseline_spec(validate_config(tiny_config), 0)
    images = SOURCES.build(spec.data.source, None, False)
    clean = prepare(images, spec.data, spec.preprocessing, torch.device("cpu"))
    noisy_spec = dataclasses.replace(spec.data, label_noise=0.25, train_subset=100, image_size=4)
    noisy = prepare(images, noisy_spec, spec.preprocessing, torch.device("cpu"))
    assert len(noisy.train) == 100 and noisy.input_shape == (3, 4, 4)
    assert torch.equal(noisy.val.labels, clean.val.labels) and torch.equal(noisy.test.labels, clean.test.labels)
    train_idx, _ = stratified_split(images.y_train, spec.data.val_fraction, spec.data.split_seed)
    true_labels = images.y_train[subsample(train_idx, 100, spec.data.split_seed)]
    assert int((noisy.train.labels != true_labels).sum()) == 25
