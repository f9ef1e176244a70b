"""Collect run folders into tidy tables: one row per run (`runs.csv`), one per run × epoch (`epochs.csv`).

Reads only what runs wrote (summary.json, epochs.csv), never training code, so analysis can be
re-done from results alone. A run without a valid summary is skipped and reported, not fatal.
Both tables follow the data dictionary (`data_dictionary`: column order, schema version), which
is written beside them as `dictionary.csv`; every row carries its provenance.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from trickbench.atomic import atomic_path
from trickbench.data_dictionary import conform, dictionary_frame, undefined_columns
from trickbench.logs import logging_to
from trickbench.models import MODELS
from trickbench.run import InvalidSummary
from trickbench.run_check import checked_run
from trickbench.spec import RunSpec, regularizer_label, resolve_level
from trickbench.techniques import FAMILIES

log = logging.getLogger("trickbench.collect")

#: columns every run row starts with; metrics and provenance follow
IDENTITY_COLUMNS = ["run_id", "seed", "varies", "data", "model", *FAMILIES, "epochs", "batch_size", "role", "base_lr",
                    "tuned_parameter", "tuned_value"]


@dataclass(frozen=True)
class RunRole:
    """What a run is for in its design (column `role`): `grid`, a design run at the config's values;
    `tuning`, a trial of design.tuning; `tuned`, a design run at its cell's tuned values;
    `grid+tuned`, both (the values chosen are the configured ones). `cell` is the design cell whose
    level labels the row carries, so `adam` tuned to lr 3e-3 stays level `adam` (its lr is in
    `base_lr`); `tuned_parameter`/`tuned_value` name the hyperparameter searched beside the lr."""

    role: str = "grid"
    cell: RunSpec | None = None
    tuned_parameter: str = ""
    tuned_value: float = math.nan


def compared_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs the report's comparisons rest on: the design's runs at their tuned values where the
    design was tuned, else at the config's values — never tuning trials. Tables without a `role`
    column (older results) are all grid runs."""
    if runs.empty or "role" not in runs:
        return runs
    roles = runs["role"].fillna("grid").astype(str).str.split("+")
    wanted = "tuned" if roles.map(lambda r: "tuned" in r).any() else "grid"
    return runs[roles.map(lambda r: wanted in r).to_numpy()]


@dataclass(frozen=True)
class Tables:
    runs: pd.DataFrame
    epochs: pd.DataFrame
    skipped: dict[str, str]  # run folder name -> why it has no row (written as skipped.csv)


def run_row(summary: Mapping[str, Any], baseline: Mapping[str, str] | None = None,
            role: RunRole | None = None) -> dict[str, Any]:
    """Flatten a summary into a table row: factor labels as columns (its design cell's, for a
    tuning or tuned run), its role, the spec kept as JSON."""
    spec = RunSpec.from_dict(summary["spec"])
    role = role or RunRole()
    labels = {family: (role.cell or spec).label(family) for family in FAMILIES}
    row: dict[str, Any] = {
        "run_id": summary["run_id"],
        "seed": spec.seed,
        "varies": varied_factor(labels, baseline),
        "data": spec.data.source.name,
        "model": _model_label(spec),
        **labels,
        "epochs": spec.train.epochs,
        "batch_size": spec.train.batch_size,
        "role": role.role,
        "base_lr": spec.optimizer.kwargs.get("lr", math.nan),
        "tuned_parameter": role.tuned_parameter,
        "tuned_value": role.tuned_value,
    }
    row.update({k: v for k, v in summary.items() if k not in ("spec", "run_id")})
    row["spec_json"] = spec.canonical_json()
    return row


def _model_label(spec: RunSpec) -> str:
    return MODELS.label(spec.model) if spec.model.params else spec.model.name


def varied_factor(labels: Mapping[str, str], baseline: Mapping[str, str] | None) -> str:
    """Which factor this run changes relative to the baseline: a family name, 'baseline', or
    'several' — what the per-factor figures of an ablation select on."""
    if not baseline:
        return "several"
    changed = [family for family in FAMILIES if labels[family] != baseline.get(family)]
    return changed[0] if len(changed) == 1 else ("baseline" if not changed else "several")


