"""The report's section of a versus design (`design.kind: versus`): where the challenger ranks.

On the tuned runs (`collect.compared_runs`) of the challenger and its family's standard levels,
final test accuracy of the model each run returns (test only reports: the learning rates were
chosen on validation, on a seed that is not compared):

- each standard level against the challenger — challenger − level, from one model over every
  level with seeds as blocks where they ran the same seeds (`stats.pooled_compare_contrasts`; else
  paired t on the seeds both ran, Welch where they differ, and `why` says), 95 % intervals
  Holm-corrected over the family of all these comparisons, n, and "no detectable difference"
  where the interval includes 0 (`stats.difference_sentence`);
- the challenger's rank among the levels by mean, with a rank interval from the corrected
  pairwise differences of the same model (`stats.pooled_level_ranks`: 1 + the levels detectably
  above it to the levels not detectably below it). The share of bootstrap resamples in which it
  ranks first is stated only from `stats.MIN_BOOTSTRAP_SEEDS` seeds on (`stats.bootstrap_level_ranks`):
  below that a bootstrap over seeds under-covers;
- levels that failed to tune (no trial trained: `trickbench.tuning`) or failed to train (most of
  their tuned runs diverged, exploded or stayed at chance on validation: `stats.failures`) are
  named as such and stay out of the ranks and the comparisons.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from trickbench.collect import baseline_labels, compared_runs
from trickbench.report.figures import Tables, figure, placeholder
from trickbench.report.grid import chance_test, factor_rows, technique_colors
from trickbench.stats import (MIN_BOOTSTRAP_SEEDS, bootstrap_level_ranks, count_reasons, difference_sentence,
                              failure_reasons, grouped_ci, level_failed, pooled_compare_contrasts, pooled_level_ranks)
from trickbench.stats.ranking import RESAMPLES
from trickbench.report.style import apply_theme
from trickbench.tuning import CHOICE_TABLE, tuning_seeds
from trickbench.versus import challenger_label, is_versus
from trickbench.versus import settings as versus_settings

#: the section's key in the figure registry; the page shows it as "Where <technique> ranks"
SECTION = "Where the challenger ranks"
METRIC, SELECT_ON = "final_test_acc", "final_val_acc"
COLUMNS = ["level", "is_challenger", "is_baseline", "runs", "n_failed", "failures", "failed", "n", "mean", "ci_low",
           "ci_high", "rank", "rank_ci_low", "rank_ci_high", "p_first", "challenger_n", "challenger_mean", "diff", "test", "df", "p_value", "p_adjusted",
           "correction", "family_size", "ci_level", "diff_ci_low", "diff_ci_high", "detectable", "mde", "seeds_needed", "why"]


def title(config: Mapping[str, Any]) -> str:
    return f"Where {challenger_name(config)} ranks"


def challenger_name(config: Mapping[str, Any]) -> str:
    technique = versus_settings(config)["technique"]
    return technique["name"] if isinstance(technique, Mapping) else str(technique)


def versus_table(tables: Tables, config: Mapping[str, Any]) -> pd.DataFrame:
    """One row per level of the compared family (the challenger first, then by rank, failed levels
    last): its tuned runs and failures, why it is not ranked (`failed`: "failed to tune" or "failed
    to train (…)", else empty), its mean test accuracy (%) with a 95 % t interval over seeds, its
    rank with its interval from the corrected pairwise differences and P(first) (NaN below
    `MIN_BOOTSTRAP_SEEDS` seeds), and — for a standard level — challenger − level with the
    report's test, why that test, and the Holm-corrected interval."""
    family = versus_settings(config)["family"]
    challenger, baseline = challenger_label(config), baseline_labels(config)[family]
    levels, failed_tuning = design_levels(tables[CHOICE_TABLE], family)
    runs = compared_runs(tables["runs"])
    runs = factor_rows(runs, family, "versus") if len(runs) else runs
    runs = runs.assign(level=runs[family].astype(str), value=100 * pd.to_numeric(runs[METRIC], errors="coerce"),
                       failure=failure_reasons(runs, SELECT_ON, chance_test(config))) if len(runs) else \
        pd.DataFrame(columns=["level", "value", "failure", "seed"])
    rows = []
    for level in levels:
        mine = runs[runs["level"] == level]
        failures = mine["failure"]
        n_failed = int((failures != "").sum())
        failed = ("failed to tune" if level in failed_tuning
                  else "no tuned run finished" if mine.empty
                  else f"failed to train ({count_reasons(failures)} of {len(mine)} runs)" if level_failed(n_failed, len(mine))
                  else "")
        rows.append({"level": level, "is_challenger": level == challenger, "is_baseline": level == baseline,
                     "runs": len(mine), "n_failed": n_failed, "failures": count_reasons(failures), "failed": failed})
    table = pd.DataFrame(rows, columns=["level", "is_challenger", "is_baseline", "runs", "n_failed", "failures", "failed"])
    ranked = table.loc[table["failed"] == "", "level"].tolist()
    trained = runs[runs["level"].isin(ranked) & (runs["failure"] == "")]
    described = grouped_ci(trained, "level", "value") if len(trained) else pd.DataFrame(columns=["level", "n", "mean", "ci_low", "ci_high"])
    ranks = pooled_level_ranks(trained, level="level", value="value")
    first = bootstrap_level_ranks(trained, level="level", value="value")[["level", "p_first"]]
    ranks = ranks.merge(first, on="level", how="left") if len(ranks) else ranks.assign(p_first=[])
    contrasts = [(challenger, level) for level in ranked if level != challenger] if challenger in ranked else []
    compared = pooled_compare_contrasts(trained, "level", "value", contrasts) if contrasts else pd.DataFrame(columns=["reference"])
    compared = (compared.drop(columns=["level", "n_reference", "reference_mean", "sd", "reference_sd"], errors="ignore")
                .rename(columns={"reference": "level", "n": "challenger_n", "mean": "challenger_mean"}))
    table = (table.merge(described[["level", "n", "mean", "ci_low", "ci_high"]], on="level", how="left")
             .merge(ranks[["level", "rank", "rank_ci_low", "rank_ci_high", "p_first"]], on="level", how="left")
             .merge(compared, on="level", how="left"))
    table["n"] = table["n"].fillna(0).astype(int)
    order = np.where(table["is_challenger"], -1.0, table["rank"].fillna(math.inf))
    return table.assign(order=order).sort_values("order", kind="stable").reindex(columns=COLUMNS).reset_index(drop=True)


def design_levels(choice: pd.DataFrame, family: str) -> tuple[list[str], set[str]]:
    """The family's levels in design order (the baseline's first) and those that failed to tune,
    from the tuning checkpoint's table: it lists every cell of the design, tuned or not."""
    if choice.empty:
        return [], set()
    cells = choice[choice["varies"].astype(str).isin([family, "baseline"])]
    levels = list(dict.fromkeys(cells[family].astype(str)))
    return levels, set(cells.loc[cells["status"] != "tuned", family].astype(str))


# -- sentences -------------------------------------------------------------------------------------
def rank_sentence(table: pd.DataFrame, config: Mapping[str, Any]) -> str:
    """'lion ranks 2 of 8 by mean test accuracy (…); 1 level not ranked: …' — or why it is not ranked."""
    name = challenger_name(config)
    mine = table[table["is_challenger"].astype(bool)]
    ranked = int(table["rank"].notna().sum())
    if mine.empty or not math.isfinite(mine["rank"].iloc[0]):
        why = mine["failed"].iloc[0] if len(mine) and mine["failed"].iloc[0] else "none of its tuned runs finished"
        return f"{name} is not ranked: {why}; no difference to the standard levels is estimated."
    row = mine.iloc[0]
    first = (f"ranking first in {100 * row['p_first']:.0f} % of {RESAMPLES:,} bootstrap resamples of each level's seeds"
             if math.isfinite(row["p_first"]) else
             f"how often it would rank first is not stated below {MIN_BOOTSTRAP_SEEDS} seeds a level, where a bootstrap "
             "over seeds under-covers")
    return (f"{name} ranks {int(row['rank'])} of {ranked} by mean final test accuracy ({row['mean']:.1f} %, {int(row['n'])} "
            f"seeds): its rank lies in {rank_interval(row)} by the pairwise differences the data hold (Holm-corrected "
            f"95 % intervals); {first}.")


def rank_interval(row: Mapping[str, Any]) -> str:
    """'1–3', or '1' where every resample agrees."""
    low, high = int(row["rank_ci_low"]), int(row["rank_ci_high"])
    return f"{low}–{high}" if low != high else f"{low}"


def comparison_sentences(table: pd.DataFrame, config: Mapping[str, Any]) -> list[str]:
    """Each standard level against the challenger (largest gain first), then each level not ranked."""
    name = challenger_name(config)
    compared = table[table["test"].notna() & ~table["is_challenger"].astype(bool)]
    lines = []
    for row in compared.sort_values("diff", ascending=False).to_dict("records"):
        # the difference is challenger − level: the challenger is the sentence's subject
        lines.append(difference_sentence({**row, "mean": row["challenger_mean"], "reference_mean": row["mean"],
                                          "n": row["challenger_n"], "n_reference": row["n"]},
                                         name, row["level"] + (" (the baseline)" if row["is_baseline"] else "")))
    lines += [f"{row['level']} is not ranked: {row['failed']}." for row in table.to_dict("records") if row["failed"]]
    return lines


def protocol_sentence(table: pd.DataFrame, config: Mapping[str, Any]) -> str:
    given, tuning = versus_settings(config), config["design"]["tuning"]
    source = ("the levels of design.versus.levels" if given.get("levels") is not None
              else "the catalogue's standard levels (trickbench.versus)")
    others = [level for level in table["level"] if level != challenger_label(config)]
    family_size = int(table["family_size"].max()) if table["family_size"].notna().any() else 0
    return (f"{challenger_name(config)} against {len(others)} level(s) of {given['family']} — {', '.join(others)}: "
            f"{source} and the baseline's — every other factor at the baseline. Each level got its own learning rate "
            f"({tuning['trials']} {tuning['search']} trials on validation, each on tuning seeds "
            f"{', '.join(map(str, tuning_seeds(config)))}, the best mean chosen) before seeds "
            f"{', '.join(map(str, config['design']['seeds']))} ran at it. Differences are {challenger_name(config)} − level "
            f"in points of final test accuracy, 95 % intervals Holm-corrected over the {family_size} comparison(s).")


def section_lines(tables: Tables, config: Mapping[str, Any]) -> list[str]:
    table = versus_table(tables, config)
    if table.empty:
        return ["No tuning trial finished yet, so no level is compared."]
    return [protocol_sentence(table, config), rank_sentence(table, config), *comparison_sentences(table, config)]


def section_notes(tables: Tables, config: Mapping[str, Any]) -> dict[str, list[str]]:
    """The section's text, under its title as the page shows it (empty unless a versus design)."""
    return {title(config): section_lines(tables, config)} if is_versus(config) else {}


def section_titles(config: Mapping[str, Any]) -> dict[str, str]:
    """Registry section → the title the page shows: 'Where lion ranks'."""
    return {SECTION: title(config)} if is_versus(config) else {}


def summary_findings(tables: Tables, config: Mapping[str, Any]) -> list[str]:
    """The summary's first finding in a versus design: the challenger's rank."""
    if not is_versus(config):
        return []
    table = versus_table(tables, config)
    return [rank_sentence(table, config) + f" See {title(config)}."] if len(table) else []


# -- the figure ------------------------------------------------------------------------------------
@figure("versus_ranks", title="The challenger against each standard level, tuned, over seeds", section=SECTION,
        tables=("runs", CHOICE_TABLE), enabled=is_versus)
def versus_figure(tables: Tables, config: Mapping[str, Any]):
    """Left: each level's mean test accuracy with its 95 % interval over seeds, levels by rank (the
    challenger on top); right: challenger − level with the Holm-corrected interval, filled where it
    excludes 0. Levels not ranked are listed with why, without a marker."""
    apply_theme()
    table = versus_table(tables, config)
    if table.empty:
        return placeholder("No tuning trial finished yet, so no level is compared."), table
    family, name = versus_settings(config)["family"], challenger_name(config)
    colors = technique_colors(tables["runs"], config)
    table = table.assign(y=range(len(table)), color=[colors(family, level) for level in table["level"]])
    fig, (left, right) = plt.subplots(1, 2, sharey=True, figsize=(11, 1.4 + 0.5 * len(table)),
                                      gridspec_kw={"width_ratios": [1, 1.2]})
    scored = table[table["n"] > 0]
    left.hlines(scored["y"], scored["ci_low"], scored["ci_high"], colors=scored["color"], linewidth=2)
    sns.scatterplot(data=scored, x="mean", y="y", hue="level", palette=dict(zip(scored["level"], scored["color"])),
                    s=70, legend=False, ax=left, zorder=3)
    compared = table[table["diff_ci_low"].notna()]
    right.axvline(0, color="0.4", linewidth=1, linestyle="--")
    right.hlines(compared["y"], compared["diff_ci_low"], compared["diff_ci_high"], colors=compared["color"], linewidth=2)
    for row in compared.to_dict("records"):
        detectable = bool(row["detectable"])
        right.scatter([row["diff"]], [row["y"]], s=60, zorder=3, color=row["color"] if detectable else "white",
                      edgecolors=row["color"], linewidths=1.6)
        if not detectable:
            right.annotate("no detectable difference", (row["diff"], row["y"]), xytext=(0, 7), textcoords="offset points",
                           ha="center", fontsize=7, color="0.4")
    for row in table[table["failed"] != ""].to_dict("records"):
        left.annotate(row["failed"], (0.02, row["y"]), xycoords=("axes fraction", "data"), va="center", fontsize=8,
                      color="#b00020")
    labels = [f"{row['level']}" + (" (challenger)" if row["is_challenger"] else " (baseline)" if row["is_baseline"] else "")
              + (f"  #{int(row['rank'])}" if math.isfinite(row["rank"]) else "  not ranked") for row in table.to_dict("records")]
    left.set_yticks(table["y"], labels)
    left.set_ylim(len(table) - 0.5, -0.5)
    left.set(xlabel="final test accuracy (%)\nmean and 95 % CI over seeds", ylabel="")
    family_size = int(table["family_size"].max()) if table["family_size"].notna().any() else 0
    right.set(xlabel=f"{name} − level (points)\n95 % CI Holm-corrected over {family_size} comparisons", ylabel="")
    mine = table.iloc[0]
    first = f"; first in {100 * mine['p_first']:.0f} % of resamples" if math.isfinite(mine["p_first"]) else ""
    headline = (f"{name} ranks {int(mine['rank'])} of {int(table['rank'].notna().sum())} (rank interval from the "
                f"Holm-corrected pairwise differences {rank_interval(mine)}{first})"
                if mine["is_challenger"] and math.isfinite(mine["rank"]) else f"{name} is not ranked: {mine['failed']}")
    fig.suptitle(textwrap.fill(f"{headline}. Every level tuned on validation; filled: the interval excludes 0 "
                               f"({' or '.join(sorted(set(table['test'].dropna()) - {''})) or 'no test'})", 110), x=0.01, ha="left")
    fig.tight_layout()
    return fig, table.drop(columns=["y", "color"])
