"""The workflow step of a study: analyze its finished run folders, write its tables atomically."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

from trickbench.atomic import atomic_path
from trickbench.errors import DataError, one_line
from trickbench.logs import logging_to
from trickbench.report.figures import read_table
from trickbench.run import InvalidSummary
from trickbench.run_check import checked_run
from trickbench.studies import Study
from trickbench.studies.registered import load_all

log = logging.getLogger("trickbench.studies")


class DamagedMember(DataError):
    """A run a study reads is not whole; the message names the study, the run and the file."""


def check_members(name: str, study: Study, run_dirs: Sequence[Path]) -> None:
    """Stop in one line naming the run and the file when a run the study reads is not whole: its
    summary and epochs.csv as collect checks them (`run_check`), each .npy file it reads readable
    to its last byte, each other file present. Without this, a truncated test_probs.npy of one
    ensemble member ended the study in a traceback naming neither."""
    import numpy as np

    for run_dir in run_dirs:
        try:
            checked_run(run_dir)
        except InvalidSummary as error:
            raise DamagedMember(f"study {name}: run {run_dir.name} is not whole: {error}") from None
        for file in study.run_files:
            path = run_dir / file
            if not path.is_file():
                raise DamagedMember(f"study {name}: run {run_dir.name} lacks {file}")
            if file.endswith(".npy"):
                try:
                    np.load(path, allow_pickle=False)
                except (OSError, ValueError, EOFError) as error:
                    raise DamagedMember(f"study {name}: run {run_dir.name}: {file} is unreadable ({one_line(error, 120)}); "
                                        f"delete {run_dir} and run the workflow again to retrain it") from None


def analyze_study(name: str, config: Mapping[str, Any], run_dirs: Sequence[str | Path], outputs: Sequence[str | Path],
                  log_path: str | Path) -> None:
    """The study's tables from its run folders; a damaged member stops it in one line (the rule
    keeps the tables it had: its outputs are update(), restored when it fails)."""
    study = load_all()[name]
    with logging_to(log_path):
        check_members(name, study, [Path(d) for d in run_dirs])
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
        check_members(name, load_all()[name], [Path(d) for d in run_dirs])
        table = stage.summarize(config, [Path(d) for d in run_dirs])
        with atomic_path(output) as tmp:
            table.to_csv(tmp, index=False)
        log.info("study %s: first round of %d run(s) summarized into %s", name, len(run_dirs), output)


def second_round(study: Study, config: Mapping[str, Any], table: str | Path) -> list:
    """The runs a two-round study chooses from its stage table (none while the table is missing)."""
    if study.stage is None or not Path(table).is_file():
        return []
    return study.stage.next_runs(config, read_table(Path(table)))
