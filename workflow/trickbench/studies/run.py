"""The workflow step of a study: analyze its finished run folders, write its tables atomically."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

from trickbench.atomic import atomic_path
from trickbench.logs import logging_to
from trickbench.studies import load_all

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
