"""Techniques compared at equal compute, not only at equal epochs.

Equal epochs favour a technique that does more work per epoch: SAM evaluates two gradients per
step, a slower architecture or regularizer takes longer per image. So each run is also scored at
a *common budget* of gradient evaluations and of training wall-clock seconds: the largest budget
every run reached (the smallest total over the finished runs that were not stopped early). Within
the budget, the epoch is chosen on validation (highest val_acc among the epochs whose cumulative
cost fits), and the test accuracy of that epoch is reported — the protocol of the whole report.

This is the *anytime* comparison of runs trained for the grid's epochs: a run cut at half its
schedule has not annealed its learning rate, so it is compared as it stood, not as it would have
trained with a schedule planned for the smaller budget (Li et al. 2020, "Budgeted Training",
show such budget-aware schedules close much of that gap). Wall-clock budgets depend on the device
and on what else ran at the time; they are only comparable within one report.

Ranks are by mean and say nothing about noise, so the summary states a change of order only with
its test: every pair of variants whose order by mean flips between equal epochs and a budget is
compared at both budgets by `stats.pooled_compare_contrasts` — contrasts of one model over every
(budget, variant) cell of the two budgets with seeds as blocks, where the cells share seeds and one
residual variance (Brown–Forsythe), else paired t on the shared seeds or Welch, the row's `why`
saying which; Holm across the 2 × pairs comparisons of that budget's sentence — for context; and the flip is a
*detectable reversal* only where the direct test of the change says so — the per-seed difference
of the pair at the budget minus at equal epochs, a paired t Holm-corrected over the budget's pairs
(`stats.order_change_tests`), not two separate intervals. Runs that failed to train, and variants
most of whose runs failed, are left out; in a tuned design only the compared (tuned) runs count
(`noise.trained_variants`).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from trickbench.report.figures import Tables, figure, placeholder
from trickbench.report.noise import trained_variants
from trickbench.stats import grouped_ci, interval_text, order_change_tests, pooled_compare_contrasts
from trickbench.report.style import apply_theme

SECTION = "Equal compute"
#: comparison → (cumulative cost column of the epochs table, unit for labels)
BUDGETS = {
    "equal epochs": ("epoch", "epochs"),
    "equal gradient evaluations": ("grad_evals", "gradient evaluations"),
    "equal training seconds": ("cumulative_train_seconds", "s of training"),
}
#: relative slack when comparing a cumulative cost with a budget (float sums of seconds)
SLACK = 1e-9


def common_budgets(runs: pd.DataFrame, epochs: pd.DataFrame) -> dict[str, float]:
    """Per comparison, the smallest final cumulative cost over runs that trained their full
    schedule: a run that stopped early, diverged or was aborted ended before its budget, so it
    caps no one (it is scored on the epochs it has)."""
    last = epochs[epochs["run_id"].isin(runs.loc[full_length(runs), "run_id"])].sort_values("epoch").groupby("run_id").last()
    return {name: float(last[column].min()) if column in last and len(last) else math.nan
            for name, (column, _) in BUDGETS.items()}


def full_length(runs: pd.DataFrame) -> pd.Series:
    """Which runs trained every epoch their spec asked for."""
    if {"epochs_completed", "epochs"} <= set(runs):
        return runs["epochs_completed"] >= runs["epochs"]
    return ~runs["stopped_early"].astype(bool)


def selected_within(epochs: pd.DataFrame, column: str, budget: float) -> pd.DataFrame:
    """Per run, the validation-selected epoch among those whose cumulative `column` ≤ budget
    (highest val_acc, earliest on ties — as the run itself selects its best epoch, among trained
    epochs: never the untrained model's epoch 0)."""
    if column not in epochs or not math.isfinite(budget):
        return pd.DataFrame(columns=["run_id", "epoch", "val_acc", "test_acc", "cost"])
    within = epochs[(epochs[column] <= budget * (1 + SLACK)) & (epochs["epoch"] >= 1)]
    within = within[np.isfinite(within["val_acc"])].sort_values(["run_id", "val_acc", "epoch"], ascending=[True, False, True])
    chosen = within.groupby("run_id", sort=False).head(1)
    return chosen.assign(cost=chosen[column])[["run_id", "epoch", "val_acc", "test_acc", "cost"]]


def budget_scores(runs: pd.DataFrame, epochs: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    """Per comparison × trained run: its variant and seed, the budget, and the validation-selected
    epoch within it with its validation and test accuracy (%) and cost."""
    columns = ["comparison", "budget", "unit", "run_id", "variant", "seed", "epoch", "val", "test", "cost"]
    runs = trained_variants(runs, config) if not runs.empty else runs
    if runs.empty or epochs.empty:
        return pd.DataFrame(columns=columns)
    epochs = epochs[epochs["run_id"].isin(runs["run_id"])]
    parts = []
    for name, budget in common_budgets(runs, epochs).items():
        column, unit = BUDGETS[name]
        chosen = selected_within(epochs, column, budget).merge(runs[["run_id", "variant", "seed"]], on="run_id")
        parts.append(chosen.assign(comparison=name, budget=budget, unit=unit, test=100 * chosen["test_acc"],
                                   val=100 * chosen["val_acc"]))
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def equal_compute_table(runs: pd.DataFrame, epochs: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    """Per comparison × variant: test accuracy (%) at the validation-selected epoch within the
    common budget (n, mean, sd, 95 % CI), the mean validation accuracy, the budget, and the rank
    of the variant by mean test accuracy within the comparison (1 = highest)."""
    return scores_table(budget_scores(runs, epochs, config), epochs)


def scores_table(scores: pd.DataFrame, epochs: pd.DataFrame) -> pd.DataFrame:
    """`equal_compute_table` from the runs' `budget_scores`."""
    if scores.empty:
        return pd.DataFrame()
    trained = epochs[epochs["run_id"].isin(scores["run_id"])]
    totals = trained.sort_values("epoch").groupby("run_id").last().join(scores.drop_duplicates("run_id").set_index("run_id")["variant"])
    parts = []
    for name, chosen in scores.groupby("comparison", sort=False):
        column = BUDGETS[name][0]
        per_epoch = (totals[column] / totals["epoch"]).groupby(totals["variant"]).mean().rename("cost_per_epoch")
        table = grouped_ci(chosen, "variant", "test").merge(
            chosen.groupby("variant", as_index=False).agg(val_mean=("val", "mean"), epoch_mean=("epoch", "mean")), on="variant")
        table = table.merge(per_epoch, left_on="variant", right_index=True, how="left")
        table["rank"] = table["mean"].rank(ascending=False, method="min").astype(int)
        table.insert(0, "comparison", name)
        table.insert(1, "budget", chosen["budget"].iloc[0])
        table.insert(2, "unit", chosen["unit"].iloc[0])
        parts.append(table)
    return pd.concat(parts, ignore_index=True)


def rank_changes(table: pd.DataFrame, reference: str = "equal epochs") -> pd.DataFrame:
    """Pairs of variants whose order by mean test accuracy flips between the `reference`
    comparison and another one: (comparison, ahead at the reference, ahead under the budget,
    both means under each). The order is of means; whether either gap exceeds the seed noise is
    what the CIs in the table say."""
    if table.empty:
        return pd.DataFrame()
    base = table[table["comparison"] == reference].set_index("variant")["mean"]
    rows = []
    for name, part in table[table["comparison"] != reference].groupby("comparison", sort=False):
        other = part.set_index("variant")["mean"]
        shared = [v for v in base.index if v in other.index]
        at_reference, at_budget = base[shared].to_numpy(), other[shared].to_numpy()
        i, j = np.triu_indices(len(shared), k=1)  # every pair once, in the order of the reference (a 1,000-variant grid: 500,000 pairs)
        flipped = (at_reference[i] - at_reference[j]) * (at_budget[i] - at_budget[j]) < 0
        for a, b in zip(i[flipped], j[flipped]):
            first, second = (a, b) if at_reference[a] > at_reference[b] else (b, a)
            rows.append({"comparison": name, "ahead_at_equal_epochs": shared[first], "ahead_at_equal_budget": shared[second],
                         "epochs_gap": at_reference[first] - at_reference[second],
                         "budget_gap": at_budget[second] - at_budget[first]})
    return pd.DataFrame(rows)


def swap_tests(scores: pd.DataFrame, changes: pd.DataFrame, reference: str = "equal epochs") -> pd.DataFrame:
    """Per budget with pairs that change order: each pair (ahead at `reference` − ahead under the
    budget) compared at `reference` and at the budget (`stats.pooled_compare_contrasts` over every
    variant of the two budgets), one family per budget — the comparisons its summary sentence states. Columns: `budget` (whose sentence),
    `comparison` (where measured), `variant` and `reference` (the pair), then the stats columns."""
    parts = []
    for name, swapped in changes.groupby("comparison", sort=False) if not changes.empty else []:
        pairs = list(zip(swapped["ahead_at_equal_epochs"], swapped["ahead_at_equal_budget"]))
        both = scores[scores["comparison"].isin([reference, name])]
        parts.append(pooled_compare_contrasts(both, "variant", "test", pairs, within="comparison",
                                              every_cell=True).assign(budget=name))
    if not parts:
        return pd.DataFrame()
    tests = pd.concat(parts, ignore_index=True)
    return tests[["budget", *[c for c in tests.columns if c != "budget"]]]


def change_tests(scores: pd.DataFrame, changes: pd.DataFrame, reference: str = "equal epochs") -> pd.DataFrame:
    """Per budget with pairs that change order: each pair's (ahead at `reference` − ahead under the
    budget) per seed at the budget minus at `reference`, by `stats.order_change_tests` — one family
    per budget. Columns: `budget`, `a`, `b`, then the stats columns."""
    parts = []
    for name, swapped in changes.groupby("comparison", sort=False) if not changes.empty else []:
        pairs = list(zip(swapped["ahead_at_equal_epochs"], swapped["ahead_at_equal_budget"]))
        both = scores[scores["comparison"].isin([reference, name])]
        parts.append(order_change_tests(both, "variant", "test", pairs, "comparison", reference).assign(budget=name))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["budget", "a", "b", "detectable"])


def reversal(change: Mapping[str, Any]) -> bool:
    """The pair's order detectably reverses: its order by mean flips (why it is tested) and the
    change of its per-seed difference between the budgets is detectable."""
    return bool(change.get("detectable") == True)  # noqa: E712 (NaN: no test)


def summary_sentences(runs: pd.DataFrame, epochs: pd.DataFrame, config: Mapping[str, Any],
                      reference: str = "equal epochs") -> list[str]:
    """Per budget, whether the order of the variants by mean changes relative to equal epochs and,
    if so, how many of the flips are detectable reversals (`swap_tests`), and the variant that moves
    most (by rank, then by change of its mean) with its largest flip's two tests and its cost per
    epoch for context."""
    scores = budget_scores(runs, epochs, config)
    table = scores_table(scores, epochs)
    if table.empty:
        return []
    changes = rank_changes(table, reference)
    tests = swap_tests(scores, changes, reference)
    moved = change_tests(scores, changes, reference)
    base = table[table["comparison"] == reference].set_index("variant")
    sentences = []
    for name, part in table[table["comparison"] != reference].groupby("comparison", sort=False):
        part = part.set_index("variant")
        budget = f"≤ {part['budget'].iloc[0]:,.4g} {part['unit'].iloc[0]}"
        swapped = changes[changes["comparison"] == name] if not changes.empty else changes
        if swapped.empty:
            sentences.append(f"At {name} ({budget}) the order of the variants by mean test accuracy is the same as at "
                             f"{reference}.")
            continue
        mine = tests[tests["budget"] == name].set_index(["comparison", "variant", "reference"])
        pair_tests = {pair: (mine.loc[(reference, *pair)], mine.loc[(name, *pair)])
                      for pair in zip(swapped["ahead_at_equal_epochs"], swapped["ahead_at_equal_budget"])}
        budget_changes = {(r["a"], r["b"]): r for r in moved[moved["budget"] == name].to_dict("records")}
        detectable = sum(reversal(budget_changes.get(pair, {})) for pair in pair_tests)
        flips = len(swapped)
        sentences.append(
            f"At {name} ({budget}) {flips} pair{'s' if flips != 1 else ''} of variants change{'s' if flips == 1 else ''} "
            f"order by mean test accuracy relative to {reference}; {detectable} of them "
            f"{'is a' if detectable == 1 else 'are'} detectable reversal{'s' if detectable != 1 else ''} (the change of "
            f"the pair's per-seed difference between the two budgets is detectable: paired t, 95 % intervals "
            f"Holm-corrected over the {flips} pair{'s' if flips != 1 else ''}).")
        shared = part.index.intersection(base.index)
        moves = pd.DataFrame({"rank": (part.loc[shared, "rank"] - base.loc[shared, "rank"]).abs(),
                              "mean": (part.loc[shared, "mean"] - base.loc[shared, "mean"]).abs()})
        mover = moves.sort_values(["rank", "mean"]).index[-1]
        cost, median = part.loc[mover, "cost_per_epoch"], part["cost_per_epoch"].median()
        theirs = swapped[(swapped["ahead_at_equal_epochs"] == mover) | (swapped["ahead_at_equal_budget"] == mover)]
        largest = theirs.assign(size=theirs["epochs_gap"] + theirs["budget_gap"]).sort_values("size").iloc[-1]
        pair = (largest["ahead_at_equal_epochs"], largest["ahead_at_equal_budget"])
        sentences.append(
            f"By mean, {mover} moves most, from #{base.loc[mover, 'rank']} to #{part.loc[mover, 'rank']} "
            f"({base.loc[mover, 'mean']:.1f} → {part.loc[mover, 'mean']:.1f} % test accuracy at the validation-selected "
            f"epoch), at {cost:,.3g} {part['unit'].iloc[0]} per epoch against a median of {median:,.3g}; "
            f"{pair_sentence(pair, *pair_tests[pair], budget_changes.get(pair, {}), reference, name)}")
    return sentences


def pair_sentence(pair: tuple[str, str], at_reference: Mapping[str, Any], at_budget: Mapping[str, Any],
                  change: Mapping[str, Any], reference: str, budget: str) -> str:
    """'tanh − baseline: +10.0 points at equal epochs (paired t, 95 % CI …) and −15.0 at equal
    gradient evaluations (…); change −25.0 points (paired t, …): a detectable reversal.' — or not,
    with the change's minimum detectable effect."""
    at = [f"{_difference(row)} at {where}" for row, where in ((at_reference, reference), (at_budget, budget))]
    if not change or not change.get("test"):
        return f"{pair[0]} − {pair[1]}: {at[0]} and {at[1]} — the change cannot be tested (too few seeds with all four runs)."
    moved = f"change {_difference(change)}"
    verdict = ("a detectable reversal" if reversal(change) else
               f"not a detectable reversal (minimum detectable change {_magnitude(change['mde'])} points)")
    return f"{pair[0]} − {pair[1]}: {at[0]} and {at[1]}; {moved} — {verdict}."


def _difference(row: Mapping[str, Any]) -> str:
    signed = f"{row['diff']:+.1f}".replace("-", "−")
    if not row["test"]:
        return f"{signed} points ({int(row['n'])} and {int(row['n_reference'])} runs)"
    return f"{signed} points ({interval_text(row)})"


def _magnitude(value: float) -> str:
    return f"{value:.1f}" if math.isfinite(value) else "–"


#: rows the figure draws at most (its CSV keeps every variant)
MAX_ROWS = 20


def shown_variants(table: pd.DataFrame, reference: str, limit: int = MAX_ROWS) -> list[str]:
    """The variants to draw, ordered by mean at the `reference` comparison: all of them, or the
    `limit` whose rank moves most between comparisons (ties: the better at the reference)."""
    base = table[table["comparison"] == reference].set_index("variant")
    moves = (table["rank"] - table["variant"].map(base["rank"])).abs().groupby(table["variant"]).max()
    ranked = pd.DataFrame({"move": moves, "rank": base["rank"]}).sort_values(["move", "rank"], ascending=[False, True])
    return base.loc[ranked.index[:limit]].sort_values("mean", ascending=False).index.tolist()


@figure("equal_compute", title="Equal epochs vs equal gradient evaluations vs equal training time",
        section=SECTION, tables=("runs", "epochs"))
def equal_compute(tables: Tables, config: Mapping[str, Any]):
    apply_theme()
    table = equal_compute_table(tables["runs"], tables["epochs"], config)
    if table.empty:
        return placeholder("No finished run with per-epoch costs to compare at equal compute."), table
    comparisons = list(dict.fromkeys(table["comparison"]))
    order = shown_variants(table, comparisons[0])
    y = {variant: i for i, variant in enumerate(order)}
    fig, axes = plt.subplots(1, len(comparisons), figsize=(4.6 * len(comparisons) + 2.5, 1.3 + 0.34 * len(order)),
                             sharey=True, sharex=True, squeeze=False)
    for ax, name in zip(axes[0], comparisons):
        comparison = table[table["comparison"] == name]
        part = comparison[comparison["variant"].isin(y)]  # may be empty: a comparison need not hold every variant
        for row in part.itertuples():
            has_ci = math.isfinite(row.ci_low)
            ax.errorbar(row.mean, y[row.variant], fmt="o", color="black", markersize=4, capsize=3,
                        xerr=[[row.mean - row.ci_low], [row.ci_high - row.mean]] if has_ci else None)
            ax.annotate(f"#{row.rank}", (row.mean, y[row.variant]), xytext=(0, 5), textcoords="offset points",
                        ha="center", fontsize=7, color="0.35")
        for variant in set(y) - set(part["variant"]):  # its first epoch already costs more than the budget
            ax.annotate("over budget", (0.02, y[variant]), xycoords=("axes fraction", "data"), va="center",
                        fontsize=7, color="0.35")
        budget, unit = comparison["budget"].iloc[0], comparison["unit"].iloc[0]
        shown = pd.concat([part["mean"], part["ci_low"], part["ci_high"]]).dropna()
        if not shown.empty:
            ax.set_xlim(max(0.0, shown.min() - 2), min(100.0, shown.max() + 2))  # accuracy: a CI beyond [0, 100] is cut
        ax.set_title(f"{name}\n(≤ {budget:,.4g} {unit})", loc="left", fontsize=10)
        ax.set_xlabel("test acc. at val-selected epoch (%)")
    axes[0][0].set_yticks(range(len(order)), order)
    axes[0][0].set_ylim(len(order) - 0.5, -0.5)
    shown = "" if len(order) == table["variant"].nunique() else (
        f" — the {len(order)} of {table['variant'].nunique()} variants whose rank moves most (all in the data)")
    fig.suptitle(f"Mean ± 95 % CI over seeds; #: rank by mean (changes of order are tested in the summary); rows "
                 f"ordered as at equal epochs{shown}", x=0.01, ha="left")
    fig.tight_layout()
    return fig, table.round(4)  # 4 decimals of a percentage or a second: all the data can tell
