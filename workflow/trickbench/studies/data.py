"""What studies need of the data besides run folders: the test labels the probabilities score."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from trickbench.data.cache import read_images
from trickbench.registry import Technique
from trickbench.spec import RunSpec


def test_labels(spec: RunSpec, config: Mapping[str, Any]) -> np.ndarray:
    execution = config["execution"]
    return _labels(spec.data.source, execution["data_root"], execution["download"])


@lru_cache(maxsize=4)
def _labels(source: Technique, data_root: str, download: bool) -> np.ndarray:
    return read_images(source, Path(data_root), download).y_test.numpy()
