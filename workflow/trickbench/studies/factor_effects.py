"""Factor effects: which choices matter, by how much, how sure that is, and which pairs interact.

Three views, in the language of the design of experiments (Montgomery, "Design and Analysis of
Experiments", ch. 5):

- main effects, from the grid: per factor level the mean metric with its 95 % CI over seeds, and
  its difference from the baseline level — the report's one comparison (`stats.pooled_compare_to_reference`:
  one model over the grid's cells with seeds as blocks where they share seeds, else paired t on
  shared seeds or Welch; every level of every factor one family, Holm-corrected; minimum
  detectable effect). Runs that failed to train (diverged, exploded, at chance on
  validation) are never averaged; a level most of whose runs failed is reported as failed and
  kept out of the effects and the ranking.
- a ranking of the factors by the spread of their level means *on validation* (best − worst;
  choosing what matters is a choice, so test never makes it), with a stratified-bootstrap interval
  of each spread and how often each factor ranks first (`stats.bootstrap_ranking`; withheld below
  `stats.MIN_BOOTSTRAP_SEEDS` runs a cell, where that bootstrap under-covers). `metric`
  chooses only what is reported beside it (e.g. the best and worst levels' test accuracy).
- interactions of pairs of factors. The default grid is an ablation (one factor at a time), which
  cannot show them, so each configured pair gets a full sub-design of its own (every combination of
  the two factors' levels, others at the baseline, every seed). Per cell: the mean with its CI and
  the interaction residual, cell − row mean − column mean + grand mean (zero for purely additive
  effects); per pair the two-way ANOVA F test of the interaction with seeds as blocks
  (`stats.interaction_anova`), Holm-corrected across pairs, with the smallest rms interaction it
  could detect — with a few error degrees of freedom "not significant" is low power, not absence.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from trickbench.collect import baseline_labels, collect
from trickbench.design import baseline_levels, expand, make_spec, resolve_level
from trickbench.report.figures import Tables, figure, placeholder
from trickbench.report.grid import EFFECT_COLUMNS as LEVEL_COLUMNS
from trickbench.report.grid import chance_test, factor_rows, level_effects, validation_metric, variant_label
from trickbench.stats import (MIN_BOOTSTRAP_SEEDS, ChanceTest, bootstrap_ranking, failure_reasons, interaction_anova, interval_alphas,
                                     mean_ci)
from trickbench.report.style import PALETTE, apply_theme
from trickbench.spec import RunSpec, regularizer_label
from trickbench.studies import Study, is_enabled, register_study
from trickbench.techniques import FAMILIES

NAME = "factor_effects"
TITLE = "Factor effects"
EFFECT_COLUMNS = [*LEVEL_COLUMNS, "rank"]
RANKING_COLUMNS = ["rank", "factor", "levels", "val_spread", "val_spread_ci_low", "val_spread_ci_high", "p_first",
                   "best_level", "best_val", "best_mean", "worst_level", "worst_val", "worst_mean", "failed_levels"]
TEST_COLUMNS = ["pair", "F", "df_interaction", "df_error", "p_value", "p_adjusted", "blocks", "residual_sd", "mde_rms", "note"]


def settings(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return config["studies"][NAME]


def level_label(family: str, level: Any) -> str:
    return regularizer_label(level) if family == "regularizer" else FAMILIES[family].label(level)


# -- runs ----------------------------------------------------------------------------------------
def pair_levels(config: Mapping[str, Any]) -> list[dict[str, list[Any]]]:
    """Each configured pair as {family: [resolved levels]} (two families each, validated)."""
    return [{family: [resolve_level(family, level, f"studies.{NAME}.pairs[{p}].{family}[{i}]") for i, level in enumerate(levels)]
             for family, levels in pair.items()} for p, pair in enumerate(settings(config)["pairs"])]


def pair_design(config: Mapping[str, Any], pair: Mapping[str, list[Any]]) -> list[RunSpec]:
    """The full sub-design of one pair: each combination of its two factors' levels × the seeds."""
    baseline = baseline_levels(config)
    (first, first_levels), (second, second_levels) = pair.items()
    return [make_spec(config, {**baseline, first: a, second: b}, seed)
            for a in first_levels for b in second_levels for seed in settings(config)["seeds"]]