def collect(run_dirs: Iterable[Path], baseline: Mapping[str, str] | None = None,
            roles: Mapping[str, RunRole] | None = None) -> Tables:
    """One row per run that passes `run_check` (its summary is this folder's run, its epochs.csv
    agrees with it, every value has its column's type); every other run folder is skipped with
    its reason (a result is only what a run finished writing: its summary is written last, atomically).
    `roles` (run id → RunRole) says what each run is for; a run it does not list is a grid run.
    A folder listed twice is one run (a tuned run at the configured values is the grid's run)."""
    rows, epoch_rows, skipped = [], [], {}
    for run_dir in dict.fromkeys(map(Path, run_dirs)):
        try:
            summary, _, epochs = checked_run(run_dir)  # this folder's run, whole, every value of its type
            row = run_row(summary, baseline, (roles or {}).get(summary["run_id"]))
        except InvalidSummary as error:
            skipped[run_dir.name] = str(error)
            continue
        rows.append(row)
        epoch_rows += with_accounting(epochs, summary)
    for name, reason in skipped.items():
        log.warning("skipped run %s: %s", name, reason)
    tables = Tables(conform(pd.DataFrame(rows), "runs"), conform(pd.DataFrame(epoch_rows), "epochs"), skipped)
    for name, frame in (("runs", tables.runs), ("epochs", tables.epochs)):
        if undefined := undefined_columns(frame, name):
            log.warning("%s.csv has columns the data dictionary does not define (kept at the end): %s",
                        name, ", ".join(undefined))
    return tables


#: provenance copied onto every epoch row, so a row of either table says where it came from
EPOCH_PROVENANCE = ("git_commit", "torch_version", "cuda_version", "device_name", "deterministic", "numerics")


def with_accounting(rows: list[dict[str, Any]], summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Epoch rows with cumulative compute (training seconds, images, FLOPs) and provenance, so
    techniques can be compared at equal compute from this table alone."""
    per_epoch_images = summary.get("images_seen", math.nan) / max(summary.get("epochs_completed") or 1, 1)
    flops_per_grad_eval = summary.get("flops_per_grad_eval", math.nan)
    seconds = 0.0
    for row in rows:
        seconds += row["train_seconds"]
        row["cumulative_train_seconds"] = seconds
        row["images_seen"] = row["epoch"] * per_epoch_images
        row["cumulative_flops"] = row["grad_evals"] * flops_per_grad_eval
        row.update({key: summary.get(key) for key in EPOCH_PROVENANCE})
        row["seed"] = summary["spec"]["seed"]
    return rows


SKIPPED_COLUMNS = ["run_id", "reason"]


def skipped_frame(skipped: Mapping[str, str]) -> pd.DataFrame:
    """The skipped runs as a table (run_id, reason): what the report counts as missing."""
    return pd.DataFrame({"run_id": list(skipped), "reason": list(skipped.values())}, columns=SKIPPED_COLUMNS)


def write_tables(tables: Tables, runs_csv: Path, epochs_csv: Path, dictionary_csv: Path | None = None,
                 skipped_csv: Path | None = None) -> None:
    frames = [(tables.runs, runs_csv), (tables.epochs, epochs_csv)]
    frames += [(dictionary_frame(), dictionary_csv)] if dictionary_csv else []
    frames += [(skipped_frame(tables.skipped), skipped_csv)] if skipped_csv else []
    for frame, target in frames:
        with atomic_path(target) as tmp:
            frame.to_csv(tmp, index=False)


def collect_into(run_dirs: Iterable[Path], runs_csv: str | Path, epochs_csv: str | Path,
                 baseline: Mapping[str, str] | None, log_path: str | Path,
                 dictionary_csv: str | Path | None = None, *, skipped_csv: str | Path | None = None,
                 roles: Mapping[str, RunRole] | None = None) -> Tables:
    """The collect step of the workflow: read the runs, write both tables (and their data
    dictionary, and the list of runs skipped with why), log what was skipped."""
    with logging_to(log_path):
        tables = collect(run_dirs, baseline, roles)
        write_tables(tables, Path(runs_csv), Path(epochs_csv), Path(dictionary_csv) if dictionary_csv else None,
                     Path(skipped_csv) if skipped_csv else None)
        log.info("collected %d run(s) and %d epoch row(s); %d skipped", len(tables.runs), len(tables.epochs),
                 len(tables.skipped))
    return tables


def baseline_labels(config: Mapping[str, Any]) -> dict[str, str]:
    """Labels of the config's baseline levels, as `varied_factor` compares them."""
    labels = {}
    for family, registry in FAMILIES.items():
        level = resolve_level(family, config["baseline"][family], f"baseline.{family}")
        labels[family] = regularizer_label(level) if family == "regularizer" else registry.label(level)
    return labels
