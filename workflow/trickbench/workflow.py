"""The bridge between Snakemake's `config` and the package: one validated plan per DAG.

The Snakefile calls `plan_from_config` once; everything a rule needs (the runs by id, the
execution settings, the baseline labels) comes from the returned `Plan`, so the DAG holds no
logic of its own and the command line (`trickbench plan`) sees exactly the same runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from trickbench.collect import baseline_labels
from trickbench.config import validate_config
from trickbench.design import expand
from trickbench.run import Execution
from trickbench.spec import RunSpec
from trickbench.studies import enabled_studies


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
    def cluster_jobs(self) -> dict[str, list[str]]:
        """Group name → the runs that share one cluster job (`execution.runs_per_cluster_job` of
        them, consecutive in plan order, so a combination's seeds travel together); empty when
        every run is its own job. Tuned runs read from an earlier choice table stay out: a
        checkpoint about to choose again may drop them, and `rule all` asks for every group."""
        later = set(self.tuned) - set(self.grid)
        return cluster_job_groups([run_id for run_id in self.runs if run_id not in later],
                                  self.config["execution"]["runs_per_cluster_job"])


def cluster_job_groups(run_ids: list[str], runs_per_job: int) -> dict[str, list[str]]:
    """Consecutive chunks of `runs_per_job` runs, named train-0, train-1, …; none for 1."""
    if runs_per_job <= 1:
        return {}
    return {f"train-{i // runs_per_job}": run_ids[i:i + runs_per_job] for i in range(0, len(run_ids), runs_per_job)}


def execution_from_config(config: Mapping[str, Any]) -> Execution:
    names = {f.name for f in fields(Execution)}
    return Execution(**{k: v for k, v in config["execution"].items() if k in names})


def plan_from_config(config: dict[str, Any], tables: str | Path | None = None) -> Plan:
    """Validate `config` in place (filling defaults) and expand the grid and the studies into runs.

    `studies` holds each study's first round. Where a two-round study's stage table already exists
    under `tables`, its second round joins `runs` too, so a process that parses the workflow after
    the checkpoint (a cluster job, `trickbench plan`) knows those specs by id. So do the tuned runs
    of `design.tuning` once its choice table exists there (`tuning`: its trials)."""
    from trickbench.studies.run import second_round
    from trickbench.tuning import CHOICE_TABLE, trials, tuned_runs_from

    validate_config(config)
    runs = {spec.run_id: spec for spec in expand(config)}
    grid = list(runs)
    tuning = [trial.spec for trial in trials(config)]
    tuned = [run.spec for run in tuned_runs_from(config, Path(tables) / f"{CHOICE_TABLE}.csv")] if tables is not None else []
    runs.update((spec.run_id, spec) for spec in [*tuning, *tuned])
    studies = {}
    for study in enabled_studies(config):
        specs = study.runs(config)
        runs.update((spec.run_id, spec) for spec in specs)
        studies[study.name] = [spec.run_id for spec in specs]
        if study.stage is not None and tables is not None:
            runs.update((spec.run_id, spec) for spec in second_round(study, config, Path(tables) / f"{study.stage.table}.csv"))
    return Plan(config, runs, grid, studies, execution_from_config(config), baseline_labels(config),
                [spec.run_id for spec in tuning], list(dict.fromkeys(spec.run_id for spec in tuned)))
