"""The noise floor of the grid: seed-to-seed spread per cell, each variant's difference to the
baseline against that spread, and the seeds a difference would need.

A cell is one variant (one combination of factor levels) run with several seeds. Its standard
deviation over seeds is the noise any comparison has to beat; a difference whose Welch 95 %
interval includes 0 is reported as *within the noise*, whatever its sign. The seeds needed are
those of a two-sided two-sample t test at α = 0.05 with 80 % power (`stats.seeds_needed`).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import matplotlib.pyplot as plt
import pandas as pd

from trickbench.report.figures import Tables, figure, placeholder
from trickbench.report.grid import SECTION, finished, with_variants
from trickbench.report.stats import seeds_needed, versus_reference
from trickbench.report.style import PALETTE, apply_theme

#: the two test accuracies of a run: at its last epoch, and at its validation-selected epoch
METRICS = {"final_test_acc": "final epoch", "best_test_acc": "validation-selected epoch"}
BASELINE = "baseline"
#: variants the figure draws at most: the baseline and the largest differences (the CSV has all)
MAX_ROWS = 30


def noise_table(runs: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    """One row per variant × metric (in percentage points): seeds n, mean, seed-to-seed sd, and
    the difference to the baseline variant with its Welch CI, within_noise and seeds_needed."""
    runs = finished(runs)
    if runs.empty:
        return pd.DataFrame()
    runs = with_variants(runs, config)
    parts = []
    for metric, label in METRICS.items():
        values = runs.assign(value=100 * pd.to_numeric(runs[metric], errors="coerce"))
        cells = values.groupby("variant", sort=False)["value"].agg(n="count", mean="mean", sd="std").reset_index()
        table = cells.merge(versus_reference(values, "variant", "value", BASELINE), on="variant")
        table.insert(0, "metric", label)
        parts.append(table)
    return pd.concat(parts, ignore_index=True)


def summary_sentences(table: pd.DataFrame) -> list[str]:
    """What the noise floor means for the grid's claims, in two sentences."""
    final = table[(table["metric"] == METRICS["final_test_acc"])] if not table.empty else table
    repeated = final[final["n"] >= 2] if not final.empty else final
    if repeated.empty:
        return ["No cell was run with more than one seed, so no difference in this report can be told from "
                "seed-to-seed noise; run at least 2 seeds (design.seeds) to measure it."]
    runs_sd = pooled_sd_of(repeated)
    compared = final[final["variant"] != BASELINE].dropna(subset=["diff_ci_low"])
    beyond = compared[compared["within_noise"] == False]  # noqa: E712 (NaN rows are not comparisons)
    one_point = seeds_needed(runs_sd, 1.0)
    sentences = [
        f"Seed-to-seed noise: the pooled standard deviation of final test accuracy is {runs_sd:.2f} points over "
        f"{len(repeated)} cells with {_range(repeated['n'])} seeds "
        f"(per cell {repeated['sd'].min():.2f}–{repeated['sd'].max():.2f}); telling a 1-point difference from it "
        f"would take {_seeds(one_point)} seeds per variant (two-sided t test, α = 0.05, 80 % power)."]
    if len(compared):
        within = compared.loc[compared["within_noise"] == True, "seeds_needed"]  # noqa: E712
        others = (f"; the others would need {_seeds(within.min())} or more seeds per variant to be confirmed at "
                  "their observed size") if len(within) else ""
        sentences.append(f"{len(beyond)} of {len(compared)} differences to the baseline exceed the noise "
                         f"(Welch 95 % interval excludes 0){others}.")
    return sentences


def pooled_sd_of(cells: pd.DataFrame) -> float:
    """Pooled sd from per-cell (n, sd): √(Σ(n−1)·sd² / Σ(n−1))."""
    dof = (cells["n"] - 1).sum()
    return math.sqrt(((cells["n"] - 1) * cells["sd"] ** 2).sum() / dof) if dof else math.nan


def _seeds(n: float) -> str:
    if not math.isfinite(n):
        return "more than 10,000" if n == math.inf else "–"
    return f"{int(n)}"


def _range(counts: pd.Series) -> str:
    low, high = int(counts.min()), int(counts.max())
    return f"{low}" if low == high else f"{low}–{high}"


@figure("noise_floor", title="Noise floor: seed-to-seed spread and differences to the baseline", section=SECTION)
def noise_floor(tables: Tables, config: Mapping[str, Any]):
    apply_theme()
    table = noise_table(tables["runs"], config)
    final = table[table["metric"] == METRICS["final_test_acc"]] if not table.empty else table
    if final.empty or (final["n"] < 2).all():
        return placeholder("No cell has two or more seeds: the noise floor cannot be measured."), pd.DataFrame()
    largest = final.assign(size=final["diff"].abs()).sort_values("size", ascending=False)["variant"]
    shown = [BASELINE, *[v for v in largest if v != BASELINE]][:MAX_ROWS]
    order = final[final["variant"].isin(shown)].sort_values("mean", ascending=False)["variant"].tolist()
    drawn = table[table["variant"].isin(order)]
    fig, (spread_ax, diff_ax) = plt.subplots(1, 2, figsize=(13, 1.2 + 0.34 * len(order)), sharey=True,
                                             gridspec_kw={"width_ratios": [1, 1.6]})
    y = {variant: i for i, variant in enumerate(order)}
    for (metric, part), color, marker in zip(drawn.groupby("metric", sort=False), PALETTE, ("o", "s")):
        part = part[part["n"] >= 2]
        spread_ax.scatter(part["sd"], part["variant"].map(y), color=color, marker=marker, label=metric, zorder=3)
        spread_ax.axvline(pooled_sd_of(part), color=color, linestyle="--", linewidth=1)
    spread_ax.set_title("seed-to-seed sd per cell (dashed: pooled)", loc="left", fontsize=10)
    spread_ax.set_xlabel("sd of test accuracy (points)")
    spread_ax.legend(loc="lower right", fontsize=8, title="test accuracy at the", title_fontsize=8)
    compared = final[(final["variant"] != BASELINE) & final["variant"].isin(order)]
    for row in compared.itertuples():
        has_ci = math.isfinite(row.diff_ci_low)
        significant = row.within_noise == False  # noqa: E712
        diff_ax.errorbar(row.diff, y[row.variant], capsize=3, fmt="D", color="black", markersize=5,
                         markerfacecolor="black" if significant else "white",
                         xerr=[[row.diff - row.diff_ci_low], [row.diff_ci_high - row.diff]] if has_ci else None)
        needed = "n>10,000" if row.seeds_needed == math.inf else f"n={_seeds(row.seeds_needed)}"
        diff_ax.annotate(needed, (1.0, y[row.variant]), xycoords=("axes fraction", "data"), xytext=(4, 0),
                         textcoords="offset points", va="center", fontsize=8, color="0.3")
    diff_ax.axvline(0, color="0.4", linewidth=1)
    diff_ax.set_title("difference to the baseline (hollow: within the noise; n: seeds needed)", loc="left", fontsize=10)
    diff_ax.set_xlabel("final test accuracy − baseline (points), Welch 95 % CI")
    spread_ax.set_yticks(range(len(order)), order)
    spread_ax.set_ylim(len(order) - 0.5, -0.5)
    if len(order) < len(final):
        fig.suptitle(f"The baseline and the {len(order) - 1} largest of {len(final) - 1} differences (all in the data)",
                     x=0.01, ha="left")
    fig.tight_layout()
    return fig, table
