"""Factor effects: which choices matter, by how much, and which pairs interact.

Three views, in the language of the design of experiments (Montgomery, "Design and Analysis of
Experiments", ch. 5):

- main effects, from the grid: per factor level the mean metric with its 95 % CI over runs and
  seeds, and its difference from the baseline level with a Welch 95 % CI;
- a ranking of the factors by the spread of their level means (best − worst): what to tune first;
- interactions of pairs of factors. The default grid is an ablation (one factor at a time), which
  cannot show them, so each configured pair gets a full sub-design of its own (every combination of
  the two factors' levels, others at the baseline, every seed). Per cell: the mean with its CI and
  the interaction residual, cell − row mean − column mean + grand mean (zero for purely additive
  effects); per pair the two-way ANOVA F test of the interaction when the cells are balanced.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from trickbench.collect import baseline_labels, collect
from trickbench.design import baseline_levels, expand, make_spec, resolve_level
from trickbench.report.figures import Tables, figure, placeholder
from trickbench.report.grid import factor_rows
from trickbench.report.stats import grouped_ci, mean_ci
from trickbench.report.style import PALETTE, apply_theme
from trickbench.spec import RunSpec, regularizer_label
from trickbench.studies import Study, is_enabled, register_study
from trickbench.techniques import FAMILIES

NAME = "factor_effects"
TITLE = "Factor effects"
EFFECT_COLUMNS = ["factor", "level", "is_baseline", "n", "failed", "mean", "ci_low", "ci_high", "effect", "effect_ci_low",
                  "effect_ci_high", "rank"]


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
def scored(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs that trained to the end with a finite metric. A diverged or exploded run is counted as
    failed, never averaged: its chance-level accuracy is not a result of the technique."""
    return runs[(runs["status"] == "ok") & np.isfinite(runs["value"])]


def welch_interval(a: pd.Series, b: pd.Series, level: float = 0.95) -> tuple[float, float]:
    """CI of mean(a) − mean(b) with Welch's unequal-variance t (NaN when a side has < 2 values)."""
    if len(a) < 2 or len(b) < 2:
        return math.nan, math.nan
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    difference = a.mean() - b.mean()
    if va + vb == 0:
        return difference, difference
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = stats.t.ppf(0.5 + level / 2, df) * math.sqrt(va + vb)
    return difference - half, difference + half


def main_effects(runs: pd.DataFrame, design_kind: str, baseline: Mapping[str, str], metric: str) -> pd.DataFrame:
    """Per factor with ≥ 2 levels among `runs`: each level's mean metric (in %) with its 95 % CI,
    its difference from the baseline level with a Welch CI, and its rank within the factor."""
    runs = runs.assign(value=100 * pd.to_numeric(runs[metric], errors="coerce"))
    parts = []
    for family in FAMILIES:
        rows = factor_rows(runs, family, design_kind) if "varies" in runs else runs
        if rows[family].nunique() < 2:
            continue
        ok = scored(rows)
        levels = pd.DataFrame({"level": list(dict.fromkeys(rows[family]))})  # a level whose runs all failed stays, n = 0
        table = levels.merge(grouped_ci(ok, family, "value").rename(columns={family: "level"}) if len(ok) else
                             pd.DataFrame(columns=["level", "n", "mean", "sd", "ci_low", "ci_high"]), on="level", how="left")
        table["n"] = table["n"].fillna(0).astype(int)
        table["failed"] = [int((rows.loc[rows[family] == level, "status"] != "ok").sum()) for level in table["level"]]
        table["is_baseline"] = table["level"] == baseline[family]
        reference = ok.loc[ok[family] == baseline[family], "value"]
        table["effect"] = table["mean"] - reference.mean() if len(reference) else math.nan
        intervals = [welch_interval(ok.loc[ok[family] == level, "value"], reference) for level in table["level"]]
        table["effect_ci_low"], table["effect_ci_high"] = [low for low, _ in intervals], [high for _, high in intervals]
        table["rank"] = table["mean"].rank(ascending=False, method="min", na_option="bottom").astype(int)
        table.insert(0, "factor", family)
        parts.append(table.sort_values("rank"))
    return pd.concat(parts, ignore_index=True)[EFFECT_COLUMNS] if parts else pd.DataFrame(columns=EFFECT_COLUMNS)


def ranking(effects: pd.DataFrame) -> pd.DataFrame:
    """Factors ordered by the spread of their level means: the larger, the more the choice matters."""
    rows = []
    for family, part in effects.groupby("factor", sort=False):
        best, worst = part.loc[part["mean"].idxmax()], part.loc[part["mean"].idxmin()]
        rows.append({"factor": family, "levels": len(part), "spread": best["mean"] - worst["mean"],
                     "best_level": best["level"], "best_mean": best["mean"], "worst_level": worst["level"],
                     "worst_mean": worst["mean"]})
    table = pd.DataFrame(rows, columns=["factor", "levels", "spread", "best_level", "best_mean", "worst_level", "worst_mean"])
    table = table.sort_values("spread", ascending=False, ignore_index=True)
    table.insert(0, "rank", range(1, len(table) + 1))
    return table


