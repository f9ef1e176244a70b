"""The noise floor of the grid: seed-to-seed spread per cell, each variant's difference to the
baseline against that spread, and the seeds a difference would need.

A cell is one variant (one combination of factor levels) run with several seeds. Its standard
deviation over seeds is the noise any comparison has to beat. Each variant is compared with the
baseline by `stats.pooled_compare_to_reference` — one model over every variant with seeds as
blocks where they ran the same seeds and share one residual variance, else the per-comparison test
(paired t on shared seeds, else Welch), the `why` column says which; the family is every variant of
the figure, Holm-corrected — so the figure, the findings and the factor-effects table state the
same comparison the same way. A difference whose corrected
interval includes 0 is not detectable, whatever its sign; its seeds needed (80 % power, same test,
same corrected α) are then always more than it has. Runs that failed to train (diverged,
exploded, at chance on validation) are left out; so is a cell most of whose runs failed. In a tuned
design only the compared runs count (`collect.compared_runs`: the tuned ones), never tuning trials
or the fixed-rate runs, whose spread is not the noise of the runs compared.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import matplotlib.pyplot as plt
import pandas as pd

from trickbench.collect import compared_runs
from trickbench.report.figures import Tables, figure, placeholder
from trickbench.report.grid import SECTION, chance_test, with_variants
from trickbench.stats import failure_reasons, level_failed, pooled_compare_to_reference
from trickbench.report.style import PALETTE, apply_theme

#: the two test accuracies of a run: of the model it returns (its last epoch, or the weights early
#: stopping restored), and at its validation-selected epoch (highest val_acc)
METRICS = {"final_test_acc": "returned model", "best_test_acc": "validation-selected epoch"}
BASELINE = "baseline"
#: variants the figure draws at most: the baseline and the largest differences (the CSV has all)
MAX_ROWS = 30


def noise_table(runs: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    """One row per variant × metric (in percentage points): seeds n, mean, seed-to-seed sd, and
    the comparison with the baseline variant (`stats.pooled_compare_to_reference`: test and why,
    corrected interval `diff_ci_low/high`, `detectable`, `mde`, `seeds_needed`), among the trained
    compared runs."""
    if runs.empty:
        return pd.DataFrame()
    runs = trained_variants(runs, config)
    if runs.empty:
        return pd.DataFrame()
    parts = []
    for metric, label in METRICS.items():
        values = runs.assign(value=100 * pd.to_numeric(runs[metric], errors="coerce"))
        cells = values.groupby("variant", sort=False)["value"].agg(n="count", mean="mean", sd="std").reset_index()
        compared = pooled_compare_to_reference(values, "variant", "value", BASELINE).drop(columns=["n", "mean", "sd"])
        table = cells.merge(compared, on="variant", how="left")
        table.insert(0, "metric", label)
        parts.append(table)
    return pd.concat(parts, ignore_index=True)


def trained_variants(runs: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    """The compared runs (`collect.compared_runs`: the tuned ones in a tuned design) that trained
    (`stats.failure_reasons`: not diverged, exploded or at chance on validation) of the variants
    most of whose runs trained, each with its `variant` label."""
    runs = compared_runs(runs)
    runs = with_variants(runs.assign(failure=failure_reasons(runs, "final_val_acc", chance_test(config))), config)
    counts = (runs["failure"] != "").groupby(runs["variant"]).agg(["sum", "size"])  # failed, runs per variant
    failed_cells = {variant for variant, failed, size in counts.itertuples() if level_failed(int(failed), int(size))}
    return runs[(runs["failure"] == "") & ~runs["variant"].isin(failed_cells)]


def summary_sentences(table: pd.DataFrame) -> list[str]:
    """What the noise floor means for the grid's claims, in two sentences."""
    final = table[(table["metric"] == METRICS["final_test_acc"])] if not table.empty else table
    repeated = final[final["n"] >= 2] if not final.empty else final
    if repeated.empty:
        return ["No cell was run with more than one seed, so no difference in this report can be told from "
                "seed-to-seed noise; run at least 2 seeds (design.seeds) to measure it."]
    runs_sd = pooled_sd_of(repeated)
    compared = final[(final["variant"] != BASELINE) & final["test"].fillna("").astype(bool)]
    sentences = [f"Seed-to-seed noise: the pooled standard deviation of test accuracy (of the model each run returns) is "
                 f"{runs_sd:.2f} points over "
                 f"{len(repeated)} cells with {_range(repeated['n'])} seeds (per cell {repeated['sd'].min():.2f}–"
                 f"{repeated['sd'].max():.2f})."]
    if len(compared):
        tests = " or ".join(sorted(set(compared["test"])))
        mde = compared["mde"]
        sentences[0] += (f" With these seeds a comparison to the baseline ({tests}, Holm-corrected over "
                         f"{int(compared['family_size'].iloc[0])}) detects with 80 % power only differences of "
                         f"{_span(mde.min(), mde.max())} points or more (minimum detectable effect).")
        if "why" in compared and compared["why"].notna().any():
            sentences[0] += f" Why this test: {compared['why'].dropna().iloc[0]}."
        detectable = compared[compared["detectable"] == True]  # noqa: E712
        hidden = compared.loc[compared["detectable"] != True, "seeds_needed"]  # noqa: E712
        others = (f"; the others would need {_seeds(hidden.min())} or more seeds per variant at their observed size "
                  "(same test and correction)") if len(hidden) else ""
        sentences.append(f"{len(detectable)} of {len(compared)} differences to the baseline are detectable (their "
                         f"corrected 95 % interval excludes 0){others}.")
    return sentences


