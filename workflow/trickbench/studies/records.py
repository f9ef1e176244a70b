"""A study's finished run folders, read once: summary, spec and (on demand) the epoch table.

Studies read what runs wrote, never a live model, so an analysis can be redone from results/ alone.
Runs that did not end `ok` (diverged) are left out of a study's statistics and logged.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from trickbench.spec import RunSpec

log = logging.getLogger("trickbench.studies")


@dataclass(frozen=True)
class FinishedRun:
    run_dir: Path
    summary: dict[str, Any] = field(repr=False)

    @property
    def run_id(self) -> str:
        return self.summary["run_id"]

    @cached_property
    def spec(self) -> RunSpec:
        return RunSpec.from_dict(self.summary["spec"])

    @cached_property
    def epochs(self) -> pd.DataFrame:
        """The rows of the trained epochs, 1…n: the studies read what training did, so the untrained
        model's row (epoch 0, where the spec asks for one: train.evaluate_at_epoch_0) is left out."""
        epochs = pd.read_csv(self.run_dir / "epochs.csv")
        return epochs[epochs["epoch"] >= 1].reset_index(drop=True)

    def array(self, name: str) -> np.ndarray:
        """A float64 copy of one of the run's .npy files (e.g. 'test_probs')."""
        return np.load(self.run_dir / f"{name}.npy", allow_pickle=False).astype(np.float64)


def finished_runs(run_dirs: Iterable[Path]) -> list[FinishedRun]:
    """The runs among `run_dirs` (in their order) whose status is `ok`."""
    runs, left_out = [], []
    for run_dir in map(Path, run_dirs):
        summary = json.loads((run_dir / "summary.json").read_text())
        (runs if summary["status"] == "ok" else left_out).append(FinishedRun(run_dir, summary))
    if left_out:
        log.warning("%d run(s) left out, not ok: %s", len(left_out),
                    ", ".join(f"{r.run_id} ({r.summary['status']})" for r in left_out))
    return runs