def pair_specs(config: Mapping[str, Any]) -> list[RunSpec]:
    return [spec for pair in pair_levels(config) for spec in pair_design(config, pair)]


def study_specs(config: Mapping[str, Any]) -> list[RunSpec]:
    """The grid's runs (for the main effects) and the pairs' sub-designs (shared runs count once)."""
    return list({spec.run_id: spec for spec in [*expand(config), *pair_specs(config)]}.values())


# -- main effects and ranking --------------------------------------------------------------------
def main_effects(runs: pd.DataFrame, design_kind: str, baseline: Mapping[str, str], metric: str,
                 chance: ChanceTest | None = None) -> pd.DataFrame:
    """`grid.level_effects` of `metric` (in %) — levels, failures, means, the comparison with the
    baseline level — and each level's rank within its factor by mean validation score (failed
    levels last, unranked)."""
    table = level_effects(runs, design_kind, baseline, metric, chance)
    ranked = table["val_mean"].where(~table["failed"].astype(bool))
    table["rank"] = ranked.groupby(table["factor"]).rank(ascending=False, method="min")
    return table[EFFECT_COLUMNS]


def ranking_runs(runs: pd.DataFrame, effects: pd.DataFrame, design_kind: str, baseline: Mapping[str, str],
                 select_on: str, chance: ChanceTest | None) -> pd.DataFrame:
    """One row per (factor, trained run of a level that did not fail): what `stats.bootstrap_ranking`
    resamples — the validation score in %, and the run's cell (its combination of levels)."""
    trained = runs[failure_reasons(runs, select_on, chance) == ""]
    failed = {(f, level) for f, level, bad in zip(effects["factor"], effects["level"], effects["failed"]) if bad}
    parts = []
    for family in dict.fromkeys(effects["factor"]):
        rows = factor_rows(trained, family, design_kind)
        rows = rows[[(family, str(level)) not in failed for level in rows[family]]]
        parts.append(pd.DataFrame({"factor": family, "level": rows[family].astype(str), "run_id": rows["run_id"],
                                   "cell": [variant_label(r, baseline) for r in rows.to_dict("records")],
                                   "value": 100 * pd.to_numeric(rows[select_on], errors="coerce")}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["factor", "level", "run_id", "cell", "value"])


def ranking(effects: pd.DataFrame, resampled: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Factors ordered by the spread of their level means on validation — the larger, the more the
    choice matters — with the bootstrap interval of that spread and P(ranks first); the best and
    worst level (chosen on validation) with their validation and reported means. A factor with
    fewer than two levels left after failures is listed last, unranked."""
    spreads = bootstrap_ranking(resampled, seed=seed).set_index("factor") if len(resampled) else pd.DataFrame()
    rows = []
    for family, part in effects.groupby("factor", sort=False):
        alive = part[~part["failed"].astype(bool) & part["val_mean"].notna()]
        best = alive.loc[alive["val_mean"].idxmax()] if len(alive) else None
        worst = alive.loc[alive["val_mean"].idxmin()] if len(alive) else None
        spread = spreads.loc[family] if family in spreads.index else None
        rows.append({"factor": family, "levels": len(alive),
                     "val_spread": spread["spread"] if spread is not None else math.nan,
                     "val_spread_ci_low": spread["spread_ci_low"] if spread is not None else math.nan,
                     "val_spread_ci_high": spread["spread_ci_high"] if spread is not None else math.nan,
                     "p_first": spread["p_first"] if spread is not None else math.nan,
                     "best_level": best["level"] if best is not None else "", "best_val": _get(best, "val_mean"),
                     "best_mean": _get(best, "mean"), "worst_level": worst["level"] if worst is not None else "",
                     "worst_val": _get(worst, "val_mean"), "worst_mean": _get(worst, "mean"),
                     "failed_levels": ", ".join(part.loc[part["failed"].astype(bool), "level"])})
    table = pd.DataFrame(rows, columns=RANKING_COLUMNS[1:]).sort_values("val_spread", ascending=False, ignore_index=True,
                                                                       na_position="last")
    table.insert(0, "rank", [i + 1 if math.isfinite(v) else math.nan for i, v in enumerate(table["val_spread"])])
    return table[RANKING_COLUMNS]


def _get(row: pd.Series | None, column: str) -> float:
    return float(row[column]) if row is not None else math.nan


# -- interactions --------------------------------------------------------------------------------
def pair_cells(runs: pd.DataFrame, first: str, first_levels: list[str], second: str, second_levels: list[str],
               baseline: Mapping[str, str], metric: str, chance: ChanceTest | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cells, runs) of one pair's sub-design: per cell the mean metric (in %) with its CI and the
    interaction residual; the trained runs (`stats.failure_reasons` on validation) with `value`."""
    others = [f for f in FAMILIES if f not in (first, second)]
    mask = runs[first].isin(first_levels) & runs[second].isin(second_levels)
    for family in others:
        mask &= runs[family] == baseline[family]
    part = runs[mask].assign(value=lambda r: 100 * pd.to_numeric(r[metric], errors="coerce"))
    part = part[failure_reasons(part, validation_metric(metric), chance) == ""]
    rows = []
    for a in first_levels:
        for b in second_levels:
            values = part.loc[(part[first] == a) & (part[second] == b), "value"]
            mean, half = mean_ci(values)
            rows.append({"pair": f"{first} × {second}", "factor_a": first, "level_a": a, "factor_b": second, "level_b": b,
                         "n": len(values), "mean": mean, "ci_low": mean - half, "ci_high": mean + half})
    cells = pd.DataFrame(rows)
    grid = cells.pivot(index="level_a", columns="level_b", values="mean")
    residual = grid - grid.mean(axis=1).to_numpy()[:, None] - grid.mean(axis=0).to_numpy()[None, :] + grid.to_numpy().mean()
    cells["interaction"] = [residual.loc[a, b] for a, b in zip(cells["level_a"], cells["level_b"])]
    return cells, part


def interactions(runs: pd.DataFrame, config: Mapping[str, Any], baseline: Mapping[str, str], metric: str,
                 chance: ChanceTest | None = None):
    """(cells, tests) of every configured pair; the pairs' interaction tests are one family (Holm)."""
    cells, tests = [], []
    for pair in pair_levels(config):
        (first, first_levels), (second, second_levels) = pair.items()
        labels = lambda family, levels: list(dict.fromkeys(level_label(family, level) for level in levels))
        design = runs[runs["run_id"].isin({spec.run_id for spec in pair_design(config, pair)})]  # its seeds only
        table, part = pair_cells(design, first, labels(first, first_levels), second, labels(second, second_levels), baseline,
                                 metric, chance)
        cells.append(table)
        tests.append({"pair": f"{first} × {second}", **interaction_anova(part, first, second)})
    columns = ["pair", "factor_a", "level_a", "factor_b", "level_b", "n", "mean", "ci_low", "ci_high", "interaction"]
    tests = pd.DataFrame(tests, columns=TEST_COLUMNS)
    tests["p_adjusted"] = interval_alphas(tests["p_value"].to_numpy(dtype=float), "holm")[0] if len(tests) else []
    return pd.concat(cells, ignore_index=True) if cells else pd.DataFrame(columns=columns), tests


def analyze(config: Mapping[str, Any], run_dirs: list[Path]) -> dict[str, pd.DataFrame]:
    baseline, metric, chance = baseline_labels(config), settings(config)["metric"], chance_test(config)
    runs = collect(run_dirs, baseline).runs
    grid = runs[runs["run_id"].isin({spec.run_id for spec in expand(config)})]
    effects = main_effects(grid, config["design"]["kind"], baseline, metric, chance)
    resampled = ranking_runs(grid, effects, config["design"]["kind"], baseline, validation_metric(metric), chance)
    cells, tests = interactions(runs, config, baseline, metric, chance)
    return {"main_effects": effects, "factor_ranking": ranking(effects, resampled), "interactions": cells,
            "interaction_tests": tests}


TABLES = ("main_effects", "factor_ranking", "interactions", "interaction_tests")
register_study(Study(NAME, TITLE, study_specs, analyze, tables=TABLES))


# -- figures -------------------------------------------------------------------------------------
def _enabled(config: Mapping[str, Any]) -> bool:
    return is_enabled(config, NAME)


def metric_label(config: Mapping[str, Any]) -> str:
    return settings(config)["metric"].replace("_", " ").replace("acc", "accuracy")


@figure("main_effects", title="Main effects: change against the baseline level, factors ranked", section=TITLE,
        tables=("main_effects", "factor_ranking"), enabled=_enabled)
def main_effects_figure(tables: Tables, config: Mapping[str, Any]):
    apply_theme()
    effects, order = tables["main_effects"], tables["factor_ranking"]
    if effects.empty:
        return placeholder("No factor of the grid takes two or more levels among finished runs."), effects
    rows = []
    for _, factor in order.iterrows():
        part = effects[(effects.factor == factor["factor"]) & ~effects["is_baseline"]].sort_values("diff", ascending=False)
        rows += [{**r, "label": f"{r['factor']}: {r['level']}", "rank_of_factor": factor["rank"]} for r in part.to_dict("records")]
    data = pd.DataFrame(rows)
    fig, (rank_ax, ax) = plt.subplots(1, 2, figsize=(14, 1.4 + 0.38 * max(len(data), len(order))),
                                      gridspec_kw={"width_ratios": [1, 1.6]})
    ranking_panel(rank_ax, order)
    color = lambda rank: PALETTE[(int(rank) - 1) % len(PALETTE)] if math.isfinite(rank) else "0.6"
    y = np.arange(len(data))
    tested = data["diff_ci_low"].astype(float).map(math.isfinite).to_numpy()
    detectable = (data["detectable"] == True).to_numpy()  # noqa: E712 (NaN: no test)
    ax.barh(y, data["diff"].fillna(0), color=[color(r) for r in data["rank_of_factor"]],
            alpha=0.85, edgecolor="black", linewidth=[1.2 if d else 0 for d in detectable])
    ax.errorbar(data.loc[tested, "diff"], y[tested], fmt="none", ecolor="black", capsize=3,
                xerr=[data.loc[tested, "diff"] - data.loc[tested, "diff_ci_low"],
                      data.loc[tested, "diff_ci_high"] - data.loc[tested, "diff"]])
    for i, row in data[data["failed"].astype(bool)].iterrows():
        ax.annotate(f"failed: {row['n_failed']} of {row['runs']} runs ({row['failures']})", (0.02, i),
                    xycoords=("axes fraction", "data"), va="center", fontsize=8, color="0.35")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, data["label"])
    ax.set_ylim(len(data) - 0.5, -0.5)
    ax.set_xlabel(f"{metric_label(config)} − the baseline level's (percentage points)")
    family = int(data["family_size"].max()) if data["family_size"].notna().any() else 0
    ax.set_title(f"Difference from the baseline level; whiskers: 95 % CI Holm-corrected over {family}; outlined: detectable",
                 loc="left", fontsize=10)
    fig.tight_layout()
    return fig, pd.concat([order.assign(panel="factor ranking"), data.assign(panel="level effects")], ignore_index=True)


def ranking_panel(ax, order: pd.DataFrame) -> None:
    """The factors by their spread of level means on validation, with its bootstrap interval and
    the share of resamples in which each ranks first."""
    ranked = order[order["val_spread"].notna()].reset_index(drop=True)
    y = np.arange(len(ranked))
    ax.barh(y, ranked["val_spread"], color=[PALETTE[i % len(PALETTE)] for i in y], alpha=0.85)
    ax.errorbar(ranked["val_spread"], y, fmt="none", ecolor="black", capsize=3,
                xerr=[ranked["val_spread"] - ranked["val_spread_ci_low"], ranked["val_spread_ci_high"] - ranked["val_spread"]])
    for i, row in ranked.iterrows():
        failed = f"; failed: {row['failed_levels']}" if isinstance(row["failed_levels"], str) and row["failed_levels"] else ""
        first = f"P(first) {row['p_first']:.2f}" if math.isfinite(row["p_first"]) else \
            f"P(first) withheld (< {MIN_BOOTSTRAP_SEEDS} seeds)"
        ax.annotate(f"{first}{failed}", (row["val_spread_ci_high"], i), xytext=(4, 0),
                    textcoords="offset points", va="center", fontsize=8, color="0.3")
    ax.set_yticks(y, ranked["factor"])
    ax.set_ylim(len(ranked) - 0.5, -0.5)
    ax.set_xlabel("best − worst level mean, validation accuracy (points)")
    ax.set_title("Factors ranked on validation; 95 % bootstrap CI over seeds", loc="left", fontsize=10)
    ax.margins(x=0.35)


@figure("interactions", title="Interactions of factor pairs (full sub-designs)", section=TITLE,
        tables=("interactions", "interaction_tests"), enabled=_enabled)
def interactions_figure(tables: Tables, config: Mapping[str, Any]):
    apply_theme()
    cells, tests = tables["interactions"], tables["interaction_tests"]
    if cells.empty:
        return placeholder("No pair of factors configured (studies.factor_effects.pairs)."), cells
    pairs = list(dict.fromkeys(cells["pair"]))
    fig, axes = plt.subplots(len(pairs), 2, figsize=(12, 3.6 * len(pairs)), squeeze=False)
    for (mean_ax, residual_ax), pair in zip(axes, pairs):
        part = cells[cells.pair == pair]
        rows, columns = list(dict.fromkeys(part["level_a"])), list(dict.fromkeys(part["level_b"]))
        for ax, value, cmap, label in ((mean_ax, "mean", "viridis", "mean"), (residual_ax, "interaction", "RdBu", "interaction")):
            grid = part.pivot(index="level_a", columns="level_b", values=value).loc[rows, columns]
            bound = np.nanmax(np.abs(grid.to_numpy())) if value == "interaction" else None
            image = ax.imshow(grid.to_numpy(dtype=float), cmap=cmap, aspect="auto",
                              vmin=-bound if bound else None, vmax=bound if bound else None)
            for i, a in enumerate(rows):
                for j, b in enumerate(columns):
                    cell = part[(part.level_a == a) & (part.level_b == b)].iloc[0]
                    half = cell["ci_high"] - cell["mean"]
                    text = (f"{cell['mean']:.1f}" + (f"\n± {half:.1f}" if math.isfinite(half) else "")
                            if value == "mean" else f"{cell['interaction']:+.1f}")
                    shade = image.norm(cell[value])  # viridis is dark at its low end, RdBu at both ends
                    dark = shade < 0.5 if value == "mean" else abs(shade - 0.5) > 0.3
                    ax.text(j, i, text, ha="center", va="center", fontsize=9, color="white" if dark else "black")
            ax.set_xticks(range(len(columns)), columns, rotation=20, ha="right")
            ax.set_yticks(range(len(rows)), rows)
            ax.set_xlabel(part["factor_b"].iloc[0])
            ax.set_ylabel(part["factor_a"].iloc[0])
            ax.grid(False)
            fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        verdict = interaction_verdict(tests[tests.pair == pair].iloc[0])
        mean_ax.set_title(f"{pair}: {metric_label(config)} (%), mean ± 95 % CI", loc="left", fontsize=10)
        residual_ax.set_title(f"interaction residual (points)\n{verdict}", loc="left", fontsize=9)
    fig.tight_layout()
    return fig, cells


def interaction_verdict(test: Mapping[str, Any]) -> str:
    """'F = 0.02 on 2 and 5 df (seeds as blocks), p = 0.98, Holm 1; 80 % power only for an rms
    interaction ≥ 3.1 points' — what the test says and what it could have seen."""
    if not math.isfinite(test["p_value"]):
        return str(test["note"])
    blocks = " (seeds as blocks)" if test["blocks"] else ""
    return (f"F = {test['F']:.2f} on {test['df_interaction']:g} and {test['df_error']:g} df{blocks}, p = {test['p_value']:.2g}, "
            f"Holm {test['p_adjusted']:.2g}; 80 % power only for an rms interaction ≥ {test['mde_rms']:.1f} points")