def pooled_sd_of(cells: pd.DataFrame) -> float:
    """Pooled sd from per-cell (n, sd): √(Σ(n−1)·sd² / Σ(n−1))."""
    dof = (cells["n"] - 1).sum()
    return math.sqrt(((cells["n"] - 1) * cells["sd"] ** 2).sum() / dof) if dof else math.nan


def _seeds(n: float) -> str:
    if not math.isfinite(n):
        return "more than 10,000" if n == math.inf else "–"
    return f"{int(n)}"


def _span(low: float, high: float) -> str:
    return f"{low:.1f}" if round(low, 1) == round(high, 1) else f"{low:.1f}–{high:.1f}"


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
        diff_ax.errorbar(row.diff, y[row.variant], capsize=3, fmt="D", color="black", markersize=5,
                         markerfacecolor="black" if row.detectable == True else "white",  # noqa: E712 (NaN: no test)
                         xerr=[[row.diff - row.diff_ci_low], [row.diff_ci_high - row.diff]] if has_ci else None)
        needed = "n>10,000" if row.seeds_needed == math.inf else f"n={_seeds(row.seeds_needed)}"
        diff_ax.annotate(needed, (1.0, y[row.variant]), xycoords=("axes fraction", "data"), xytext=(4, 0),
                         textcoords="offset points", va="center", fontsize=8, color="0.3")
    diff_ax.axvline(0, color="0.4", linewidth=1)
    diff_ax.set_title("difference to the baseline (hollow: not detectable; n: seeds needed)", loc="left", fontsize=10)
    tests = " or ".join(sorted(set(compared["test"].dropna()) - {""})) or "no test"
    family = int(compared["family_size"].max()) if compared["family_size"].notna().any() else 0
    diff_ax.set_xlabel(f"test accuracy of the returned model − baseline (points); {tests}, 95 % CI Holm-corrected "
                       f"over {family}")
    spread_ax.set_yticks(range(len(order)), order)
    spread_ax.set_ylim(len(order) - 0.5, -0.5)
    if len(order) < len(final):
        fig.suptitle(f"The baseline and the {len(order) - 1} largest of {len(final) - 1} differences (all in the data)",
                     x=0.01, ha="left")
    fig.tight_layout()
    return fig, table
