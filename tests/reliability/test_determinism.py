"""Determinism: the same spec and seed give bit-identical results on CPU; the
`execution.deterministic` switch turns on PyTorch's deterministic algorithms (and the cuBLAS
setting they need on GPU); every summary says which versions, device and commit made it."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess

import pytest
import torch

from conftest import REPO
from run_helpers import result_of, tiny_specs
from trickbench.run import Execution, load_summary, set_deterministic, train_run
from trickbench.workflow import plan_from_config


@pytest.fixture
def restore_determinism():
    """The switch is process-wide: leave it as the test found it."""
    before, benchmark = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark
    cublas = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    yield
    torch.use_deterministic_algorithms(before)
    torch.backends.cudnn.benchmark = benchmark
    if cublas is None:
        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)


def spec_with(**baseline):
    """The tiny run with dropout and augmentation, so every random generator is used."""
    return tiny_specs(baseline={"activation": "relu", "init": "he_normal", "norm": "batch",
                                "regularizer": [{"name": "dropout", "p": 0.2}, "augment"],
                                "optimizer": {"name": "momentum", "lr": 0.05}, "schedule": "cosine",
                                "preprocessing": "standardize", **baseline})[0]


def test_the_same_spec_and_seed_give_identical_results(tmp_path):
    spec = spec_with()
    for copy in ("a", "b"):
        train_run(spec, tmp_path / copy / spec.run_id, Execution(device="cpu", threads=1))
    assert result_of(tmp_path / "a" / spec.run_id) == result_of(tmp_path / "b" / spec.run_id)


def test_another_seed_gives_other_results(tmp_path):
    """The check above would pass trivially if the seed did nothing."""
    spec = spec_with()
    reseeded = dataclasses.replace(spec, seed=spec.seed + 1)
    for s in (spec, reseeded):
        train_run(s, tmp_path / s.run_id, Execution(device="cpu", threads=1))
    assert result_of(tmp_path / spec.run_id)["epochs"] != result_of(tmp_path / reseeded.run_id)["epochs"]


@pytest.mark.parametrize("enabled", [True, False])
def test_the_deterministic_switch(restore_determinism, tmp_path, enabled):
    spec = spec_with()
    summary = train_run(spec, tmp_path / spec.run_id, Execution(device="cpu", threads=1, deterministic=enabled))
    assert torch.are_deterministic_algorithms_enabled() is enabled
    assert summary["deterministic"] is enabled and load_summary(tmp_path / spec.run_id)["deterministic"] is enabled
    assert torch.backends.cudnn.benchmark is False
    if enabled:  # what cuBLAS needs for reproducible matrix products (PyTorch, "Reproducibility")
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] in (":4096:8", ":16:8")


def test_the_switch_is_a_config_key_that_reaches_the_train_command(tiny_config, restore_determinism):
    tiny_config["execution"] = {"deterministic": True}
    assert plan_from_config(tiny_config).execution.deterministic is True
    from trickbench.cli import build_parser

    args = build_parser().parse_args(["train", "--spec", "{}", "--run-dir", "x", "--deterministic"])
    assert args.deterministic is True
    rules = (REPO / "workflow" / "rules" / "common.smk").read_text()
    assert '["--deterministic"] * EXECUTION["deterministic"]' in rules


def test_set_deterministic_leaves_a_switched_off_torch_alone(restore_determinism, monkeypatch):
    """Turning it off when it is off must not call torch (the call imports torch._inductor: seconds)."""
    torch.use_deterministic_algorithms(False)
    monkeypatch.setattr(torch, "use_deterministic_algorithms", lambda *a, **k: pytest.fail("called"))
    set_deterministic(False)


def test_every_summary_records_versions_device_and_commit(tmp_path):
    spec = spec_with()
    summary = train_run(spec, tmp_path / spec.run_id, Execution(device="cpu", threads=1))
    assert summary["torch_version"] == torch.__version__
    assert summary["python_version"].count(".") == 2 and summary["trickbench_version"]
    assert summary["cuda_version"] == (torch.version.cuda or "none")
    assert summary["device"] == "cpu" and summary["device_name"] and summary["torch_threads"] == 1
    if shutil.which("git") and (REPO / ".git").exists():
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, capture_output=True, text=True)
        assert summary["git_commit"] == head.stdout.strip()
