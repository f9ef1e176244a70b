"""Figures of the factor grid: accuracy per factor level, learning curves, the train/val gap."""

from __future__ import annotations

import math
from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from trickbench.report.figures import Tables, figure, placeholder
from trickbench.report.stats import grouped_ci, versus_reference
from trickbench.report.style import TRAIN_STYLE, VAL_STYLE, apply_theme, level_colors
from trickbench.techniques import FAMILIES

SECTION = "Factor grid"


def finished(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs with a finite final test accuracy (diverged runs are counted elsewhere, not plotted)."""
    if runs.empty:
        return runs
    return runs[np.isfinite(pd.to_numeric(runs["final_test_acc"], errors="coerce"))]


def factor_rows(runs: pd.DataFrame, family: str, design_kind: str) -> pd.DataFrame:
    """The runs that speak to `family`: in an ablation the baseline and the runs varying only it;
    in a full or random design all runs (a main effect, averaged over the other factors)."""
    if design_kind == "ablation":
        return runs[runs["varies"].isin([family, "baseline"])]
    return runs


def effects_table(runs: pd.DataFrame, config: Mapping[str, Any], metric: str = "final_test_acc") -> pd.DataFrame:
    """Mean and 95 % CI of `metric` (in %) per level of every factor that takes ≥ 2 levels, with
    the noise floor: the difference to the baseline level, its Welch CI, `within_noise` and the
    seeds it would need (`stats.versus_reference`). Levels are ordered by mean *validation*
    accuracy (`val_mean`), so which level comes first is never chosen on test."""
    from trickbench.collect import baseline_labels

    runs, baseline = finished(runs), baseline_labels(config)
    parts = []
    for family in FAMILIES:
        if runs.empty:
            break
        rows = factor_rows(runs, family, config["design"]["kind"]).assign(value=lambda r: 100 * r[metric])
        if rows[family].nunique() < 2:
            continue
        table = grouped_ci(rows, family, "value").merge(versus_reference(rows, family, "value", baseline[family]), on=family)
        table["val_mean"] = table[family].map(100 * rows.groupby(family)["final_val_acc"].mean())
        table = table.rename(columns={family: "level"})
        table.insert(0, "factor", family)
        parts.append(table.sort_values("val_mean", ascending=False))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["factor", "level", "n", "mean", "sd", "ci_low", "ci_high", "diff", "diff_ci_low", "diff_ci_high",
                 "within_noise", "seeds_needed", "val_mean"])


@figure("factor_effects", title="Test accuracy per factor level", section=SECTION)
def factor_effects(tables: Tables, config: Mapping[str, Any]):
    apply_theme()
    from trickbench.collect import baseline_labels

    runs, baseline = finished(tables["runs"]), baseline_labels(config)
    effects = effects_table(runs, config)
    if effects.empty:
        return placeholder("No factor takes two or more levels among the finished runs."), effects
    factors = list(dict.fromkeys(effects["factor"]))
    colors = level_colors(effects["level"].astype(str))
    columns = min(3, len(factors))
    rows = math.ceil(len(factors) / columns)
    heights = [effects[effects.factor == f].shape[0] for f in factors]
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 0.9 + 0.42 * max(heights) * rows + 0.8 * rows),
                             squeeze=False, sharex=True)
    for ax, family in zip(axes.flat, factors):
        part = effects[effects.factor == family].reset_index(drop=True)
        points = factor_rows(runs, family, config["design"]["kind"])
        for y, level in enumerate(part["level"]):
            seeds = 100 * points.loc[points[family] == level, "final_test_acc"]
            jitter = np.linspace(-0.12, 0.12, len(seeds)) if len(seeds) > 1 else [0.0]
            ax.scatter(seeds, y + np.asarray(jitter), s=18, color=colors[str(level)], alpha=0.55, zorder=2)
            row = part.loc[y]
            has_ci = math.isfinite(row["ci_low"])
            ax.errorbar(row["mean"], y, xerr=[[row["mean"] - row["ci_low"]], [row["ci_high"] - row["mean"]]] if has_ci else None,
                        fmt="D", color="black", markersize=5, capsize=3, zorder=3,
                        markerfacecolor="black" if row["within_noise"] == False else "white")  # noqa: E712 (NaN: neither)
        ax.set_yticks(range(len(part)), [f"{level} (baseline)" if level == baseline[family] else str(level)
                                         for level in part["level"]])
        ax.set_ylim(len(part) - 0.5, -0.5)
        ax.set_title(family, loc="left", fontweight="bold")
        ax.set_xlabel("test accuracy (%)")
    for ax in list(axes.flat)[len(factors):]:
        ax.set_axis_off()
    fig.suptitle("Test accuracy per factor level — dots: seeds; diamonds: mean ± 95 % CI; hollow: difference to the "
                 "baseline within the noise (Welch 95 % CI includes 0)", x=0.01, ha="left")
    fig.tight_layout()
    return fig, effects


def variant_label(row: Mapping[str, Any], baseline: Mapping[str, str]) -> str:
    """What a run changes relative to the baseline, e.g. 'init=xavier_normal', or 'baseline'."""
    changed = [f"{family}={row[family]}" for family in FAMILIES if str(row[family]) != baseline.get(family)]
    return ", ".join(changed) or "baseline"


def with_variants(runs: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    from trickbench.collect import baseline_labels

    baseline = baseline_labels(config)
    return runs.assign(variant=[variant_label(row, baseline) for row in runs.to_dict("records")])


@figure("learning_curves", title="Learning curves: train vs validation", section=SECTION, tables=("runs", "epochs"))
def learning_curves(tables: Tables, config: Mapping[str, Any]):
    apply_theme()
    runs, epochs = finished(tables["runs"]), tables["epochs"]
    if runs.empty or epochs.empty:
        return placeholder("No finished run to draw learning curves of."), pd.DataFrame()
    first_seed = with_variants(runs[runs["seed"] == runs["seed"].min()], config).sort_values("final_val_acc")
    count = min(config["report"]["learning_curves"], len(first_seed))
    chosen = first_seed.iloc[np.unique(np.linspace(0, len(first_seed) - 1, count).round().astype(int))]
    data = epochs.merge(chosen[["run_id", "variant"]], on="run_id")
    colors = level_colors(chosen["variant"])
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(12, 4.4))
    for variant, curve in data.groupby("variant", sort=False):
        color = colors[variant]
        loss_ax.plot(curve["epoch"], curve["train_loss"], TRAIN_STYLE, color=color, label=variant)
        loss_ax.plot(curve["epoch"], curve["val_loss"], VAL_STYLE, color=color)
        acc_ax.plot(curve["epoch"], 100 * curve["train_acc"], TRAIN_STYLE, color=color)
        acc_ax.plot(curve["epoch"], 100 * curve["val_acc"], VAL_STYLE, color=color)
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss (solid: train, dashed: validation)")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy (solid: train, dashed: validation)")
    fig.legend(loc="lower center", ncol=min(3, len(chosen)), bbox_to_anchor=(0.5, -0.02 - 0.05 * math.ceil(len(chosen) / 3)),
               frameon=False)
    fig.tight_layout()
    return fig, data[["run_id", "variant", "epoch", "train_loss", "val_loss", "train_acc", "val_acc"]]


@figure("generalization_gap", title="Train − validation accuracy gap", section=SECTION)
def generalization_gap(tables: Tables, config: Mapping[str, Any]):
    apply_theme()
    runs = finished(tables["runs"])
    if runs.empty:
        return placeholder("No finished run to measure the gap of."), pd.DataFrame()
    runs = with_variants(runs, config).assign(gap=lambda r: 100 * (r["final_train_acc"] - r["final_val_acc"]))
    table = grouped_ci(runs, "variant", "gap").sort_values("mean", ascending=False).reset_index(drop=True)
    colors = level_colors(table["variant"])
    fig, ax = plt.subplots(figsize=(8, 0.9 + 0.36 * len(table)))
    ax.barh(range(len(table)), table["mean"], color=[colors[v] for v in table["variant"]], alpha=0.8)
    for y, variant in enumerate(table["variant"]):
        gaps = runs.loc[runs["variant"] == variant, "gap"]
        ax.scatter(gaps, np.full(len(gaps), y), s=14, color="black", alpha=0.6, zorder=3)
    finite = np.isfinite(table["ci_low"])
    ax.errorbar(table.loc[finite, "mean"], np.flatnonzero(finite), fmt="none", ecolor="black", capsize=3,
                xerr=[table.loc[finite, "mean"] - table.loc[finite, "ci_low"], table.loc[finite, "ci_high"] - table.loc[finite, "mean"]])
    ax.set_yticks(range(len(table)), table["variant"])
    ax.set_ylim(len(table) - 0.5, -0.5)
    ax.set_xlabel("final train accuracy − validation accuracy (percentage points)")
    ax.set_title("Generalization gap per variant — bars: mean; dots: seeds; whiskers: 95 % CI", loc="left")
    fig.tight_layout()
    return fig, table
