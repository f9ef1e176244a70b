"""Data: the three sources (the torchvision CIFAR-10 path exercised offline on files in the official
format), the stratified validation split, and preprocessing fitted on the training split only."""

from __future__ import annotations

import hashlib
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision.datasets import CIFAR10

from trickbench.data import sources
from trickbench.data.device_data import prepare, to_unit_float
from trickbench.data.splits import stratified_split
from trickbench.errors import DataError
from trickbench.registry import Technique
from trickbench.spec import DataSpec

PER_BATCH = 6  # images per official training batch in the tiny copy


def write_official_cifar10(root: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Tiny CIFAR-10 in the official python format: Python-2 pickles (protocol 2) of dicts with
    'data' (N×3072 uint8, CHW rows) and 'labels' — what the real files load as with latin1 —, five
    training batches, a test batch and batches.meta."""
    folder = root / CIFAR10.base_folder
    folder.mkdir(parents=True)
    written = {}

    def dump(name: str, payload: dict) -> None:
        with open(folder / name, "wb") as handle:
            pickle.dump(payload, handle, protocol=2)

    for name, _ in CIFAR10.train_list + CIFAR10.test_list:
        images = rng.integers(0, 256, (PER_BATCH, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, PER_BATCH).tolist()
        dump(name, {"batch_label": name, "data": images.reshape(PER_BATCH, -1), "labels": labels})
        written[name] = images
        written[name + "_labels"] = np.asarray(labels)
    dump("batches.meta", {"label_names": list(sources.CIFAR10_CLASSES), "num_vis": 3072})
    return written


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def tiny_official_cifar10(tmp_path, monkeypatch):
    """The tiny files, with torchvision's expected MD5s pointed at them (the real ones are fixed)."""
    written = write_official_cifar10(tmp_path, np.random.default_rng(0))
    folder = tmp_path / CIFAR10.base_folder
    monkeypatch.setattr(CIFAR10, "train_list", [[n, md5(folder / n)] for n, _ in CIFAR10.train_list])
    monkeypatch.setattr(CIFAR10, "test_list", [[n, md5(folder / n)] for n, _ in CIFAR10.test_list])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": md5(folder / "batches.meta")})
    return tmp_path, written


def test_cifar10_source_reads_the_official_format(tiny_official_cifar10):
    root, written = tiny_official_cifar10
    images = sources.cifar10(root, download=False)
    assert images.x_train.shape == (5 * PER_BATCH, 3, 32, 32) and images.x_train.dtype == torch.uint8
    assert images.x_test.shape == (PER_BATCH, 3, 32, 32)
    np.testing.assert_array_equal(images.x_train[:PER_BATCH].numpy(), written["data_batch_1"])
    np.testing.assert_array_equal(images.x_test.numpy(), written["test_batch"])
    np.testing.assert_array_equal(images.y_test.numpy(), written["test_batch_labels"])
    assert images.classes == sources.CIFAR10_CLASSES


def test_cifar10_with_a_corrupted_file_is_a_one_line_data_error(tiny_official_cifar10):
    root, _ = tiny_official_cifar10
    batch = root / CIFAR10.base_folder / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:-10])
    with pytest.raises(DataError, match="download: true") as error:
        sources.cifar10(root, download=False)
    assert "\n" not in str(error.value)


def test_cifar10_missing_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="cifar10 at"):
        sources.cifar10(tmp_path, download=False)


def test_embedded_subset_is_real_cifar10_of_the_documented_size():
    images = sources.cifar10_mini(Path("unused"), download=False)
    assert images.x_train.shape == (4660, 3, 32, 32) and images.x_test.shape == (846, 3, 32, 32)
    assert images.classes == sources.CIFAR10_CLASSES
    counts = np.bincount(images.y_train.numpy(), minlength=10)
    assert counts.min() >= 435 and counts.max() <= 489  # its README: 435–489 per class


def test_embedded_subset_with_a_wrong_checksum_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "mini.npz"
    shutil.copy(sources.MINI_PATH, copy)
    with open(copy, "r+b") as handle:
        handle.seek(1000)
        handle.write(b"\x00\x01\x02")
    monkeypatch.setattr(sources, "MINI_PATH", copy)
    with pytest.raises(DataError, match="sha256"):
        sources.cifar10_mini(tmp_path, download=False)


def test_synthetic_source_is_reproducible_and_balanced():
    first = sources.synthetic(Path("."), False, n_train=40, n_test=10, classes=4, size=8)
    again = sources.synthetic(Path("."), False, n_train=40, n_test=10, classes=4, size=8)
    assert torch.equal(first.x_train, again.x_train) and torch.equal(first.y_test, again.y_test)
    assert np.bincount(first.y_train.numpy()).tolist() == [10, 10, 10, 10]


@settings(max_examples=40, deadline=None)
@given(labels=st.lists(st.integers(0, 4), min_size=5, max_size=200), fraction=st.floats(0.0, 0.9), seed=st.integers(0, 99))
def test_split_is_a_disjoint_stratified_partition(labels, fraction, seed):
    y = torch.tensor(labels)
    train, val = stratified_split(y, fraction, seed)
    assert set(train.tolist()).isdisjoint(val.tolist())
    assert sorted(train.tolist() + val.tolist()) == list(range(len(labels)))
    for cls in set(labels):
        members = int((y == cls).sum())
        assert int((y[val] == cls).sum()) == round(fraction * members)
    again_train, again_val = stratified_split(y, fraction, seed)
    assert torch.equal(train, again_train) and torch.equal(val, again_val)


def test_standardization_statistics_come_from_the_training_split_only():
    images = sources.synthetic(Path("."), False, n_train=100, n_test=20, size=8)
    # make validation and test images wildly different: if their statistics leaked, the mean would move
    images.x_test.fill_(255)
    spec = DataSpec(Technique("synthetic"), val_fraction=0.2, split_seed=0)
    data = prepare(images, spec, Technique("standardize"), torch.device("cpu"))
    train = data.preprocess(to_unit_float(data.train.images))
    assert torch.allclose(train.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(train.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-4)
    train_ids = {int(i) for i in stratified_split(images.y_train, 0.2, 0)[0]}
    assert len(data.train) == len(train_ids) and len(data.val) == 20
