"""Execution settings for speed and scale (precision, compile, GPU slots, runs per cluster job):
how the plan turns them into Snakemake's resources and groups, and that none of them is part of
any run's identity."""

from __future__ import annotations

import copy

import pandas as pd
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


@given(n=st.integers(0, 60), size=st.integers(1, 12), jobs_per_group=st.integers(1, 6))
def test_cluster_jobs_hold_whole_training_jobs_and_cover_every_run_once_in_plan_order(n, size, jobs_per_group):
    runs = [f"{i:012x}" for i in range(n)]
    jobs = [runs[i:i + size] for i in range(0, n, size)]
    groups = cluster_job_groups(jobs, jobs_per_group)
    if jobs_per_group == 1:
        assert groups == {}
        return
    assert [run for members in groups.values() for run in members] == runs
    assert list(groups) == [f"train-{i}" for i in range(len(groups))]
    assert all(len(members) == size * jobs_per_group for members in list(groups.values())[:-1])
    assert all(not set(job) - set(members) for job in jobs for members in groups.values() if set(job) & set(members))


def test_a_combinations_seeds_share_a_cluster_job():
    plan = plan_with({"runs_per_cluster_job": 3})  # 2 combinations × 3 seeds
    assert [[plan.runs[r].seed for r in members] for members in plan.cluster_jobs.values()] == [[0, 1, 2], [0, 1, 2]]
    assert len({plan.runs[r].activation for r in plan.cluster_jobs["train-0"]}) == 1


def test_training_jobs_are_consecutive_runs_of_the_plan():
    plan = plan_with({"runs_per_job": 4})  # 2 combinations × 3 seeds = 6 runs
    assert plan.jobs == [plan.planned[:4], plan.planned[4:]] and plan.planned == list(plan.runs)
    assert plan_with({}).jobs == []  # one run per job


def test_a_cluster_job_is_rounded_up_to_whole_training_jobs():
    plan = plan_with({"runs_per_job": 2, "runs_per_cluster_job": 3})  # 6 runs: jobs of 2, groups of 2 jobs
    assert list(plan.cluster_jobs.values()) == [plan.planned[:4], plan.planned[4:]]
    assert plan_with({"runs_per_job": 4, "runs_per_cluster_job": 3}).cluster_jobs == {}  # one job per group: no groups


def test_second_round_runs_stay_out_of_the_jobs_cut_from_the_config(tmp_path):
    """A two-round study's second round is chosen from a table that appears while the workflow
    runs; a parse after it (a cluster job's) must cut the same jobs as the parse before it."""
    from trickbench.studies import STUDIES
    from trickbench.studies.registered import load_all

    load_all()
    config = copy.deepcopy(TINY_CONFIG)
    config["studies"] = {"lr_search": {"enabled": True, "coarse": {"samples": 3, "epochs": 1},
                                       "fine": {"samples": 2, "epochs": 1, "width_decades": 1.0}}}
    config["execution"] = {"runs_per_job": 2}
    before = plan_from_config(copy.deepcopy(config), tables=tmp_path)
    coarse = [before.runs[r] for r in before.studies["lr_search"]]
    first_round = pd.DataFrame([{"stage": "coarse", "run_id": spec.run_id, "lr": spec.optimizer.kwargs["lr"],
                                 "strength": 1e-3, "status": "ok", "val_acc": 0.3 + 0.1 * i, "test_acc": 0.3,
                                 "epochs_completed": 1} for i, spec in enumerate(coarse)])
    first_round.to_csv(tmp_path / f"{STUDIES['lr_search'].stage.table}.csv", index=False)
    after = plan_from_config(copy.deepcopy(config), tables=tmp_path)
    assert len(after.runs) == len(before.runs) + 2  # the fine round joined the runs ...
    assert after.jobs == before.jobs and after.planned == before.planned  # ... but not the jobs


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


def test_weights_are_kept_for_the_runs_a_study_reads_or_for_all_when_asked():
    config = copy.deepcopy(TINY_CONFIG)
    config["studies"] = {"mode_connectivity": {"enabled": True, "seeds": [0, 1]}}
    plan = plan_from_config(config)
    assert plan.weights_kept == set(plan.studies["mode_connectivity"]) and len(plan.weights_kept) == 2
    assert plan_with({}).weights_kept == set()  # no study reads weights
    assert plan_with({"keep_weights": True}).weights_kept is None  # every run


def test_speed_settings_are_not_part_of_any_run_id():
    plain = plan_with({})
    fast = plan_with({"precision": "bf16", "compile": True, "gpu_slots": 4, "runs_per_cluster_job": 5,
                      "runs_per_job": 3, "seed_groups": "always", "keep_weights": True})
    assert list(plain.runs) == list(fast.runs)
    assert fast.execution.precision == "bf16" and fast.execution.compile


@pytest.mark.parametrize("key, value", [("precision", "fp16"), ("gpu_slots", 0), ("runs_per_cluster_job", 0),
                                        ("compile", "yes please"), ("runs_per_job", 0), ("runs_per_job", 1001),
                                        ("seed_groups", "sometimes"), ("keep_weights", "maybe")])
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
