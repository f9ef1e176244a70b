"""What studies and the report need of the data besides run folders: the labels that saved
predictions score (validation and test, in the order the logits follow) and the number of classes."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from trickbench.data.cache import read_images
from trickbench.data.splits import stratified_split
from trickbench.registry import Technique
from trickbench.spec import RunSpec


def test_labels(spec: RunSpec, config: Mapping[str, Any]) -> np.ndarray:
    return split_labels(spec, config)["test"]


def split_labels(spec: RunSpec, config: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Labels of the run's validation and test splits, in the order its saved logits follow."""
    y_train, y_test, _ = _labels(spec.data.source, *_where(config))
    _, val = stratified_split(torch.from_numpy(y_train), spec.data.val_fraction, spec.data.split_seed)
    return {"val": y_train[val.numpy()], "test": y_test}


def split_sizes(spec: RunSpec, config: Mapping[str, Any]) -> dict[str, int]:
    """Images in the run's training, validation and test splits (what a setup line states)."""
    y_train, y_test, _ = _labels(spec.data.source, *_where(config))
    n_val = len(split_labels(spec, config)["val"])
    return {"train": len(y_train) - n_val, "val": n_val, "test": len(y_test)}


def class_count(spec: RunSpec, config: Mapping[str, Any]) -> int:
    return _labels(spec.data.source, *_where(config))[2]


def _where(config: Mapping[str, Any]) -> tuple[str, bool]:
    return config["execution"]["data_root"], config["execution"]["download"]


@lru_cache(maxsize=4)
def _labels(source: Technique, data_root: str, download: bool) -> tuple[np.ndarray, np.ndarray, int]:
    images = read_images(source, Path(data_root), download)  # from the prepared cache, like training
    return images.y_train.numpy(), images.y_test.numpy(), images.num_classes
