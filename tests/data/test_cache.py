"""Data prepared once (trickbench.data.cache): the full CIFAR-10 path exercised offline on a tiny
copy in the official on-disk format — verified with torchvision's MD5s, cached as uint8 arrays
that a training process memory-maps, never read again from the pickles; a missing data set stops
a plan with one line saying what to do."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.datasets import CIFAR10

from conftest import REPO, TINY_CONFIG
from test_data import tiny_official_cifar10  # noqa: F401 — the fixture: tiny official files, MD5s patched
from trickbench import cli
from trickbench.config import validate_config
from trickbench.data import cache, sources
from trickbench.design import expand
from trickbench.errors import DataError
from trickbench.registry import Technique

CIFAR10_SOURCE = Technique("cifar10")


def documented(message: str, root: Path) -> None:
    """docs/bad-input.md shows this error, the data root written <data_root>."""
    line = message.replace(str(root), "<data_root>")
    assert f"`{line}`" in (REPO / "docs/bad-input.md").read_text(), f"docs/bad-input.md lacks: {line}"


def specs_on(source) -> list:
    config = copy.deepcopy(TINY_CONFIG)
    config["data"] = {"source": source, "val_fraction": 0.2}
    return expand(validate_config(config))


@pytest.fixture(autouse=True)
def fresh_process_caches():
    """Each test reads its own files, not what an earlier test left in the per-process caches."""
    cache.images_for.cache_clear()
    cache._prepared_data.cache_clear()
    yield
    cache.images_for.cache_clear()
    cache._prepared_data.cache_clear()


def test_the_cache_holds_the_official_images_and_a_process_memory_maps_it(tiny_official_cifar10):
    root, _ = tiny_official_cifar10
    folder = cache.prepare_cache(CIFAR10_SOURCE, root, download=False)
    assert folder == root / "cache" / "cifar10-v1"
    official = sources.cifar10(root, download=False)  # through torchvision's own reader
    shutil.rmtree(root / CIFAR10.base_folder)  # a training process never reads the pickles again
    images = cache.images_for(CIFAR10_SOURCE, root)
    for name in cache.ARRAYS:
        assert torch.equal(getattr(images, name), getattr(official, name)), name
    assert images.classes == sources.CIFAR10_CLASSES
    mapped = Path("/proc/self/maps").read_text()
    assert all(str(folder / f"{name}.npy") in mapped for name in cache.ARRAYS)  # memory-mapped, not read
    manifest = json.loads((folder / "manifest.json").read_text())
    for name in cache.ARRAYS:
        assert manifest["arrays"][name]["sha256"] == hashlib.sha256((folder / f"{name}.npy").read_bytes()).hexdigest()
    assert manifest["arrays"]["x_train"]["shape"] == [30, 3, 32, 32] and manifest["arrays"]["x_train"]["dtype"] == "uint8"


def test_preparing_again_keeps_the_cache_as_it_is(tiny_official_cifar10):
    root, _ = tiny_official_cifar10
    folder = cache.prepare_cache(CIFAR10_SOURCE, root, download=False)
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    shutil.rmtree(root / CIFAR10.base_folder)  # nothing to read: it must not need to
    assert cache.prepare_cache(CIFAR10_SOURCE, root, download=False) == folder
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


def test_a_corrupted_download_is_refused_and_no_cache_is_written(tiny_official_cifar10):
    root, _ = tiny_official_cifar10
    batch = root / CIFAR10.base_folder / "data_batch_2"
    batch.write_bytes(batch.read_bytes()[:-5])
    with pytest.raises(DataError, match="download: true") as error:
        cache.prepare_cache(CIFAR10_SOURCE, root, download=False)
    assert "\n" not in str(error.value)
    assert not (root / "cache").exists() or not any((root / "cache").iterdir())


def test_a_missing_cache_says_how_to_make_it(tmp_path):
    with pytest.raises(DataError, match="prepare_data rule") as error:
        cache.load_cache(CIFAR10_SOURCE, tmp_path)
    assert "--download" in str(error.value) and "\n" not in str(error.value)
    documented(str(error.value), tmp_path)


@pytest.mark.parametrize("damage", ["truncated", "one byte changed"])
def test_a_damaged_cache_is_one_line(tiny_official_cifar10, damage):
    root, _ = tiny_official_cifar10
    folder = cache.prepare_cache(CIFAR10_SOURCE, root, download=False)
    array = folder / "x_train.npy"
    if damage == "truncated":  # caught on every load, from the shapes alone
        array.write_bytes(array.read_bytes()[:-1000])
        with pytest.raises(DataError, match="prepare it again") as error:
            cache.load_cache(CIFAR10_SOURCE, root)
    else:  # caught by re-hashing (prepare-data --verify)
        data = bytearray(array.read_bytes())
        data[-1] ^= 0xFF
        array.write_bytes(bytes(data))
        with pytest.raises(DataError, match="does not match its manifest") as error:
            cache.verify_cache(CIFAR10_SOURCE, root)
    assert "\n" not in str(error.value)
    documented(str(error.value), root)


def test_runs_of_one_process_share_their_data(tmp_path):
    first, second = specs_on({"name": "synthetic", "n_train": 100, "n_test": 20, "size": 8})[:2]  # same data spec
    cpu = torch.device("cpu")
    shared = cache.run_data(first, tmp_path, cpu)
    assert cache.run_data(second, tmp_path, cpu) is shared
    whitened = cache.run_data(dataclasses.replace(first, preprocessing=Technique("zca_whitening", (("epsilon", 0.01),))),
                              tmp_path, cpu)
    assert whitened is not shared and torch.equal(whitened.train.images, shared.train.images)  # same images
    batch = shared.train.images[:4].float() / 255
    assert not torch.allclose(whitened.preprocess(batch), shared.preprocess(batch))  # preprocessed otherwise


# -- what a plan needs ---------------------------------------------------------------------------------

def needed(root: Path, download: bool, finished: bool = False, source="cifar10"):
    return cache.sources_to_prepare(specs_on(source), root, download, unfinished=lambda spec: not finished)


def test_a_plan_without_the_data_and_without_downloads_stops_with_one_line(tmp_path):
    with pytest.raises(DataError) as error:
        needed(tmp_path, download=False)
    message = str(error.value)
    assert "\n" not in message and "execution.download: true" in message and "cifar-10-python.tar.gz" in message
    assert "training jobs never download" in message
    documented(message, tmp_path)


def test_a_plan_goes_on_where_the_data_can_be_had(tmp_path, tiny_official_cifar10):
    assert needed(tmp_path, download=True) == {"cifar10-v1": CIFAR10_SOURCE}  # the rule will fetch it
    root, _ = tiny_official_cifar10
    assert needed(root, download=False) == {"cifar10-v1": CIFAR10_SOURCE}  # the rule will verify the files there
    cache.prepare_cache(CIFAR10_SOURCE, root, download=False)
    shutil.rmtree(root / CIFAR10.base_folder)
    assert needed(root, download=False) == {"cifar10-v1": CIFAR10_SOURCE}  # prepared already
    assert needed(tmp_path / "empty", download=False, finished=True) == {"cifar10-v1": CIFAR10_SOURCE}  # nothing to train


def test_the_embedded_and_synthetic_sources_need_no_preparing(tmp_path):
    assert needed(tmp_path, download=False, source="cifar10-mini") == {}
    assert needed(tmp_path, download=False, source={"name": "synthetic", "n_train": 100}) == {}


def test_prepare_data_command(tiny_official_cifar10):
    root, _ = tiny_official_cifar10
    assert cli.main(["prepare-data", "--source", "cifar10", "--data-root", str(root), "--verify"]) == 0
    assert (root / "cache" / "cifar10-v1" / "manifest.json").is_file()
    assert cli.main(["prepare-data", "--source", "cifar10", "--data-root", str(root / "elsewhere")]) == 2  # nothing there
    assert np.load(root / "cache" / "cifar10-v1" / "y_test.npy").dtype == np.int64
