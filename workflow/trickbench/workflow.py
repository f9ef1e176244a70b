"""The bridge between Snakemake's `config` and the package: one validated plan per DAG.

The Snakefile calls `plan_from_config` once; everything a rule needs (the runs by id, the
execution settings, the baseline labels) comes from the returned `Plan`, so the DAG holds no
logic of its own and the command line (`trickbench plan`) sees exactly the same runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from trickbench.collect import baseline_labels
from trickbench.config import validate_config
from trickbench.design import expand
from trickbench.run import Execution
from trickbench.spec import RunSpec
from trickbench.studies import STUDIES
from trickbench.studies.registered import enabled_studies
from trickbench.studies.run import second_round
from trickbench.tuning import CHOICE_TABLE, trials, tuned_runs_from


@dataclass(frozen=True)
class Plan:
    config: Mapping[str, Any]
    runs: dict[str, RunSpec]  # every run to train, grid and studies, by id (a shared run once)
    grid: list[str]  # ids of the factor grid's runs at the config's values, in design order
    studies: dict[str, list[str]]  # enabled study -> ids of its runs, in the study's order
    execution: Execution
    baseline: dict[str, str]
    tuning: list[str] = field(default_factory=list)  # design.tuning's trials (stage 1), cells in design order
    tuned: list[str] = field(default_factory=list)  # the seeds at the tuned values, once the choice table exists
    #: ids known from the config alone — the grid, the tuning trials, then the studies' first
    #: rounds — in plan order: every parse of the workflow (the login node's, each cluster job's)
    #: makes the same list, so the jobs cut from it are the same everywhere; tuned runs and second
    #: rounds, chosen later from a table, are not in it
    planned: list[str] = field(default_factory=list)

    @property
    def uses_gpu(self) -> bool:
        """Whether training jobs should ask the scheduler for a GPU."""
        if self.execution.device == "auto":
            import torch

            return torch.cuda.is_available()
        return self.execution.device == "cuda"

    @property
    def gpu_slot_limit(self) -> int:
        """How many GPU training jobs this machine runs at once: visible GPUs × `execution.gpu_slots`
        (0 where no GPU is visible, e.g. a cluster's login node: the compute nodes decide there)."""
        if not self.uses_gpu:
            return 0
        import torch

        return torch.cuda.device_count() * self.config["execution"]["gpu_slots"]

    @property
    def jobs(self) -> list[list[str]]:
        """The runs each training process trains when `execution.runs_per_job` N > 1: N consecutive
        runs of `planned` each (so a configuration's seeds share a process, and a seed group
        where they may); empty when every run is its own job."""
        size = self.config["execution"]["runs_per_job"]
        return [self.planned[i:i + size] for i in range(0, len(self.planned), size)] if size > 1 else []

    @property
    def cluster_jobs(self) -> dict[str, list[str]]:
        """Group name → the runs that share one cluster job: `execution.runs_per_cluster_job` of
        them, rounded up to whole training jobs (`jobs`), consecutive in plan order so that a
        combination's seeds travel together; empty when every training job is its own cluster job."""
        execution = self.config["execution"]
        per_group = math.ceil(execution["runs_per_cluster_job"] / execution["runs_per_job"])
        return cluster_job_groups(self.jobs or [[run_id] for run_id in self.planned], per_group)

    @property
    def weights_kept(self) -> set[str] | None:
        """Runs whose final weights (model.pt) are written: those a study reads (its `run_files`
        name model.pt; mode connectivity's endpoints), or every run (None) with
        `execution.keep_weights`."""
        if self.config["execution"]["keep_weights"]:
            return None
        return {run_id for name, run_ids in self.studies.items() if "model.pt" in STUDIES[name].run_files
                for run_id in run_ids}


def cluster_job_groups(jobs: list[list[str]], jobs_per_group: int) -> dict[str, list[str]]:
    """The runs of `jobs_per_group` consecutive training jobs per group, named train-0, train-1, …;
    none when a group would hold one job."""
    if jobs_per_group <= 1:
        return {}
    return {f"train-{i // jobs_per_group}": [run_id for job in jobs[i:i + jobs_per_group] for run_id in job]
            for i in range(0, len(jobs), jobs_per_group)}


def execution_from_config(config: Mapping[str, Any]) -> Execution:
    names = {f.name for f in fields(Execution)}
    return Execution(**{k: v for k, v in config["execution"].items() if k in names})


def plan_from_config(config: dict[str, Any], tables: str | Path | None = None) -> Plan:
    """Validate `config` in place (filling defaults) and expand the grid and the studies into runs.

    `studies` holds each study's first round. Where a two-round study's stage table already exists
    under `tables`, its second round joins `runs` too, so a process that parses the workflow after
    the checkpoint (a cluster job, `trickbench plan`) knows those specs by id. So do the tuned runs
    of `design.tuning` once its choice table exists there (`tuning`: its trials)."""
    validate_config(config)
    runs = {spec.run_id: spec for spec in expand(config)}
    grid = list(runs)
    tuning = [trial.spec for trial in trials(config)]
    runs.update((spec.run_id, spec) for spec in tuning)
    studies, staged = {}, []
    for study in enabled_studies(config):
        specs = study.runs(config)
        runs.update((spec.run_id, spec) for spec in specs)
        studies[study.name] = [spec.run_id for spec in specs]
        if study.stage is not None and tables is not None:
            staged.append(study)
    planned = list(runs)
    tuned = [run.spec for run in tuned_runs_from(config, Path(tables) / f"{CHOICE_TABLE}.csv")] if tables is not None else []
    runs.update((spec.run_id, spec) for spec in tuned)
    for study in staged:
        runs.update((spec.run_id, spec) for spec in second_round(study, config, Path(tables) / f"{study.stage.table}.csv"))
    return Plan(config, runs, grid, studies, execution_from_config(config), baseline_labels(config),
                [spec.run_id for spec in tuning], list(dict.fromkeys(spec.run_id for spec in tuned)), planned)
