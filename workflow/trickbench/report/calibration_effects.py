"""Calibration per variant of the grid: test NLL and ECE before and after temperature scaling.

Raw NLL and ECE mix two things: how well a network ranks its classes and how over-confident it
is. Temperature scaling on validation (`trickbench.calibration`, Guo et al. 2017) removes most of
the second, so comparing techniques on the *scaled* numbers asks which one learned better
probabilities, not which one happens to be less over-confident in the model it returns (Ashukha et al.
2020). Both are shown; a regularizer that "improves calibration" only raw has fixed a scalar.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import matplotlib.pyplot as plt
import pandas as pd

from trickbench.report.figures import Tables, figure, placeholder
from trickbench.report.grid import SECTION, chance_test, finished, with_variants
from trickbench.stats import difference_sentence, failure_reasons, grouped_ci, pooled_compare_to_reference
from trickbench.report.style import PALETTE, apply_theme

#: metric → (raw column, temperature-scaled column, axis label, scale)
METRICS = {
    "nll": ("test_nll", "test_nll_temperature_scaled", "test NLL (nats)", 1.0),
    "ece": ("test_ece", "test_ece_temperature_scaled", "test ECE, 15 bins (%)", 100.0),
}
SCALINGS = {"raw": 0, "temperature-scaled": 1}
#: variants the figure draws at most: those whose NLL rank scaling changes most (the CSV has all)
MAX_ROWS = 30


def trained_variants(runs: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    """The runs that trained (`stats.failure_reasons`: not diverged, exploded or at chance on
    validation), each with its variant label."""
    runs = finished(runs)
    if runs.empty:
        return runs
    return with_variants(runs[failure_reasons(runs, "final_val_acc", chance_test(config)) == ""], config)


def calibration_table(runs: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    """Per variant × metric × scaling: n, mean, sd and 95 % CI over seeds, and the mean temperature."""
    runs = trained_variants(runs, config)
    if runs.empty or "test_nll" not in runs or runs["test_nll"].isna().all():
        return pd.DataFrame()
    temperature = runs.groupby("variant")["temperature"].mean()
    parts = []
    for metric, (raw, scaled, _, scale) in METRICS.items():
        for scaling, column in zip(SCALINGS, (raw, scaled)):
            table = grouped_ci(runs.assign(value=scale * pd.to_numeric(runs[column], errors="coerce")), "variant", "value")
            table.insert(1, "metric", metric)
            table.insert(2, "scaling", scaling)
            parts.append(table)
    table = pd.concat(parts, ignore_index=True)
    table["temperature"] = table["variant"].map(temperature)
    return table


def scaled_nll_comparisons(runs: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    """Every variant's temperature-scaled test NLL against the baseline's, every variant one family:
    one model over the variants with seeds as blocks where they ran the same seeds
    (`stats.pooled_compare_to_reference`, Holm on its residual df), else the per-comparison test;
    `test` and `why` say which and why."""
    runs = trained_variants(runs, config)
    if runs.empty or "test_nll_temperature_scaled" not in runs:
        return pd.DataFrame()
    values = runs.assign(value=pd.to_numeric(runs["test_nll_temperature_scaled"], errors="coerce"))
    return pooled_compare_to_reference(values, "variant", "value", "baseline")


def summary_sentences(runs: pd.DataFrame, config: Mapping[str, Any]) -> list[str]:
    """How much temperature scaling changes NLL, whether it changes which variant is lowest, and
    whether the lowest after scaling differs detectably from the baseline."""
    table = calibration_table(runs, config)
    if table.empty:
        return []
    nll = table[table["metric"] == "nll"].pivot(index="variant", columns="scaling", values="mean").dropna()
    if nll.empty:
        return []
    best_raw, best_scaled = nll["raw"].idxmin(), nll["temperature-scaled"].idxmin()
    temperatures = table.drop_duplicates("variant")["temperature"]
    sentences = [f"Temperature scaling on validation (median T = {temperatures.median():.2f}) lowers the mean test NLL "
                 f"from {nll['raw'].median():.3f} to {nll['temperature-scaled'].median():.3f} nats (medians over variants)."]
    if best_raw != best_scaled:
        sentences.append(f"The lowest raw NLL is {best_raw}'s ({nll.loc[best_raw, 'raw']:.3f}), but after scaling "
                         f"{best_scaled}'s ({nll.loc[best_scaled, 'temperature-scaled']:.3f} vs "
                         f"{nll.loc[best_raw, 'temperature-scaled']:.3f}): compare calibration after scaling.")
    compared = scaled_nll_comparisons(runs, config)
    tested = compared[compared["test"].fillna("").astype(bool)] if len(compared) else compared
    if len(tested):
        detectable = int((tested["detectable"] == True).sum())  # noqa: E712
        tests = " or ".join(sorted(set(tested["test"])))
        lead = (f"After scaling, {detectable} of {len(tested)} variants differ detectably from the baseline in test NLL "
                f"({tests}, Holm-corrected over {int(tested['family_size'].max())})")
        if best_scaled in set(tested["variant"]):
            row = tested.set_index("variant").loc[best_scaled].to_dict()
            sentences.append(f"{lead}. Lowest after scaling, " + difference_sentence(
                row, best_scaled, "the baseline", quantity="temperature-scaled test NLL", unit="nats", value_unit=" nats",
                verbs=("is worse than", "is better than"), digits=3))
        else:
            sentences.append(f"{lead}; the baseline itself has the lowest.")
    return sentences


@figure("calibration_effects", title="Calibration per variant: raw and temperature-scaled", section=SECTION)
def calibration_effects(tables: Tables, config: Mapping[str, Any]):
    apply_theme()
    table = calibration_table(tables["runs"], config)
    if table.empty:
        return placeholder("No finished run saved calibration numbers."), table
    nll = table[table.metric == "nll"].pivot(index="variant", columns="scaling", values="mean")
    moves = (nll["raw"].rank() - nll["temperature-scaled"].rank()).abs().sort_values(ascending=False, kind="stable")
    order = nll.loc[moves.index[:MAX_ROWS]].sort_values("raw").index.tolist()
    y = {variant: i for i, variant in enumerate(order)}
    fig, axes = plt.subplots(1, len(METRICS), figsize=(12, 1.3 + 0.34 * len(order)), sharey=True)
    for ax, (metric, (_, _, label, _)) in zip(axes, METRICS.items()):
        part = table[(table.metric == metric) & table["variant"].isin(y)]
        wide = part.pivot(index="variant", columns="scaling", values="mean")
        for variant, row in wide.iterrows():
            ax.plot([row["raw"], row["temperature-scaled"]], [y[variant]] * 2, color="0.7", linewidth=1, zorder=1)
        for (scaling, rows), color in zip(part.groupby("scaling", sort=False), PALETTE):
            finite = rows[rows["ci_low"].map(math.isfinite)]
            ax.errorbar(rows["mean"], rows["variant"].map(y), fmt="o", color=color, markersize=5, label=scaling, zorder=3)
            ax.errorbar(finite["mean"], finite["variant"].map(y), fmt="none", ecolor=color, capsize=2, zorder=2,
                        xerr=[finite["mean"] - finite["ci_low"], finite["ci_high"] - finite["mean"]])
        ax.set_xlabel(label)
    axes[0].set_yticks(range(len(order)), [f"{v} (T={table.loc[table.variant == v, 'temperature'].iloc[0]:.2f})"
                                           for v in order])
    axes[0].set_ylim(len(order) - 0.5, -0.5)
    axes[0].legend(loc="upper right", fontsize=8)
    shown = "" if len(order) == len(nll) else f" — the {len(order)} of {len(nll)} variants whose rank scaling moves most"
    fig.suptitle(f"Mean ± 95 % CI over seeds; T: mean temperature fitted on validation; rows by raw NLL{shown}",
                 x=0.01, ha="left")
    fig.tight_layout()
    return fig, table
