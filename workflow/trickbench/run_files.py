"""What a finished run folder holds, checked without importing torch.

A training job whose runs are all finished (a job rerun as a whole, e.g. after its data cache was
prepared again) should cost milliseconds, not the seconds of importing torch: `all_finished`
answers from the folders alone, before anything heavy is imported.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable

#: files every finished run folder holds (the training rules declare them as outputs)
RUN_OUTPUTS = ("summary.json", "epochs.csv", "test_probs.npy", "activations.csv", "val_logits.npy", "test_logits.npy")
#: the final weights, written only where kept (`execution.keep_weights`, or a study reads them)
WEIGHTS = "model.pt"
#: where the one file a training rule declares per run lies, `<TRAINED_DIR>/<run_id>`: an empty
#: marker that Snakemake touches once the whole job succeeded. The run's results are no declared
#: output on purpose: Snakemake deletes a failed job's outputs, and a job holds several runs, so a
#: run that finished must not be one of them (issue 23). Outside the run folder, so that a folder
#: holds the run's results alone and Snakemake's bookkeeping never changes one.
TRAINED_DIR = "results/trained"


def outputs(keep_weights: bool) -> tuple[str, ...]:
    return RUN_OUTPUTS + ((WEIGHTS,) if keep_weights else ())


def id_of_canonical(spec_json: str) -> str:
    """A run's id from its canonical JSON (`RunSpec.canonical_json`), as `RunSpec.run_id` computes it."""
    return hashlib.sha256(spec_json.encode()).hexdigest()[:12]


def summary_run_id(run_dir: Path) -> str | None:
    """The run id its summary.json names, or None when there is no readable summary."""
    try:
        with open(Path(run_dir) / "summary.json") as handle:
            summary = json.load(handle)
    except (OSError, ValueError):
        return None
    return summary.get("run_id") if isinstance(summary, dict) else None


def is_complete(run_dir: Path, run_id: str, names: Iterable[str]) -> bool:
    """Whether `run_dir` holds run `run_id`'s summary and every file of `names`."""
    return summary_run_id(run_dir) == run_id and all((Path(run_dir) / name).is_file() for name in names)


def all_finished(runs: Iterable[tuple[str, bool]], runs_dir: Path) -> bool:
    """Whether every run, given as (canonical spec JSON, keeps its weights), is complete under `runs_dir`."""
    for spec_json, keep_weights in runs:
        run_id = id_of_canonical(spec_json)
        if not is_complete(Path(runs_dir) / run_id, run_id, outputs(keep_weights)):
            return False
    return True


def stale_markers(runs: Iterable[tuple[str, bool]], runs_dir: Path, markers_dir: Path) -> list[Path]:
    """The markers (under `markers_dir`) of runs, given as (run id, keeps its weights), whose folder
    under `runs_dir` no longer holds the finished run (deleted, a file damaged, weights wanted
    since): while such a marker stands, Snakemake would take the run as done, so the workflow
    removes it before building its DAG."""
    stale = []
    for run_id, keep_weights in runs:
        marker = Path(markers_dir) / run_id
        if marker.exists() and not is_complete(Path(runs_dir) / run_id, run_id, outputs(keep_weights)):
            stale.append(marker)
    return stale
