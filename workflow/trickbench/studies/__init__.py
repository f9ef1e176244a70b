"""Studies: the phenomena of training, each a named entry with its own runs, tables and figures.

A study asks the workflow for training runs (plain `RunSpec`s, trained by the same `train` rule
as the grid, so a run shared with the grid or another study is trained once), then turns the
finished run folders into tables under results/tables/. Its figures register in the figure
registry under the study's section. Each study has a section `studies.<name>` in config.yaml
with `enabled` and its own sizes; `--config studies=all` turns every study on. This module is the
registry, below the studies; `trickbench.studies.registered` imports them all.

A study may run in two rounds (`Stage`): the first round's runs are summarized into a table that
is a Snakemake checkpoint, and the second round's runs are chosen from that table (a fine search
around the best coarse value). The DAG stays honest: second-round runs exist only once the
table they are chosen from does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd

from trickbench.spec import RunSpec

Analyze = Callable[[Mapping[str, Any], list[Path]], dict[str, pd.DataFrame]]


@dataclass(frozen=True)
class Stage:
    """The first round of a two-round study: its summary table, and the runs chosen from it."""

    table: str  # results/tables/<table>.csv, written from the first round's run folders
    summarize: Callable[[Mapping[str, Any], list[Path]], pd.DataFrame]  # (config, first-round folders) -> table
    next_runs: Callable[[Mapping[str, Any], pd.DataFrame], list[RunSpec]]  # (config, table) -> second round


@dataclass(frozen=True)
class Study:
    name: str
    title: str  # its section in the report
    runs: Callable[[Mapping[str, Any]], list[RunSpec]]  # training runs it needs, from the config
    analyze: Analyze  # (config, its run folders in `runs` order) -> {table name: table}
    tables: tuple[str, ...]  # the tables `analyze` returns, written to results/tables/<name>.csv
    run_files: tuple[str, ...] = ("summary.json",)  # files of each run folder `analyze` reads
    stage: Stage | None = None  # two rounds: `runs` is the first, `analyze` gets both rounds' folders


STUDIES: dict[str, Study] = {}


def register_study(study: Study) -> Study:
    if study.name in STUDIES:
        raise ValueError(f"study '{study.name}' is registered twice")
    STUDIES[study.name] = study
    return study


def is_enabled(config: Mapping[str, Any], name: str) -> bool:
    return bool(config.get("studies", {}).get(name, {}).get("enabled", False))