# -- interactions --------------------------------------------------------------------------------
def pair_cells(runs: pd.DataFrame, first: str, first_levels: list[str], second: str, second_levels: list[str],
               baseline: Mapping[str, str], metric: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cells, runs) of one pair's sub-design: per cell the mean metric (in %) with its CI and the
    interaction residual; the scored runs with their metric as `value`."""
    others = [f for f in FAMILIES if f not in (first, second)]
    mask = runs[first].isin(first_levels) & runs[second].isin(second_levels)
    for family in others:
        mask &= runs[family] == baseline[family]
    part = scored(runs[mask].assign(value=lambda r: 100 * pd.to_numeric(r[metric], errors="coerce")))
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


def interaction_test(part: pd.DataFrame, first: str, second: str) -> dict[str, Any]:
    """Two-way ANOVA F test of the interaction (balanced cells with ≥ 2 replicates each)."""
    counts = part.groupby([first, second]).size()
    a, b = part[first].nunique(), part[second].nunique()
    if len(counts) < a * b or counts.nunique() != 1 or counts.iloc[0] < 2 or a < 2 or b < 2:
        return {"F": math.nan, "df_interaction": math.nan, "df_error": math.nan, "p_value": math.nan,
                "note": "needs every cell filled with the same number (≥ 2) of finished runs"}
    n = int(counts.iloc[0])
    cell = part.groupby([first, second])["value"].mean()
    row = part.groupby(first)["value"].mean()
    column = part.groupby(second)["value"].mean()
    grand = part["value"].mean()
    interaction = sum((cell[(i, j)] - row[i] - column[j] + grand) ** 2 for i, j in cell.index) * n
    error = ((part["value"] - part.groupby([first, second])["value"].transform("mean")) ** 2).sum()
    df_interaction, df_error = (a - 1) * (b - 1), a * b * (n - 1)
    if error == 0:
        return {"F": math.inf, "df_interaction": df_interaction, "df_error": df_error, "p_value": 0.0 if interaction else 1.0,
                "note": "no variation within cells"}
    f_value = (interaction / df_interaction) / (error / df_error)
    return {"F": f_value, "df_interaction": df_interaction, "df_error": df_error,
            "p_value": float(stats.f.sf(f_value, df_interaction, df_error)), "note": ""}


def interactions(runs: pd.DataFrame, config: Mapping[str, Any], baseline: Mapping[str, str], metric: str):
    cells, tests = [], []
    for pair in pair_levels(config):
        (first, first_levels), (second, second_levels) = pair.items()
        labels = lambda family, levels: list(dict.fromkeys(level_label(family, level) for level in levels))
        design = runs[runs["run_id"].isin({spec.run_id for spec in pair_design(config, pair)})]  # its seeds only
        table, part = pair_cells(design, first, labels(first, first_levels), second, labels(second, second_levels), baseline,
                                 metric)
        cells.append(table)
        tests.append({"pair": f"{first} × {second}", **interaction_test(part, first, second)})
    columns = ["pair", "factor_a", "level_a", "factor_b", "level_b", "n", "mean", "ci_low", "ci_high", "interaction"]
    return (pd.concat(cells, ignore_index=True) if cells else pd.DataFrame(columns=columns),
            pd.DataFrame(tests, columns=["pair", "F", "df_interaction", "df_error", "p_value", "note"]))


def analyze(config: Mapping[str, Any], run_dirs: list[Path]) -> dict[str, pd.DataFrame]:
    baseline, metric = baseline_labels(config), settings(config)["metric"]
    runs = collect(run_dirs, baseline).runs
    grid_ids = {spec.run_id for spec in expand(config)}
    effects = main_effects(runs[runs["run_id"].isin(grid_ids)], config["design"]["kind"], baseline, metric)
    cells, tests = interactions(runs, config, baseline, metric)
    return {"main_effects": effects, "factor_ranking": ranking(effects), "interactions": cells, "interaction_tests": tests}


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
        part = effects[(effects.factor == factor["factor"]) & ~effects["is_baseline"]].sort_values("effect", ascending=False)
        rows += [{**r, "label": f"{r['factor']}: {r['level']}", "rank_of_factor": factor["rank"]} for r in part.to_dict("records")]
    data = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(9, 1.0 + 0.38 * len(data)))
    colors = [PALETTE[(int(r) - 1) % len(PALETTE)] for r in data["rank_of_factor"]]
    y = np.arange(len(data))
    ax.barh(y, data["effect"], color=colors, alpha=0.8)
    finite = np.isfinite(data["effect_ci_low"].astype(float))
    ax.errorbar(data.loc[finite, "effect"], y[finite], fmt="none", ecolor="black", capsize=3,
                xerr=[data.loc[finite, "effect"] - data.loc[finite, "effect_ci_low"],
                      data.loc[finite, "effect_ci_high"] - data.loc[finite, "effect"]])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, data["label"])
    ax.set_ylim(len(data) - 0.5, -0.5)
    ax.set_xlabel(f"{metric_label(config)} − the baseline level's (percentage points)")
    ax.set_title("Factors from most to least influential (spread of level means); whiskers: Welch 95 % CI",
                 loc="left", fontsize=10)
    fig.tight_layout()
    return fig, data


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
                    dark = value == "mean" and image.norm(cell["mean"]) < 0.5  # viridis is dark at its low end
                    ax.text(j, i, text, ha="center", va="center", fontsize=9, color="white" if dark else "black")
            ax.set_xticks(range(len(columns)), columns, rotation=20, ha="right")
            ax.set_yticks(range(len(rows)), rows)
            ax.set_xlabel(part["factor_b"].iloc[0])
            ax.set_ylabel(part["factor_a"].iloc[0])
            ax.grid(False)
            fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        test = tests[tests.pair == pair].iloc[0]
        verdict = (f"interaction F = {test['F']:.2f}, p = {test['p_value']:.3g}" if math.isfinite(test["p_value"])
                   else str(test["note"]))
        mean_ax.set_title(f"{pair}: {metric_label(config)} (%), mean ± 95 % CI", loc="left", fontsize=10)
        residual_ax.set_title(f"interaction residual (points); {verdict}", loc="left", fontsize=10)
    fig.tight_layout()
    return fig, cells
