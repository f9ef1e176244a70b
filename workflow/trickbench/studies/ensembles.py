"""Ensembles: K independently seeded copies of the baseline, their probabilities averaged.

For k = 1..K the ensemble of the first k members is scored (accuracy, NLL, ECE with 15 bins) on
the test set, against the mean single member and the single member chosen on validation.
Members are the baseline with seeds 0..K−1, so the grid's baseline seeds are shared, not retrained.

MC dropout is the cheap ensemble (Gal & Ghahramani 2016): the baseline with dropout p added is
trained with the same K seeds, and T test passes with dropout left on are averaged
(`train.mc_dropout`); for t = 1..T the average of the first t passes is scored like the ensemble of
k members, against the same network's single deterministic pass (dropout's weight scaling).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from trickbench.design import baseline_spec
from trickbench.metrics import accuracy, expected_calibration_error, nll
from trickbench.report.figures import Tables, figure, placeholder
from trickbench.report.stats import grouped_ci
from trickbench.report.style import PALETTE, apply_theme, integer_ticks
from trickbench.spec import RunSpec, resolve_regularizers
from trickbench.studies import Study, is_enabled, register_study
from trickbench.studies.data import test_labels
from trickbench.studies.records import finished_runs

NAME = "ensembles"
TITLE = "Ensembles"
MC_DROPOUT = f"{NAME}_mc_dropout"
METRICS = {"accuracy": accuracy, "nll": nll, "ece": expected_calibration_error}


def member_specs(config: Mapping[str, Any]) -> list[RunSpec]:
    return [baseline_spec(config, seed) for seed in range(config["studies"][NAME]["members"])]


def mc_dropout_specs(config: Mapping[str, Any]) -> list[RunSpec]:
    """The members with dropout p (replacing any the baseline has) and T stochastic test passes."""
    section = config["studies"][NAME]
    if not section["mc_dropout_passes"]:
        return []
    specs = []
    for member in member_specs(config):
        others = [t.as_dict() for t in member.regularizer if t.name != "dropout"]
        regularizer = resolve_regularizers([*others, {"name": "dropout", "p": section["mc_dropout_p"]}],
                                           f"studies.{NAME}.mc_dropout_p")
        specs.append(dataclasses.replace(member, regularizer=regularizer, train=dataclasses.replace(
            member.train, mc_dropout_passes=section["mc_dropout_passes"])))
    return specs


def study_specs(config: Mapping[str, Any]) -> list[RunSpec]:
    return member_specs(config) + mc_dropout_specs(config)


def ensemble_curve(member_probabilities: list[np.ndarray], labels: np.ndarray) -> pd.DataFrame:
    """Metrics of the average of the first k members' probabilities, for k = 1..K."""
    total = np.zeros_like(member_probabilities[0], dtype=np.float64)
    rows = []
    for k, probabilities in enumerate(member_probabilities, start=1):
        total += probabilities
        rows.append({"k": k, **{name: fn(total / k, labels) for name, fn in METRICS.items()}})
    return pd.DataFrame(rows)


def mc_dropout_curve(pass_probabilities: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    """Metrics of the average of the first t stochastic passes (passes×N×classes), t = 1..T."""
    curve = ensemble_curve(list(pass_probabilities), labels)
    return curve.rename(columns={"k": "passes"})


def analyze(config: Mapping[str, Any], run_dirs: list[Path]) -> dict[str, pd.DataFrame]:
    members = len(member_specs(config))
    return {**analyze_members(config, run_dirs[:members]), MC_DROPOUT: analyze_mc_dropout(config, run_dirs[members:])}


def analyze_mc_dropout(config: Mapping[str, Any], run_dirs: list[Path]) -> pd.DataFrame:
    """Per MC-dropout run: the curve over passes t, and its single deterministic pass."""
    rows = []
    for run in finished_runs(run_dirs):
        labels = test_labels(run.spec, config)
        curve = mc_dropout_curve(run.array("test_probs_mc_dropout"), labels)
        rows += [{"seed": run.spec.seed, "passes": row["passes"], "kind": "MC dropout", "metric": m, "value": row[m]}
                 for row in curve.to_dict("records") for m in METRICS]
        deterministic = run.array("test_probs")
        rows += [{"seed": run.spec.seed, "passes": np.nan, "kind": "dropout net, deterministic pass", "metric": m,
                  "value": fn(deterministic, labels)} for m, fn in METRICS.items()]
    return pd.DataFrame(rows, columns=["seed", "passes", "kind", "metric", "value"])


def analyze_members(config: Mapping[str, Any], run_dirs: list[Path]) -> dict[str, pd.DataFrame]:
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


# MC-dropout runs also write test_probs_mc_dropout.npy, before summary.json (so it exists once the run is done)
register_study(Study(NAME, TITLE, study_specs, analyze, tables=(NAME, MC_DROPOUT),
                     run_files=("summary.json", "test_probs.npy")))

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


def _mc_dropout_enabled(config: Mapping[str, Any]) -> bool:
    return is_enabled(config, NAME) and config["studies"][NAME]["mc_dropout_passes"] > 0


@figure("mc_dropout", title="MC dropout: T stochastic passes vs k ensemble members", section=TITLE,
        tables=(NAME, MC_DROPOUT), enabled=_mc_dropout_enabled)
def mc_dropout(tables: Tables, config: Mapping[str, Any]):
    apply_theme()
    members, passes = tables[NAME], tables[MC_DROPOUT]
    if passes.empty:
        return placeholder("No MC-dropout run finished."), passes
    curve = grouped_ci(passes[passes.kind == "MC dropout"], ["metric", "passes"], "value")
    single = grouped_ci(passes[passes.kind != "MC dropout"], "metric", "value").set_index("metric")
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, metric in zip(axes, METRICS):
        scale = 100 if metric in PERCENT else 1
        part = curve[curve.metric == metric]
        ax.plot(part["passes"], scale * part["mean"], "-", color=PALETTE[2], label="MC dropout, mean of t passes")
        ax.fill_between(part["passes"], scale * part["ci_low"], scale * part["ci_high"], color=PALETTE[2], alpha=0.2, lw=0)
        ax.axhline(scale * single.loc[metric, "mean"], linestyle="--", color=PALETTE[4],
                   label="same nets, deterministic pass")
        ensemble = members[(members.metric == metric) & (members.kind == "ensemble")]
        ax.plot(ensemble["k"], scale * ensemble["value"], "o-", color=PALETTE[0], ms=4, label="ensemble of k members")
        ax.set(xlabel="passes t / members k", ylabel=LABELS[metric])
        integer_ticks(ax)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, frameon=False)
    fig.suptitle(f"MC dropout (p = {config['studies'][NAME]['mc_dropout_p']:g}), mean over {passes['seed'].nunique()} "
                 "seeds with 95 % CI, against the deep ensemble", x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig, pd.concat([curve.assign(kind="MC dropout"), single.reset_index().assign(kind="deterministic pass")])
