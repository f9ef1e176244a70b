"""Results tables without training: real run specs from a config, made-up metrics with known
effects, written as the workflow's collect step writes them (through `collect.run_row`), so that
report code is tested on exactly the columns it meets in practice — at any size, in seconds."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from trickbench.collect import run_row, with_accounting
from trickbench.data_dictionary import conform
from trickbench.run import METRICS
from trickbench.spec import RunSpec
from trickbench.techniques import FAMILIES
from trickbench.workflow import plan_from_config

#: a 5·5·2·4·5 = 1,000-combination full design (one seed): the report's large case
THOUSAND_FACTORS = {
    "activation": ["relu", "tanh", "sigmoid", "gelu", "elu"],
    "init": ["he_normal", "xavier_normal", "orthogonal", "default", "small_gaussian"],
    "norm": ["batch", "none"],
    "regularizer": ["none", "l2", "dropout", "augment"],
    "optimizer": ["sgd", "momentum", "nesterov", "adam", {"name": "sgd", "lr": 0.1}],
}
PROVENANCE = {"trickbench_version": "0.1.0", "git_commit": "0123456789ab", "python_version": "3.11.2",
              "torch_version": "2.14.1", "cuda_version": "none", "device": "cpu", "device_name": "x86_64",
              "torch_threads": 1, "deterministic": False}


def grid_config(base: Mapping[str, Any], design: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `design` and no studies (their tables are not synthesized)."""
    config = copy.deepcopy(dict(base))
    config["design"] = copy.deepcopy(dict(design))
    config["studies"] = "none"
    return config


def write_tables(folder: Path, config: dict[str, Any], effects: Mapping[tuple[str, str], float] | None = None,
                 status: Callable[[RunSpec], str] = lambda spec: "ok", noise: float = 0.5, seed: int = 0) -> pd.DataFrame:
    """runs.csv and epochs.csv in `folder` for every grid run of `config`. A run's final test
    accuracy is 40 % plus the `effects` (points) of its levels plus Gaussian noise (sd `noise`
    points); validation is 1 point above test, training 30 above. Runs whose `status` is not
    'ok' stop after one epoch with NaN losses, as a diverged run does: its accuracies stay finite
    numbers (NaN logits argmax to class 0), which is why the report selects on status."""
    plan = plan_from_config(config)
    rng = np.random.default_rng(seed)
    runs, epoch_rows = [], []
    for run_id in plan.grid:
        spec = plan.runs[run_id]
        test = 0.40 + (sum((effects or {}).get((f, spec.label(f)), 0.0) for f in FAMILIES) + rng.normal(0, noise)) / 100
        state = status(spec)
        epochs = spec.train.epochs
        history = [epoch_row(epoch, epochs, test) for epoch in range(1, epochs + 1)] if state == "ok" else [
            {**epoch_row(1, epochs, test), "train_loss": math.nan, "val_loss": math.nan, "test_loss": math.nan}]
        record = summary(spec, state, history)
        runs.append(run_row(record, plan.baseline))
        epoch_rows += with_accounting([{"run_id": run_id, **row} for row in history], record)
    folder.mkdir(parents=True, exist_ok=True)
    table = conform(pd.DataFrame(runs), "runs")  # the columns and order collect writes
    table.to_csv(folder / "runs.csv", index=False)
    conform(pd.DataFrame(epoch_rows), "epochs").to_csv(folder / "epochs.csv", index=False)
    return table


def epoch_row(epoch: int, epochs: int, test: float) -> dict[str, float]:
    progress = epoch / epochs
    return {"epoch": epoch, "lr": 0.05 * (1 - progress), "train_loss": 2.3 - 1.5 * progress,
            "train_acc": (test + 0.30) * progress, "train_eval_loss": 2.3 - 1.6 * progress,
            "train_eval_acc": (test + 0.35) * progress, "val_loss": 2.3 - 0.5 * progress, "val_acc": (test + 0.01) * progress,
            "test_loss": 2.3 - 0.5 * progress, "test_acc": test * progress, "grad_evals": 10.0 * epoch,
            "train_seconds": 1.5, "images_per_s": 2000.0}


def summary(spec: RunSpec, state: str, history: list[dict[str, float]]) -> dict[str, Any]:
    last = history[-1]
    finite = lambda value: value if math.isfinite(value) else None  # as run.summarize writes them
    result = {"run_id": spec.run_id, "spec": spec.to_dict(), "status": state, "epochs_completed": len(history),
              "stopped_early": False, "returned_epoch": last["epoch"], "best_val_acc_epoch": last["epoch"], "n_parameters": 1234,
              "train_seconds": 1.5 * len(history), "wall_seconds": 2.0 * len(history), "images_per_s": 2000.0,
              "grad_evals": int(last["grad_evals"]), **PROVENANCE}
    for metric in METRICS:
        result[f"final_{metric}"] = result[f"last_epoch_{metric}"] = result[f"best_{metric}"] = finite(last[metric])
    return result


def render_report(tables: Path, config: Mapping[str, Any], out: Path) -> Path:
    """Every enabled figure and the HTML page from the tables in `tables`, as `trickbench report` does."""
    from trickbench.report.render import render_all
    from trickbench.report.html import write_report

    render_all(tables, config, out / "figures")
    write_report(tables, out / "figures", config, out / "report.html")
    return out / "report.html"
