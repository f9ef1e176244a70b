"""Shared fixtures: tiny configs on synthetic data, and the repository's paths. No test needs the
network or any file outside this repository; the embedded cifar10-mini file ships inside the package."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest

from trickbench.numerics import export

# Before anything imports torch: runs trained inside the test process are portable, as the default
# config's runs are in a workflow's jobs (trickbench.numerics).
export("portable")

REPO = Path(__file__).resolve().parents[1]


def workspace(where: Path) -> Path:
    """`where` made a checkout of the workflow as a user has it (the Snakefile and config.yaml
    copied, workflow/ linked), so a test's results never touch the repository's own."""
    for name in ("Snakefile", "config.yaml"):
        shutil.copy(REPO / name, where / name)
    (where / "workflow").symlink_to(REPO / "workflow")
    return where


TINY_CONFIG: dict[str, Any] = {
    "data": {"source": {"name": "synthetic", "n_train": 200, "n_test": 60, "size": 8}, "val_fraction": 0.2},
    "model": {"name": "mlp", "depth": 1, "width": 16},
    "train": {"epochs": 2, "batch_size": 32},
    "baseline": {"activation": "relu", "init": "he_normal", "norm": "batch", "regularizer": "none",
                 "optimizer": {"name": "momentum", "lr": 0.05}, "schedule": "cosine", "preprocessing": "standardize"},
    "design": {"kind": "ablation", "seeds": [0], "factors": {"activation": ["relu", "tanh"]}},
}


@pytest.fixture
def tiny_config() -> dict[str, Any]:
    """A valid config of a 2-run ablation on synthetic 8×8 images (a fresh copy per test)."""
    return copy.deepcopy(TINY_CONFIG)


ARTIFACTS_KEY = pytest.StashKey[list]()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory, request) -> Path:
    """Where tests leave files for a person to look at (screenshots): $TRICKBENCH_ARTIFACTS if
    set, else `artifacts/` under pytest's base temp folder (`pytest-of-$USER/pytest-current/` in
    the system's temporary directory is a stable link to the latest one). Paths recorded with
    `keep_artifact` are printed at the end."""
    import os

    folder = Path(os.environ["TRICKBENCH_ARTIFACTS"]) if os.environ.get("TRICKBENCH_ARTIFACTS") else \
        tmp_path_factory.getbasetemp() / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    request.config.stash.setdefault(ARTIFACTS_KEY, [])
    return folder


def keep_artifact(request, path: Path) -> Path:
    request.config.stash.setdefault(ARTIFACTS_KEY, []).append(path)
    return path


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for path in config.stash.get(ARTIFACTS_KEY, []):
        terminalreporter.write_line(f"artifact: {path}")
