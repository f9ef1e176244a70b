"""Ensembles: K independently seeded copies of the baseline, their probabilities averaged.

For k = 1..K the ensemble of the first k members is scored (accuracy, NLL, ECE with 15 bins) on
the test set, against the mean single member and the single member chosen on validation.
Members are the baseline with seeds 0..K−1, so the grid's baseline seeds are shared, not retrained.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from trickbench.design import baseline_spec
from trickbench.metrics import accuracy, expected_calibration_error, nll
from trickbench.report.figures import Tables, figure, placeholder
from trickbench.report.style import PALETTE, apply_theme
from trickbench.spec import RunSpec
from trickbench.studies import Study, is_enabled, register_study
from trickbench.studies.data import test_labels

NAME = "ensembles"
TITLE = "Ensembles"
METRICS = {"accuracy": accuracy, "nll": nll, "ece": expected_calibration_error}


def member_specs(config: Mapping[str, Any]) -> list[RunSpec]:
    return [baseline_spec(config, seed) for seed in range(config["studies"][NAME]["members"])]


def ensemble_curve(member_probabilities: list[np.ndarray], labels: np.ndarray) -> pd.DataFrame:
    """Metrics of the average of the first k members' probabilities, for k = 1..K."""
    total = np.zeros_like(member_probabilities[0], dtype=np.float64)
    rows = []
    for k, probabilities in enumerate(member_probabilities, start=1):
        total += probabilities
        rows.append({"k": k, **{name: fn(total / k, labels) for name, fn in METRICS.items()}})
    return pd.DataFrame(rows)


def analyze(config: Mapping[str, Any], run_dirs: list[Path]) -> dict[str, pd.DataFrame]:
    summaries = [json.loads((d / "summary.json").read_text()) for d in run_dirs]
    finished = [(d, s) for d, s in zip(run_dirs, summaries) if s["status"] == "ok"]
    if not finished:
        return {NAME: pd.DataFrame(columns=["k", "kind", "metric", "value"])}
    labels = test_labels(RunSpec.from_dict(finished[0][1]["spec"]), config)
    probabilities = [np.load(d / "test_probs.npy", allow_pickle=False).astype(np.float64) for d, _ in finished]
    curve = ensemble_curve(probabilities, labels)
    singles = pd.DataFrame([{name: fn(p, labels) for name, fn in METRICS.items()} for p in probabilities])
    chosen = int(np.argmax([s["final_val_acc"] for _, s in finished]))  # chosen on validation, not test
    rows = [{"k": row["k"], "kind": "ensemble", "metric": m, "value": row[m]} for row in curve.to_dict("records") for m in METRICS]
    rows += [{"k": np.nan, "kind": "mean single member", "metric": m, "value": singles[m].mean()} for m in METRICS]
    rows += [{"k": np.nan, "kind": "single member chosen on validation", "metric": m, "value": singles[m].iloc[chosen]}
             for m in METRICS]
    return {NAME: pd.DataFrame(rows)}


register_study(Study(NAME, TITLE, member_specs, analyze, tables=(NAME,), run_files=("summary.json", "test_probs.npy")))

LABELS = {"accuracy": "test accuracy (%)", "nll": "test NLL (nats)", "ece": "test ECE, 15 bins (%)"}
PERCENT = {"accuracy", "ece"}


@figure("ensemble_gain", title="Ensemble of k members vs single members", section=TITLE, tables=(NAME,),
        enabled=lambda config: is_enabled(config, NAME))
def ensemble_gain(tables: Tables, config: Mapping[str, Any]):
    apply_theme()
    data = tables[NAME]
    if data.empty:
        return placeholder("No ensemble member finished."), data
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, metric in zip(axes, METRICS):
        part = data[data.metric == metric]
        scale = 100 if metric in PERCENT else 1
        curve = part[part.kind == "ensemble"]
        ax.plot(curve["k"], scale * curve["value"], "o-", color=PALETTE[0], label="ensemble of the first k")
        for (kind, style), color in zip([("mean single member", ":"), ("single member chosen on validation", "--")], PALETTE[1:]):
            value = part.loc[part.kind == kind, "value"]
            ax.axhline(scale * value.iloc[0], linestyle=style, color=color, label=kind)
        ax.set(xlabel="members k", ylabel=LABELS[metric], xticks=curve["k"].astype(int))
    # one legend below the panels, outside them: it never covers a line
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, frameon=False)
    fig.suptitle("Averaging the probabilities of k independently seeded networks", x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig, data
