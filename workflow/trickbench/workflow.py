"""The bridge between Snakemake's `config` and the package: one validated plan per DAG.

The Snakefile calls `plan_from_config` once; everything a rule needs (the runs by id, the
execution settings, the baseline labels) comes from the returned `Plan`, so the DAG holds no
logic of its own and the command line (`trickbench plan`) sees exactly the same runs.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from trickbench.collect import baseline_labels
from trickbench.config import validate_config
from trickbench.design import expand
from trickbench.run import Execution
from trickbench.spec import RunSpec


@dataclass(frozen=True)
class Plan:
    config: Mapping[str, Any]
    runs: dict[str, RunSpec]
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


def plan_from_config(config: dict[str, Any]) -> Plan:
    """Validate `config` in place (filling defaults) and expand its design into runs."""
    validate_config(config)
    specs = expand(config)
    return Plan(config, {spec.run_id: spec for spec in specs}, execution_from_config(config), baseline_labels(config))
