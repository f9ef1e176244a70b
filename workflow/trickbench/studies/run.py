"""The workflow step of a study: analyze its finished run folders, write its tables atomically."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

from trickbench.atomic import atomic_path
from trickbench.logs import logging_to
from trickbench.report.figures import read_table
from trickbench.studies import Study
from trickbench.studies.registered import load_all

log = logging.getLogger("trickbench.studies")


def analyze_study(name: str, config: Mapping[str, Any], run_dirs: Sequence[str | Path], outputs: Sequence[str | Path],
                  log_path: str | Path) -> None:
    study = load_all()[name]
    with logging_to(log_path):
        tables = study.analyze(config, [Path(d) for d in run_dirs])
        for table, target in zip(study.tables, outputs):
            with atomic_path(target) as tmp:
                tables[table].to_csv(tmp, index=False)
            log.info("study %s: wrote %s (%d rows) from %d run(s)", name, target, len(tables[table]), len(run_dirs))


def summarize_stage(name: str, config: Mapping[str, Any], run_dirs: Sequence[str | Path], output: str | Path,
                    log_path: str | Path) -> None:
    """The checkpoint step of a two-round study: its first round's folders → the stage table."""
    stage = load_all()[name].stage
    with logging_to(log_path):
        table = stage.summarize(config, [Path(d) for d in run_dirs])
        with atomic_path(output) as tmp:
            table.to_csv(tmp, index=False)
        log.info("study %s: first round of %d run(s) summarized into %s", name, len(run_dirs), output)


def second_round(study: Study, config: Mapping[str, Any], table: str | Path) -> list:
    """The runs a two-round study chooses from its stage table (none while the table is missing)."""
    if study.stage is None or not Path(table).is_file():
        return []
    return study.stage.next_runs(config, read_table(Path(table)))
