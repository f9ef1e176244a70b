"""Ensembles: K independently seeded copies of the baseline, their probabilities averaged.

For k = 1..K the ensembles of k members are scored on the test set (accuracy, NLL, ECE with 15
bins, raw and temperature-scaled on validation) as the mean over all subsets of k members with a
band over subsets, against the mean single member and the single member chosen on validation;
the ensemble of all K is tested against both on the same test images (`ensemble_members`).
Members are the baseline with seeds 0..K−1, so the grid's baseline seeds are shared, not retrained.

MC dropout is the cheap ensemble (Gal & Ghahramani 2016): the baseline with dropout p added is
trained with the same K seeds, and T test passes with dropout left on are averaged
(`train.mc_dropout`); for t = 1..T the average of the first t passes is scored (the passes are
exchangeable draws, so their order is no choice), against the same network's single deterministic
pass (dropout's weight scaling).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from trickbench.calibration import softmax
from trickbench.design import baseline_spec
from trickbench.metrics import accuracy, expected_calibration_error, nll
from trickbench.report.figures import Tables, figure, placeholder
from trickbench.stats import grouped_ci
from trickbench.report.style import PALETTE, apply_theme, integer_ticks
from trickbench.spec import RunSpec, resolve_regularizers
from trickbench.studies import Study, is_enabled, register_study
from trickbench.data.labels import split_labels, test_labels
from trickbench.studies.ensemble_members import (CHOSEN, MEAN_MEMBER, Member, single_members, subset_curve,
                                                 versus_members)
from trickbench.studies.records import finished_runs

NAME = "ensembles"
TITLE = "Ensembles"
MC_DROPOUT = f"{NAME}_mc_dropout"
VERSUS = f"{NAME}_vs_member"
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


def mc_dropout_curve(pass_probabilities: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    """Metrics of the average of the first t stochastic passes (passes×N×classes), t = 1..T."""
    running = np.cumsum(pass_probabilities, axis=0) / np.arange(1, len(pass_probabilities) + 1)[:, None, None]
    return pd.DataFrame([{"passes": t, **{name: fn(mean, labels) for name, fn in METRICS.items()}}
                         for t, mean in enumerate(running, start=1)])


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
    """The curves over k with their bands, the single members, and the ensemble of all against them."""
    runs = finished_runs(run_dirs)
    if not runs:
        return {NAME: pd.DataFrame(columns=TABLE_COLUMNS), VERSUS: pd.DataFrame()}
    labels = split_labels(runs[0].spec, config)
    members = [Member(run.array("test_probs"), softmax(run.array("val_logits"))) for run in runs]
    scores = [run.summary.get("final_val_acc") for run in runs]
    chosen = int(np.argmax(scores)) if all(s is not None for s in scores) else None  # on validation, never test
    table = pd.concat([subset_curve(members, labels), single_members(members, labels, chosen)], ignore_index=True)
    return {NAME: table.reindex(columns=TABLE_COLUMNS), VERSUS: versus_members(members, labels, chosen)}


TABLE_COLUMNS = ["k", "kind", "metric", "scaling", "value", "band_low", "band_high", "subsets", "all_subsets"]


# MC-dropout runs also write test_probs_mc_dropout.npy, before summary.json (so it exists once the run is done)
register_study(Study(NAME, TITLE, study_specs, analyze, tables=(NAME, VERSUS, MC_DROPOUT),
                     run_files=("summary.json", "test_probs.npy", "val_logits.npy")))

LABELS = {"accuracy": "test accuracy (%)", "nll": "test NLL (nats)", "ece": "test ECE, 15 bins (%)"}
PERCENT = {"accuracy", "ece"}


SINGLE_STYLES = {MEAN_MEMBER: ":", CHOSEN: "--"}
SHORT = {MEAN_MEMBER: "vs mean member", CHOSEN: "vs chosen member"}


@figure("ensemble_gain", title="Ensemble of k members vs single members", section=TITLE, tables=(NAME,),
        enabled=lambda config: is_enabled(config, NAME))
def ensemble_gain(tables: Tables, config: Mapping[str, Any]):
    """Raw in full colour, temperature-scaled lighter; single members as horizontal lines."""
    apply_theme()
    data = tables[NAME]
    if data.empty:
        return placeholder("No ensemble member finished."), data
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for ax, metric in zip(axes, METRICS):
        scale = 100 if metric in PERCENT else 1
        for scaling, alpha, marker in (("raw", 1.0, "o"), ("temperature-scaled", 0.55, "s")):
            part = data[(data.metric == metric) & (data.scaling == scaling)]
            curve = part[part.kind == "ensemble"].sort_values("k")
            if curve.empty:
                continue
            ax.plot(curve["k"], scale * curve["value"], marker + "-", color=PALETTE[0], alpha=alpha,
                    label=f"ensemble of k, mean over subsets ({scaling})")
            ax.fill_between(curve["k"], scale * curve["band_low"], scale * curve["band_high"], color=PALETTE[0],
                            alpha=0.15 * alpha, lw=0)
            for (kind, style), color in zip(SINGLE_STYLES.items(), PALETTE[1:]):
                value = part.loc[part.kind == kind, "value"]
                if len(value):
                    ax.axhline(scale * value.iloc[0], linestyle=style, color=color, alpha=alpha, label=f"{kind} ({scaling})")
        ax.set(xlabel="members k", ylabel=LABELS[metric])
        integer_ticks(ax)
    handles = {label: handle for ax in axes for handle, label in zip(*ax.get_legend_handles_labels())}
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=3, frameon=False, fontsize=8)
    subsets = data.loc[data.kind == "ensemble"].groupby("k")["all_subsets"].first()
    which = "all subsets of k members" if subsets.astype(bool).all() else "all (or up to 200 random) subsets of k members"
    fig.suptitle(f"Averaging the probabilities of k independently seeded networks: mean over {which}, band 2.5–97.5 % "
                 "of subsets; lighter: after temperature scaling on validation", x=0.01, ha="left", fontsize=10)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    return fig, data


@figure("ensemble_vs_member", title="The ensemble against single members, tested on the same test images",
        section=TITLE, tables=(VERSUS,), enabled=lambda config: is_enabled(config, NAME))
def ensemble_vs_member(tables: Tables, config: Mapping[str, Any]):
    apply_theme()
    data = tables[VERSUS]
    if data.empty:
        return placeholder("No ensemble member finished."), data
    fig, axes = plt.subplots(1, 3, figsize=(14, 1.6 + 0.5 * data.groupby("metric").size().max()))
    for ax, metric in zip(axes, METRICS):
        part = data[data.metric == metric].reset_index(drop=True)
        scale = 100 if metric in PERCENT else 1
        for y, row in part.iterrows():
            color = PALETTE[1] if row["against"] == MEAN_MEMBER else PALETTE[2]
            ax.errorbar(scale * row["diff"], y, xerr=[[scale * (row["diff"] - row["diff_ci_low"])],
                                                     [scale * (row["diff_ci_high"] - row["diff"])]],
                        fmt="D", capsize=3, color=color, markerfacecolor=color if row["detectable"] else "white")
        ax.axvline(0, color="0.4", linewidth=1)
        ax.set_yticks(range(len(part)), [SHORT[row["against"]] + ("" if row["scaling"] == "raw" else ", scaled")
                                         for _, row in part.iterrows()])
        ax.set_ylim(len(part) - 0.5, -0.5)
        ax.set_xlabel(f"ensemble − member: {LABELS[metric]}")
    fig.suptitle(f"Ensemble of all members minus the mean member and the member chosen on validation, on "
                 f"{int(data['n_images'].iloc[0])} test images: paired bootstrap, 95 % CI Bonferroni-corrected over "
                 f"{int(data['family_size'].iloc[0])}; filled: detectable",
                 x=0.01, ha="left", fontsize=10)
    fig.tight_layout()
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
        ensemble = members[(members.metric == metric) & (members.kind == "ensemble") & (members.scaling == "raw")]
        ax.plot(ensemble["k"], scale * ensemble["value"], "o-", color=PALETTE[0], ms=4,
                label="ensemble of k members (mean over subsets)")
        ax.set(xlabel="passes t / members k", ylabel=LABELS[metric])
        integer_ticks(ax)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, frameon=False)
    fig.suptitle(f"MC dropout (p = {config['studies'][NAME]['mc_dropout_p']:g}), mean over {passes['seed'].nunique()} "
                 "seeds with 95 % CI, against the deep ensemble", x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig, pd.concat([curve.assign(kind="MC dropout"), single.reset_index().assign(kind="deterministic pass")])
