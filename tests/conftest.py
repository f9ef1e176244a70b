"""Shared fixtures: tiny configs on synthetic data, and the repository's paths. No test needs the
network or any file outside this repository; the embedded cifar10-mini file ships inside the package."""

from __future__ import annotations

import contextlib
import copy
import fcntl
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from trickbench.numerics import export

# Before anything imports torch: runs trained inside the test process are portable, as the default
# config's runs are in a workflow's jobs (trickbench.numerics).
export("portable")

REPO = Path(__file__).resolve().parents[1]

# No per-example time limit for property tests: on two cores the other worker's workflow can make
# any example slow, and what they check is a property of their inputs, not a speed.
settings.register_profile("trickbench", deadline=None)
settings.load_profile("trickbench")


def workspace(where: Path) -> Path:
    """`where` made a checkout of the workflow as a user has it (the Snakefile and config.yaml
    copied, workflow/ and profiles/ linked: Snakemake reads profiles/default by itself), so a
    test's results never touch the repository's own."""
    for name in ("Snakefile", "config.yaml"):
        shutil.copy(REPO / name, where / name)
    for name in ("workflow", "profiles"):
        (where / name).symlink_to(REPO / name)
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


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory, request) -> Path:
    """Where tests leave files for a person to look at (screenshots): $TRICKBENCH_ARTIFACTS if
    set, else `artifacts/` under pytest's base temp folder (`pytest-of-$USER/pytest-current/` in
    the system's temporary directory is a stable link to the latest one; an xdist worker's own
    folder, `popen-gw0/`, is inside it). Paths recorded with `keep_artifact` are printed at the end."""
    if os.environ.get("TRICKBENCH_ARTIFACTS"):
        folder = Path(os.environ["TRICKBENCH_ARTIFACTS"])
    else:
        base = tmp_path_factory.getbasetemp()
        folder = (base.parent if hasattr(request.config, "workerinput") else base) / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def keep_artifact(request, path: Path) -> Path:
    """Record `path` to be printed at the end of the run (it travels with the test's report, so
    an xdist worker's artifacts reach the terminal too)."""
    request.node.user_properties.append(("artifact", str(path)))
    return path


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, value in getattr(report, "user_properties", ()):
                if name == "artifact" and report.when == "call":
                    terminalreporter.write_line(f"artifact: {value}")


# --- Two workers on two cores (pytest-xdist, `-n 2 --dist loadscope` in pyproject.toml) ----------

def pytest_configure(config):
    """In an xdist worker, torch and every child process get the worker's share of the cores (on 2
    cores with 2 workers: one thread each), so two workers do not fight over the same cores."""
    if not hasattr(config, "workerinput"):
        return
    threads = max(1, len(os.sched_getaffinity(0)) // config.workerinput["workercount"])
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    import torch

    torch.set_num_threads(threads)


def pytest_collection_modifyitems(config, items):
    """The integration modules (real Snakemake workflows, a minute or more each) first, in their
    order, so that the two workers start on the long work and end on the short (each worker takes
    whole modules: `--dist loadscope`, `--no-loadscope-reorder`). Every worker sorts alike."""
    items.sort(key=lambda item: item.get_closest_marker("integration") is None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """A test marked `serial` runs alone: no test of another worker runs while it does (its module
    fixture's setup and teardown included). Every other test runs beside any but a serial one."""
    with _alone(item.config) if item.get_closest_marker("serial") else _beside_others(item.config):
        return (yield)


def _lock_files(config) -> tuple[int, int] | None:
    """This worker's handles on the run's two lock files (in the folder all workers' temporary
    folders share), or None outside xdist, where tests run one at a time anyway."""
    if not hasattr(config, "workerinput"):
        return None
    if not hasattr(config, "_trickbench_locks"):
        folder = Path(config.option.basetemp).parent
        config._trickbench_locks = tuple(os.open(folder / name, os.O_RDWR | os.O_CREAT, 0o600)
                                         for name in ("serial-turnstile.lock", "serial-room.lock"))
    return config._trickbench_locks


@contextlib.contextmanager
def _alone(config):
    """Close the turnstile (no test starts anywhere), wait for the running ones, run alone."""
    locks = _lock_files(config)
    if locks is None:
        yield
        return
    turnstile, room = locks
    fcntl.flock(turnstile, fcntl.LOCK_EX)
    fcntl.flock(room, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(room, fcntl.LOCK_UN)
        fcntl.flock(turnstile, fcntl.LOCK_UN)


@contextlib.contextmanager
def _beside_others(config):
    """Pass the turnstile (wait while a serial test waits or runs), then share the room."""
    locks = _lock_files(config)
    if locks is None:
        yield
        return
    turnstile, room = locks
    fcntl.flock(turnstile, fcntl.LOCK_EX)
    fcntl.flock(room, fcntl.LOCK_SH)
    fcntl.flock(turnstile, fcntl.LOCK_UN)
    try:
        yield
    finally:
        fcntl.flock(room, fcntl.LOCK_UN)
