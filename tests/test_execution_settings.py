"""Execution settings for speed and scale (precision, compile, GPU slots, runs per cluster job):
how the plan turns them into Snakemake's resources and groups, and that none of them is part of
any run's identity."""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from conftest import TINY_CONFIG
from trickbench.cli import build_parser
from trickbench.config import validate_config
from trickbench.errors import ConfigError
from trickbench.workflow import cluster_job_groups, plan_from_config


def plan_with(execution: dict, seeds=(0, 1, 2)):
    config = copy.deepcopy(TINY_CONFIG)
    config["design"]["seeds"] = list(seeds)
    config["execution"] = execution
    return plan_from_config(config)


@given(n=st.integers(0, 60), size=st.integers(1, 12))
def test_cluster_jobs_cover_every_run_once_in_plan_order(n, size):
    runs = [f"{i:012x}" for i in range(n)]
    groups = cluster_job_groups(runs, size)
    if size == 1:
        assert groups == {}
        return
    assert [run for members in groups.values() for run in members] == runs
    assert list(groups) == [f"train-{i}" for i in range(len(groups))]
    assert all(len(members) == size for members in list(groups.values())[:-1])
    assert len(groups) == -(-n // size)  # ceil(n / size)


def test_a_combinations_seeds_share_a_cluster_job():
    plan = plan_with({"runs_per_cluster_job": 3})  # 2 combinations × 3 seeds
    assert [[plan.runs[r].seed for r in members] for members in plan.cluster_jobs.values()] == [[0, 1, 2], [0, 1, 2]]
    assert len({plan.runs[r].activation for r in plan.cluster_jobs["train-0"]}) == 1


def test_gpu_slots_per_visible_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert plan_with({"gpu_slots": 3}).gpu_slot_limit == 6
    assert plan_with({}).gpu_slot_limit == 2  # default: one job per GPU
    assert plan_with({"device": "cpu", "gpu_slots": 3}).gpu_slot_limit == 0


def test_no_gpu_slot_limit_where_no_gpu_is_visible(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert plan_with({"device": "cuda", "gpu_slots": 4}).gpu_slot_limit == 0  # a login node: compute nodes decide


def test_speed_settings_are_not_part_of_any_run_id():
    plain = plan_with({})
    fast = plan_with({"precision": "bf16", "compile": True, "gpu_slots": 4, "runs_per_cluster_job": 5})
    assert list(plain.runs) == list(fast.runs)
    assert fast.execution.precision == "bf16" and fast.execution.compile


@pytest.mark.parametrize("key, value", [("precision", "fp16"), ("gpu_slots", 0), ("runs_per_cluster_job", 0),
                                        ("compile", "yes please")])
def test_bad_speed_settings_name_the_key(key, value):
    config = copy.deepcopy(TINY_CONFIG)
    config["execution"] = {key: value}
    with pytest.raises(ConfigError, match=f"execution.{key}"):
        validate_config(config)


def test_training_command_takes_precision_and_compile():
    args = build_parser().parse_args(["train", "--spec", "{}", "--run-dir", "x", "--precision", "bf16", "--compile"])
    assert args.precision == "bf16" and args.compile
    defaults = build_parser().parse_args(["train", "--spec", "{}", "--run-dir", "x"])
    assert defaults.precision == "auto" and not defaults.compile
