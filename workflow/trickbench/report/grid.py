"""Figures of the factor grid: accuracy per factor level, learning curves, the train/val gap."""

from __future__ import annotations

import math
import textwrap
from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from trickbench.collect import baseline_labels, compared_runs
from trickbench.data.labels import class_count, split_labels
from trickbench.design import ONE_FACTOR_AT_A_TIME, baseline_spec
from trickbench.report.figures import Tables, figure, placeholder
from trickbench.stats import ChanceTest, count_reasons, failure_reasons, grouped_ci, level_failed, pooled_compare_to_reference
from trickbench.report.style import BASELINE_COLOR, TRAIN_STYLE, VAL_STYLE, TechniqueColors, apply_theme, integer_ticks

#: the running training-mode numbers of the epoch's minibatches, drawn beside the eval-mode curves
RUNNING_STYLE = ":"
from trickbench.techniques import FAMILIES

SECTION = "Factor grid"


def finished(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs that trained to the end (status ok) with a finite final test accuracy. A diverged run
    can still score ~10 % (NaN logits argmax to class 0): it is counted elsewhere, never averaged.
    Only the runs comparisons rest on (`collect.compared_runs`: tuned ones in a tuned design)."""
    runs = compared_runs(runs)
    if runs.empty:
        return runs
    return runs[(runs["status"] == "ok") & np.isfinite(pd.to_numeric(runs["final_test_acc"], errors="coerce"))]


def factor_rows(runs: pd.DataFrame, family: str, design_kind: str) -> pd.DataFrame:
    """The runs that speak to `family`: in an ablation the baseline and the runs varying only it;
    in a full or random design all runs (a main effect, averaged over the other factors)."""
    if design_kind in ONE_FACTOR_AT_A_TIME:
        return runs[runs["varies"].isin([family, "baseline"])]
    return runs


#: the columns of `effects_table`: the level, its runs and failures, its mean (descriptive 95 % CI),
#: its mean validation score, then its comparison with the baseline level (`stats.pooled_compare_to_reference`:
#: the pooled model over the grid's cells where they share seeds, with the test used and why)
EFFECT_COLUMNS = ["factor", "level", "is_baseline", "runs", "n_failed", "failed", "failures", "n", "mean", "sd", "ci_low",
                  "ci_high", "val_mean", "n_reference", "reference_mean", "diff", "test", "df", "p_value", "p_adjusted",
                  "correction", "family_size", "ci_level", "diff_ci_low", "diff_ci_high", "detectable", "mde",
                  "seeds_needed", "why"]


def validation_metric(metric: str) -> str:
    """The validation column that chooses for a reported metric: final_test_acc → final_val_acc."""
    return metric.replace("test", "val")


def chance_test(config: Mapping[str, Any]) -> ChanceTest | None:
    """The grid's test of "not above chance": its data's classes and validation-split size (None
    without a validation split, where nothing can be tested on validation)."""
    spec = baseline_spec(config, config["design"]["seeds"][0])
    n_val = len(split_labels(spec, config)["val"])
    return ChanceTest(class_count(spec, config), n_val) if n_val else None


def effects_table(runs: pd.DataFrame, config: Mapping[str, Any], metric: str = "final_test_acc") -> pd.DataFrame:
    """`level_effects` of the config's grid: the levels of its design against its baseline, on the
    runs comparisons rest on (`collect.compared_runs`: the tuned ones in a tuned design)."""
    table = level_effects(compared_runs(runs), config["design"]["kind"], baseline_labels(config), metric,
                          chance_test(config))
    return with_untuned_levels(table, runs, config)


#: what `failures` says of a level of a tuned design that has no tuned run because it failed to tune
FAILED_TO_TUNE = "failed to tune"


def with_untuned_levels(table: pd.DataFrame, runs: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    """`table` plus, in a tuned design, each level whose tuning trials ran but which has no tuned
    run — it failed to tune (no trial trained on every tuning seed, `trickbench.tuning`) — as a
    failed level with no mean and no comparison: named where the other levels are, not missing."""
    if runs.empty or "role" not in runs:
        return table
    roles = runs["role"].fillna("grid").astype(str)
    if not roles.str.contains("tuned").any():
        return table  # not a tuned design, or its tuned runs are not collected yet
    kind, baseline = config["design"]["kind"], baseline_labels(config)
    trials, compared = runs[(roles == "tuning").to_numpy()], compared_runs(runs)
    rows = []
    for family in FAMILIES:
        if family not in runs:
            continue
        tried = factor_rows(trials, family, kind)[family].astype(str)
        ran = set(factor_rows(compared, family, kind)[family].astype(str))
        rows += [{"factor": family, "level": level, "is_baseline": level == baseline.get(family), "runs": 0,
                  "n_failed": 0, "failed": True, "failures": FAILED_TO_TUNE, "n": 0}
                 for level in dict.fromkeys(tried) if level not in ran and len(ran | set(tried)) >= 2]
    if not rows:
        return table
    order = {family: i for i, family in enumerate(dict.fromkeys([*table["factor"], *FAMILIES]))}
    untuned = pd.DataFrame(rows).reindex(columns=EFFECT_COLUMNS)
    merged = pd.concat([table, untuned], ignore_index=True) if len(table) else untuned
    return merged.sort_values("factor", key=lambda f: f.map(order), kind="stable").reset_index(drop=True)


def level_effects(runs: pd.DataFrame, design_kind: str, baseline: Mapping[str, str], metric: str,
                  chance: ChanceTest | None, correction: str = "holm") -> pd.DataFrame:
    """Per level of every factor that takes ≥ 2 levels (in %): its runs and failed runs
    (`stats.failure_reasons`: diverged, exploded, at chance on validation), whether the level
    failed (most of its runs did), the mean `metric` of its trained runs with a 95 % CI, its mean
    validation score, and its difference to the baseline level — every level of every factor one
    family, from one model over the grid's cells with seeds as blocks where they share seeds
    (`stats.pooled_compare_to_reference`, a cell being a run's combination of levels; else the
    per-comparison test, `why` says). A failed level has no mean and no comparison. Levels
    are ordered by validation score within each factor (failed ones last): test never orders."""
    select_on = validation_metric(metric)
    if runs.empty:
        return pd.DataFrame(columns=EFFECT_COLUMNS)
    runs = runs.assign(value=100 * pd.to_numeric(runs[metric], errors="coerce"),
                       selected=100 * pd.to_numeric(runs[select_on], errors="coerce"),
                       failure=failure_reasons(runs, select_on, chance))
    parts = []
    for family in FAMILIES:
        rows = factor_rows(runs, family, design_kind) if family in runs else runs.iloc[:0]
        if len(rows) and rows[family].nunique() >= 2:
            parts.append(rows.assign(factor=family, level=rows[family].astype(str)))
    if not parts:
        return pd.DataFrame(columns=EFFECT_COLUMNS)
    long = pd.concat(parts, ignore_index=True)
    keys = ["factor", "level"]
    levels = long.groupby(keys, sort=False).agg(runs=("value", "size"), n_failed=("failure", lambda f: int((f != "").sum())),
                                                failures=("failure", count_reasons)).reset_index()
    levels["failed"] = [level_failed(failed, total) for failed, total in zip(levels["n_failed"], levels["runs"])]
    in_failed_level = pd.MultiIndex.from_frame(long[keys]).isin(list(levels.loc[levels["failed"], keys].itertuples(index=False)))
    trained = long[(long["failure"] == "").to_numpy() & ~in_failed_level]
    described = _described(trained, keys)
    trained = trained.assign(cell=cell_labels(trained))
    compared = pooled_compare_to_reference(trained, "level", "value", dict(baseline), within="factor", cell="cell",
                                           correction=correction).drop(columns=["n", "mean", "sd"])
    table = (levels.merge(described, on=keys, how="left")
             .merge(compared, on=keys, how="left"))
    table["n"] = table["n"].fillna(0).astype(int)
    table["is_baseline"] = [level == baseline.get(factor) for factor, level in zip(table["factor"], table["level"])]
    table = table.assign(order=table["val_mean"].fillna(-math.inf), factor_order=table["factor"].map(
        {f: i for i, f in enumerate(dict.fromkeys(table["factor"]))}))
    table = table.sort_values(["factor_order", "order"], ascending=[True, False], kind="stable")
    return table[EFFECT_COLUMNS].reset_index(drop=True)


def cell_labels(runs: pd.DataFrame) -> list[str]:
    """Each run's cell: its combination of levels of every factor (one variant of an ablation)."""
    families = [family for family in FAMILIES if family in runs]
    return ["|".join(map(str, values)) for values in runs[families].itertuples(index=False)] if families \
        else [""] * len(runs)


def _described(trained: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per level: n, mean, sd and 95 % CI of `value`, and the mean validation score `val_mean`."""
    if trained.empty:
        return pd.DataFrame(columns=[*keys, "n", "mean", "sd", "ci_low", "ci_high", "val_mean"])
    validation = trained.groupby(keys, sort=False)["selected"].mean().rename("val_mean").reset_index()
    return grouped_ci(trained, keys, "value").merge(validation, on=keys, how="left")


def technique_colors(runs: pd.DataFrame, config: Mapping[str, Any]) -> TechniqueColors:
    """The report's colour per technique level, from the whole runs table (see `TechniqueColors`)."""
    return TechniqueColors(runs, baseline_labels(config), FAMILIES)


def panel_grid(panels: int, levels: int, columns: int = 3) -> tuple[plt.Figure, np.ndarray]:
    """One panel per factor, up to `columns` a row, each tall enough for `levels` labelled rows;
    a shared x axis so that panels compare at a glance."""
    columns = min(columns, panels)
    rows = math.ceil(panels / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 0.9 + (0.42 * levels + 0.8) * rows),
                             squeeze=False, sharex=True)
    for ax in list(axes.flat)[panels:]:
        ax.set_axis_off()
    for ax in axes.flat:
        ax.tick_params(labelbottom=True)  # every panel keeps its numbers, not only the bottom row
    return fig, axes


def seed_dots(ax, values: pd.Series, y: float, color) -> None:
    """Every seed's value as a dot, spread vertically around row `y`; smaller and lighter when
    there are many, so that a dense level stays a readable band rather than a blot."""
    many = len(values) > 20
    jitter = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else np.zeros(len(values))
    ax.scatter(values, y + jitter, s=7 if many else 18, color=color, alpha=0.35 if many else 0.6,
               linewidths=0, zorder=2)


@figure("factor_effects", title="Test accuracy per factor level", section=SECTION)
def factor_effects(tables: Tables, config: Mapping[str, Any]):
    apply_theme()
    runs, baseline = tables["runs"], baseline_labels(config)
    effects = effects_table(runs, config)
    if effects.empty:
        return placeholder("No factor takes two or more levels among the finished runs."), effects
    trained = runs[failure_reasons(runs, "final_val_acc", chance_test(config)) == ""]
    factors = list(dict.fromkeys(effects["factor"]))
    colors = technique_colors(runs, config)
    fig, axes = panel_grid(len(factors), max(effects["factor"].value_counts()))
    for ax, family in zip(axes.flat, factors):
        part = effects[effects.factor == family].reset_index(drop=True)
        points = factor_rows(trained, family, config["design"]["kind"])
        for y, row in part.iterrows():
            if row["failed"]:  # no mean, no effect: say what happened where its diamond would be
                ax.annotate(FAILED_TO_TUNE if row["failures"] == FAILED_TO_TUNE else
                            f"failed: {row['n_failed']} of {row['runs']} runs ({row['failures']})", (0.02, y),
                            xycoords=("axes fraction", "data"), va="center", fontsize=8, color="0.35")
                continue
            seed_dots(ax, 100 * points.loc[points[family].astype(str) == row["level"], "final_test_acc"], y,
                      colors(family, row["level"]))
            has_ci = math.isfinite(row["ci_low"])
            ax.errorbar(row["mean"], y, xerr=[[row["mean"] - row["ci_low"]], [row["ci_high"] - row["mean"]]] if has_ci else None,
                        fmt="D", color="black", markersize=5, capsize=3, zorder=3,
                        markerfacecolor="black" if row["detectable"] == True else "white")  # noqa: E712 (NaN: neither)
        ax.set_yticks(range(len(part)), [f"{level} (baseline)" if level == baseline[family] else str(level)
                                         for level in part["level"]])
        ax.set_ylim(len(part) - 0.5, -0.5)
        ax.set_title(family, loc="left", fontweight="bold")
        ax.set_xlabel("test accuracy (%)")
    for ax in list(axes.flat)[len(factors):]:
        ax.set_axis_off()
    family_size = int(effects["family_size"].max()) if effects["family_size"].notna().any() else 0
    tests = " or ".join(sorted(set(effects["test"].dropna()) - {""})) or "no test"
    fig.suptitle("Test accuracy per factor level — dots: seeds; diamonds: mean ± 95 % CI; filled: differs detectably from "
                 f"the baseline ({tests}, Holm-corrected over {family_size} comparisons)", x=0.01, ha="left")
    fig.tight_layout()
    return fig, effects


def variant_label(row: Mapping[str, Any], baseline: Mapping[str, str]) -> str:
    """What a run changes relative to the baseline, e.g. 'init=xavier_normal', or 'baseline'."""
    changed = [f"{family}={row[family]}" for family in FAMILIES if str(row[family]) != baseline.get(family)]
    return ", ".join(changed) or "baseline"


def with_variants(runs: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    baseline = baseline_labels(config)
    return runs.assign(variant=[variant_label(row, baseline) for row in runs.to_dict("records")])


def variant_color(variant: str, colors: TechniqueColors):
    """A run's colour: its technique's when it changes one factor, the baseline grey when it
    changes none, the palette's first colour when it changes several (no one technique to name)."""
    if variant == "baseline":
        return BASELINE_COLOR
    if ", " in variant:
        return colors("", "")
    family, _, level = variant.partition("=")
    return colors(family, level)


@figure("learning_curves", title="Learning curves: train vs validation", section=SECTION, tables=("runs", "epochs"))
def learning_curves(tables: Tables, config: Mapping[str, Any]):
    """Small multiples, one column per run: loss above, accuracy below, the baseline in grey
    behind each, so every run reads against the same reference without a crowded legend.

    The train curve is measured like the validation one — in eval mode, on the run's fixed sample
    of the training split (`train_eval_*`) — so the gap between them is the model's; the running
    training-mode mean of the epoch's minibatches (`train_*`: dropout and augmentation on, weights
    moving) is drawn thin and dotted for the run itself, labelled as such."""
    apply_theme()
    runs, epochs = finished(tables["runs"]), tables["epochs"]
    if runs.empty or epochs.empty:
        return placeholder("No finished run to draw learning curves of."), pd.DataFrame()
    first_seed = with_variants(runs[runs["seed"] == runs["seed"].min()], config).sort_values("final_val_acc")
    count = min(config["report"]["learning_curves"], len(first_seed))
    chosen = first_seed.iloc[np.unique(np.linspace(0, len(first_seed) - 1, count).round().astype(int))]
    reference = first_seed[first_seed["variant"] == "baseline"].head(1)
    data = epochs.merge(pd.concat([chosen, reference])[["run_id", "variant"]].drop_duplicates(), on="run_id")
    colors = technique_colors(tables["runs"], config)
    columns = min(3, len(chosen))
    blocks = math.ceil(len(chosen) / columns)
    fig, axes = plt.subplots(2 * blocks, columns, figsize=(4.4 * columns, 0.6 + 4.6 * blocks), squeeze=False, sharex=True)
    metrics = [("loss", 1, "cross-entropy loss (nats)"), ("acc", 100, "accuracy (%)")]
    for index, (variant, run_id) in enumerate(zip(chosen["variant"], chosen["run_id"])):
        block, column = divmod(index, columns)
        for offset, (metric, scale, label) in enumerate(metrics):
            ax = axes[2 * block + offset, column]
            if (block, column) != (0, 0):
                ax.sharey(axes[offset, 0])  # one y scale per metric: runs compare across panels
            curves = [(reference["run_id"].iloc[0], BASELINE_COLOR, 1.2)] if len(reference) and variant != "baseline" else []
            for curve_id, color, width in curves + [(run_id, variant_color(variant, colors), 2.0)]:
                curve = data[data["run_id"] == curve_id]
                ax.plot(curve["epoch"], scale * curve[f"train_eval_{metric}"], TRAIN_STYLE, color=color, linewidth=width)
                ax.plot(curve["epoch"], scale * curve[f"val_{metric}"], VAL_STYLE, color=color, linewidth=width)
            running = data[data["run_id"] == run_id]
            ax.plot(running["epoch"], scale * running[f"train_{metric}"], RUNNING_STYLE, color=variant_color(variant, colors),
                    linewidth=1.0, alpha=0.8)
            integer_ticks(ax)
            ax.set_ylabel(label if column == 0 else "")
            ax.set_xlabel("epoch" if offset == 1 else "")
            if offset == 0:
                ax.set_title(textwrap.fill(variant, 38), loc="left", fontsize=10, fontweight="bold")
            ax.tick_params(labelbottom=True)
    for ax in [axes[2 * (i // columns) + o, i % columns] for i in range(len(chosen), blocks * columns) for o in (0, 1)]:
        ax.set_axis_off()
    handles = [Line2D([], [], color="black", linestyle=TRAIN_STYLE, label="train (eval mode)"),
               Line2D([], [], color="black", linestyle=VAL_STYLE, label="validation"),
               Line2D([], [], color="black", linestyle=RUNNING_STYLE, linewidth=1.0, label="train, running (train mode)")]
    if len(reference):
        handles.append(Line2D([], [], color=BASELINE_COLOR, linewidth=1.2, label="baseline (for reference)"))
    fig.legend(handles=handles, loc="lower center", ncol=2 if columns == 1 else len(handles), frameon=False, fontsize=9)
    fig.suptitle("Learning curves (first seed), worst to best validation accuracy", x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0.07 if columns == 1 else 0.04, 1, 0.97))
    return fig, data[["run_id", "variant", "epoch", "train_eval_loss", "val_loss", "train_eval_acc", "val_acc",
                      "train_loss", "train_acc"]]


@figure("generalization_gap", title="Train − validation accuracy gap", section=SECTION)
def generalization_gap(tables: Tables, config: Mapping[str, Any]):
    """Per factor level (the same panels as the accuracy figure), so it stays one row per level
    whether the design has ten runs or a thousand. The gap is that of the model each run returns,
    both accuracies in eval mode: train on the run's fixed training sample (`final_train_eval_acc`),
    not the running training-mode accuracy, which dropout and augmentation pull down."""
    apply_theme()
    runs = finished(tables["runs"])
    if not runs.empty:
        runs = runs.assign(gap=100 * (pd.to_numeric(runs["final_train_eval_acc"], errors="coerce") - runs["final_val_acc"]))
        runs = runs[np.isfinite(runs["gap"])]
    if runs.empty:
        return placeholder("No finished run with an eval-mode training accuracy to measure the gap of."), pd.DataFrame()
    parts = []
    for family in FAMILIES:
        rows = factor_rows(runs, family, config["design"]["kind"])
        if rows[family].nunique() >= 2:
            table = grouped_ci(rows, family, "gap").rename(columns={family: "level"})
            parts.append(table.assign(factor=family).sort_values("mean", ascending=False))
    if not parts:
        return placeholder("No factor takes two or more levels among the finished runs."), pd.DataFrame()
    table = pd.concat(parts, ignore_index=True)[["factor", "level", "n", "mean", "sd", "ci_low", "ci_high"]]
    colors = technique_colors(tables["runs"], config)
    factors = list(dict.fromkeys(table["factor"]))
    fig, axes = panel_grid(len(factors), max(table["factor"].value_counts()))
    for ax, family in zip(axes.flat, factors):
        part = table[table.factor == family].reset_index(drop=True)
        points = factor_rows(runs, family, config["design"]["kind"])
        ax.barh(range(len(part)), part["mean"], color=[colors(family, level) for level in part["level"]], alpha=0.75, height=0.6)
        for y, level in enumerate(part["level"]):
            seed_dots(ax, points.loc[points[family] == level, "gap"], y, "black")
        finite = np.isfinite(part["ci_low"])
        ax.errorbar(part.loc[finite, "mean"], np.flatnonzero(finite), fmt="none", ecolor="black", capsize=3, zorder=3,
                    xerr=[part.loc[finite, "mean"] - part.loc[finite, "ci_low"], part.loc[finite, "ci_high"] - part.loc[finite, "mean"]])
        ax.axvline(0, color="0.3", linewidth=0.8)
        ax.set_yticks(range(len(part)), part["level"].astype(str))
        ax.set_ylim(len(part) - 0.5, -0.5)
        ax.set_title(family, loc="left", fontweight="bold")
        ax.set_xlabel("train − validation accuracy, eval mode (points)")
    fig.suptitle("Generalization gap per factor level (returned model, eval mode) — bars: mean; dots: seeds; "
                 "whiskers: 95 % CI", x=0.01, ha="left")
    fig.tight_layout()
    return fig, table
