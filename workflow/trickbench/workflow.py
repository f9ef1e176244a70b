"""The bridge between Snakemake's `config` and the package: one validated plan per DAG.

The Snakefile calls `plan_from_config` once; everything a rule needs (the runs by id, the
execution settings, the baseline labels) comes from the returned `Plan`, so the DAG holds no
logic of its own and the command line (`trickbench plan`) sees exactly the same runs.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
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
    grid: list[str]  # ids of the factor grid's runs, in design order
    studies: dict[str, list[str]]  # enabled study -> ids of its runs, in the study's order
    execution: Execution
    baseline: dict[str, str]

    @property
    def uses_gpu(self) -> bool:
        """Whether training jobs should ask the scheduler for a GPU."""
        if self.execution.device == "auto":
            import torch

            return torch.cuda.is_available()
        return self.execution.device == "cuda"


def execution_from_config(config: Mapping[str, Any]) -> Execution:
    names = {f.name for f in fields(Execution)}
    return Execution(**{k: v for k, v in config["execution"].items() if k in names})


def plan_from_config(config: dict[str, Any], tables: str | Path | None = None) -> Plan:
    """Validate `config` in place (filling defaults) and expand the grid and the studies into runs.

    `studies` holds each study's first round. Where a two-round study's stage table already exists
    under `tables`, its second round joins `runs` too, so a process that parses the workflow after
    the checkpoint (a cluster job, `trickbench plan`) knows those specs by id."""
    from trickbench.studies.run import second_round

    validate_config(config)
    runs = {spec.run_id: spec for spec in expand(config)}
    grid = list(runs)
    studies = {}
    for study in enabled_studies(config):
        specs = study.runs(config)
        runs.update((spec.run_id, spec) for spec in specs)
        studies[study.name] = [spec.run_id for spec in specs]
        if study.stage is not None and tables is not None:
            runs.update((spec.run_id, spec) for spec in second_round(study, config, Path(tables) / f"{study.stage.table}.csv"))
    return Plan(config, runs, grid, studies, execution_from_config(config), baseline_labels(config))
