"""The tuning section of the report: the ranking at the fixed rates beside the tuned ranking, how
much they differ, and each level's sensitivity to its learning rate.

Both rankings rest on the same seeds and the same test: a tuned design runs the design's seeds at
the configured rates (role `grid`) and at each cell's tuned values (role `tuned`); see
`trickbench.tuning`. Per factor, levels are ranked by mean final test accuracy over seeds (test only
reports here: the values were chosen on validation, on a seed that is not compared). The two
rankings are compared with Kendall's τ (`scipy.stats.kendalltau`, τ-b) over the levels ranked in
both, and every pair that changes order is named with its difference in both rankings, by the
report's test (paired t on shared seeds, else Welch) with intervals Holm-corrected over the pairs
of the factor (`pairwise_differences`). A swap is called a rank change only from the direct test
of the per-seed difference of differences, tuned − fixed (`stats.order_change_tests`, Holm over
the factor's pairs), never from the two separate intervals. The ranking's means, these
differences and their change all use the runs that trained by the report's rule
(`trickbench.stats.failure_reasons`: ok, validation accuracy above chance): one rule for all. A
level that failed to train (most of its runs diverged, exploded or stayed at chance on validation)
or failed to tune is reported as such and left out of the ranking.

Each choice is shown with the values its runs ran (`trickbench.tuning.ran_label`: what a user
would copy into a config, not the configured values) and its margin over the runner-up in mean
validation accuracy over the tuning seeds, ± the standard error of the per-seed differences;
"within noise" where their paired 95 % t interval includes 0 (`trickbench.tuning.choose`).
"""

from __future__ import annotations

import itertools
import math
import textwrap
from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from trickbench.collect import baseline_labels
from trickbench.design import ONE_FACTOR_AT_A_TIME
from trickbench.progress import duration
from trickbench.report.figures import Tables, figure, placeholder
from trickbench.report.grid import SECTION as GRID_SECTION
from trickbench.report.grid import chance_test, factor_rows, technique_colors
from trickbench.stats import (count_reasons, failure_reasons, interval_alphas, level_failed, mean_ci,
                              order_change_tests, two_arm_test)
from trickbench.report.style import BASELINE_COLOR, apply_theme
from trickbench.techniques import FAMILIES
from trickbench.tuning import (CHOICE_TABLE, MARGIN_CONFIDENCE, TRIALS_TABLE, cell_label, chosen_labels, chosen_specs, enabled,
                               ran_label, ran_level, settings, spec_labels,
                               tuning_seeds)

SECTION = "Tuning: fixed against tuned learning rates"
RANKINGS = {"fixed": "grid", "tuned": "tuned"}  # ranking → the run role it ranks
METRIC = "final_test_acc"
SELECT_ON = "final_val_acc"  # the validation score that decides whether a run trained
ALPHA = 0.05
#: said where a report ranks levels that were not tuned (issue 13)
UNTUNED_NOTE = ("Levels run at the baseline's learning rate (an optimizer level at its own configured one), not "
                "tuned: rankings mix the technique with how well the rate suits it. design.tuning tunes each level "
                "(workflow/presets/tuned.yaml).")
FACTOR_EFFECTS_NOTE = ("Its sub-designs run at the configured learning rates, not tuned: effects and rankings mix the "
                       "technique with how well the rate suits it.")


def text(column: pd.Series) -> pd.Series:
    """A text column read back from CSV, where an empty cell is NaN: empty strings instead."""
    return column.astype(object).where(column.notna(), "").astype(str)


def with_role(runs: pd.DataFrame, role: str, trained_only: bool = True) -> pd.DataFrame:
    """Runs of one role (a `grid+tuned` run is both); by default only those that trained to the
    end with a finite score (failed runs are counted by `ranking_table`, never averaged)."""
    if runs.empty or "role" not in runs:
        return runs.iloc[0:0]
    roles = runs["role"].fillna("grid").astype(str).str.split("+")
    chosen = runs[roles.map(lambda r: role in r).to_numpy()]
    if not trained_only:
        return chosen
    return chosen[(chosen["status"] == "ok") & np.isfinite(pd.to_numeric(chosen[METRIC], errors="coerce"))]


def trained_runs(runs: pd.DataFrame, role: str, chance) -> pd.DataFrame:
    """Runs of one role that trained by the report's rule (`failure_reasons`: ended ok with a
    validation accuracy above chance): what the ranking's means and the swap differences rest on."""
    chosen = with_role(runs, role, trained_only=False)
    return chosen[(failure_reasons(chosen, SELECT_ON, chance) == "").to_numpy()]


# -- rankings --------------------------------------------------------------------------------------
def ranking_table(tables: Tables, config: Mapping[str, Any]) -> pd.DataFrame:
    """Per factor with ≥ 2 levels, ranking (fixed | tuned) and level: runs, mean test accuracy
    (%) with its 95 % CI over its trained runs, mean validation accuracy, rank (1 = best) or why the
    level is not ranked: failed to tune, or failed to train by the report's rule (most of its runs
    diverged, exploded or stayed at chance on validation: `trickbench.stats.failures`)."""
    runs, choice = tables["runs"], tables[CHOICE_TABLE]
    kind, chance = config["design"]["kind"], chance_test(config)
    untuned = set() if choice.empty else {tuple(row[f] for f in FAMILIES) for row in choice.to_dict("records")
                                          if row["status"] != "tuned"}
    rows = []
    for family in FAMILIES:
        if family not in runs or runs.empty:
            continue
        everything = factor_rows(runs[runs["role"].astype(str) != "tuning"], family, kind)
        levels = list(dict.fromkeys(everything[family].astype(str)))
        if len(levels) < 2:
            continue
        for ranking, role in RANKINGS.items():
            ranked = factor_rows(with_role(runs, role, trained_only=False), family, kind)
            reasons = failure_reasons(ranked, SELECT_ON, chance)
            part = []
            for level in levels:
                mine = (ranked[family].astype(str) == level).to_numpy()
                values, failed = ranked[mine & (reasons == "").to_numpy()], reasons[mine]
                mean, half = mean_ci(100 * values[METRIC].astype(float))
                cells = everything[everything[family].astype(str) == level]
                failed_tuning = ranking == "tuned" and cells[list(FAMILIES)].astype(str).apply(tuple, axis=1).isin(untuned).all()
                note = ("failed to tune" if failed_tuning else "no run trained to the end" if not mine.any()
                        else f"failed to train ({count_reasons(failed)} of {int(mine.sum())} runs)"
                        if level_failed(int((failed != "").sum()), int(mine.sum())) else "")
                part.append({"factor": family, "ranking": ranking, "level": level, "n": len(values), "mean": mean,
                             "ci_low": mean - half, "ci_high": mean + half,
                             "val_mean": 100 * float(values["final_val_acc"].mean()) if len(values) else math.nan,
                             "failed": note})
            order = sorted((r for r in part if not r["failed"]), key=lambda r: -r["mean"])
            for rank, row in enumerate(order, 1):
                row["rank"] = rank
            rows += part
    columns = ["factor", "ranking", "level", "n", "mean", "ci_low", "ci_high", "val_mean", "failed", "rank"]
    return pd.DataFrame(rows, columns=columns)


def kendall_tau(fixed: Mapping[str, float], tuned: Mapping[str, float]) -> float:
    """Kendall's τ-b between two scorings of the levels both hold (NaN with fewer than 2)."""
    common = [level for level in fixed if level in tuned]
    if len(common) < 2:
        return math.nan
    return float(kendalltau([fixed[l] for l in common], [tuned[l] for l in common]).statistic)


def swapped_pairs(fixed: Mapping[str, float], tuned: Mapping[str, float]) -> list[tuple[str, str]]:
    """Pairs (a, b) of levels both hold whose order differs (the discordant pairs of τ), each
    with a the better one at the fixed rate."""
    common = [level for level in fixed if level in tuned]
    swaps = []
    for a, b in itertools.combinations(common, 2):
        if (fixed[a] - fixed[b]) * (tuned[a] - tuned[b]) < 0:
            swaps.append((a, b) if fixed[a] > fixed[b] else (b, a))
    return swaps


def pairwise_differences(runs: pd.DataFrame, family: str, pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Per pair (a, b) of levels: mean(a) − mean(b) of test accuracy in points by the report's test
    (paired t on shared seeds, else Welch: `trickbench.stats.two_arm_test`), its interval at the level
    Holm's correction over the factor's pairs gives it (`interval_alphas`: the interval excludes 0
    exactly when Holm rejects), and the runs on each side. The one comparison this module makes."""
    arms = {level: runs[runs[family].astype(str) == level] for pair in pairs for level in pair}
    tests = [two_arm_test(100 * arms[a][METRIC].astype(float), 100 * arms[b][METRIC].astype(float),
                          arms[a]["seed"].tolist(), arms[b]["seed"].tolist()) for a, b in pairs]
    _, alphas = interval_alphas([test.p_value for test in tests], "holm", ALPHA)
    found = []
    for test, alpha in zip(tests, alphas):
        low, high = test.interval(alpha)
        found.append({"diff": test.diff, "low": low, "high": high, "test": test.test, "n": f"{test.n} v {test.n_reference}"})
    return found


def agreement_table(tables: Tables, config: Mapping[str, Any], ranking: pd.DataFrame) -> pd.DataFrame:
    """Per factor: the levels ranked in both rankings, Kendall's τ, and every pair of them with its
    difference (level a − level b, points) in both rankings and whether they swap."""
    runs, kind, chance = tables["runs"], config["design"]["kind"], chance_test(config)
    empty = {"diff": math.nan, "low": math.nan, "high": math.nan, "test": "", "n": ""}
    rows = []
    for family, part in ranking.groupby("factor", sort=False):
        scores = {name: {r["level"]: r["mean"] for r in group.to_dict("records") if not r["failed"]}
                  for name, group in part.groupby("ranking", sort=False)}
        fixed, tuned = scores.get("fixed", {}), scores.get("tuned", {})
        common = [level for level in fixed if level in tuned]
        tau, swaps = kendall_tau(fixed, tuned), swapped_pairs(fixed, tuned)
        pairs = list(itertools.combinations(sorted(common, key=lambda l: -fixed[l]), 2))
        differences = {name: pairwise_differences(factor_rows(trained_runs(runs, role, chance), family, kind), family, pairs)
                       for name, role in RANKINGS.items()}
        both = pd.concat([factor_rows(trained_runs(runs, role, chance), family, kind).assign(ranking=name)
                          for name, role in RANKINGS.items()], ignore_index=True)
        changes = {(r["a"], r["b"]): r for r in order_change_tests(
            both.assign(level=both[family].astype(str), value=100 * pd.to_numeric(both[METRIC], errors="coerce")),
            "level", "value", pairs, "ranking", "fixed").to_dict("records")} if pairs else {}
        for index, (a, b) in enumerate(pairs or [("", "")]):
            row = {"factor": family, "levels": len(common), "kendall_tau": tau, "swaps": len(swaps), "a": a, "b": b,
                   "swapped": (a, b) in swaps or (b, a) in swaps}
            for name in RANKINGS:
                found = differences[name][index] if a else empty
                row.update({f"{name}_diff": found["diff"], f"{name}_low": found["low"], f"{name}_high": found["high"],
                            f"{name}_test": found["test"], f"{name}_n": found["n"]})
            change = changes.get((a, b), {})
            row.update(change_diff=change.get("diff", math.nan), change_low=change.get("diff_ci_low", math.nan),
                       change_high=change.get("diff_ci_high", math.nan), change_n=change.get("n", 0))
            # a reversal the data hold: the order flips and the direct test of the per-seed difference of
            # differences (tuned − fixed, Holm over the factor's pairs) excludes 0
            row["reversed"] = bool(row["swapped"] and change.get("detectable") == True)  # noqa: E712 (NaN: no test)
            rows.append(row)
    return pd.DataFrame(rows)


# -- sentences -------------------------------------------------------------------------------------
def interval(row: Mapping[str, Any], name: str) -> str:
    diff, low, high = row[f"{name}_diff"], row[f"{name}_low"], row[f"{name}_high"]
    if not math.isfinite(low):
        return f"{diff:+.1f} points (no interval: one seed a side)"
    verdict = ": no detectable difference" if low <= 0 <= high else ""
    return f"{diff:+.1f} points ({row[f'{name}_test']}, {low:+.1f} to {high:+.1f}, {row[f'{name}_n']} seeds{verdict})"


def change_text(row: Mapping[str, Any]) -> str:
    """The direct test of a swap: the change of the per-seed difference, tuned − fixed."""
    if not math.isfinite(row["change_low"]):
        return "the change cannot be tested (fewer than 2 seeds with all four runs)"
    verdict = "a rank change beyond the noise" if row["reversed"] else "not a detectable rank change"
    return (f"change tuned − fixed {row['change_diff']:+.1f} points, paired t over {int(row['change_n'])} seeds, "
            f"{row['change_low']:+.1f} to {row['change_high']:+.1f}: {verdict}")


def factor_sentence(family: str, ranking: pd.DataFrame, agreement: pd.DataFrame) -> str:
    """E.g. 'optimizer — fixed rate: momentum > adam > sgd; tuned: adam > momentum > sgd; Kendall
    τ = 0.33 over 3 levels; adam and momentum swap: …'."""
    part = ranking[ranking["factor"] == family]
    orders = {name: " > ".join(g.dropna(subset=["rank"]).sort_values("rank")["level"]) or "none ranked"
              for name, g in part.groupby("ranking", sort=False)}
    pairs = agreement[agreement["factor"] == family]
    tau = pairs["kendall_tau"].iloc[0] if len(pairs) else math.nan
    sentence = (f"{family} — fixed rate: {orders.get('fixed', 'none ranked')}; tuned: {orders.get('tuned', 'none ranked')}; "
                + (f"Kendall τ = {tau:.2f} over {int(pairs['levels'].iloc[0])} levels" if math.isfinite(tau)
                   else "fewer than 2 levels ranked in both, no τ"))
    swapped = pairs[pairs["swapped"].astype(bool)]
    if swapped.empty and math.isfinite(tau):
        sentence += "; no pair changes order"
    for row in swapped.to_dict("records"):
        sentence += (f"; {row['a']} and {row['b']} swap ({row['a']} − {row['b']}, 95 % intervals Holm-corrected over "
                     f"the factor's {len(pairs)} pairs — fixed: {interval(row, 'fixed')}; tuned: {interval(row, 'tuned')}; "
                     f"{change_text(row)})")
    failed = part[text(part["failed"]) != ""]
    for row in failed.to_dict("records"):
        sentence += f"; {row['level']} not ranked {row['ranking']}: {row['failed']}"
    return sentence + "."


def protocol_sentence(config: Mapping[str, Any], choice: pd.DataFrame, trials: pd.DataFrame) -> str:
    tuning = settings(config)
    second = tuning.get("second")
    also = f" and {second['technique']}'s {second['parameter']} in [{second['range'][0]:g}, {second['range'][1]:g}] " \
           f"where a configuration uses {second['technique']}" if second else ""
    epochs = tuning["epochs"] or config["train"]["epochs"]
    seeds = tuning_seeds(config)
    return (f"Each of {len(choice)} configurations got its own learning rate{also}: {tuning['trials']} {tuning['search']} "
            f"trials of {epochs} epochs over its configured rate × 10^±{tuning['lr_decades']:g}, each trial on tuning "
            f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))} (none of them compared; "
            f"{len(trials)} trial runs). The trial of the highest mean final validation accuracy over those seeds was "
            f"chosen among the trials that trained on every one of them (ties: the lower mean validation loss, then "
            f"the smaller learning rate); then seeds {', '.join(map(str, config['design']['seeds']))} ran at the chosen "
            f"values. The same seeds at the configured rates give the fixed-rate ranking, so both rankings rest on the "
            f"same seeds and test images.")


def choice_sentence(config: Mapping[str, Any], choice: pd.DataFrame) -> str:
    """Each tuned configuration at the values it ran, with its margin over the runner-up; e.g.
    'regularizer=l2(strength=0.0172) at lr 0.0137: +1.3 ± 0.4 points over lr 0.05 (…), within noise'."""
    seeds = len(tuning_seeds(config))
    labels = chosen_labels(config, choice)
    tuned = choice[choice["status"] == "tuned"]
    parts = []
    for row in tuned.to_dict("records"):
        part = labels.get(row["cell"], row["cell"])
        if math.isfinite(row["margin"]):
            over = f"lr {row['runner_up_lr']:.3g}" + (f", {row['parameter']} {row['runner_up_value']:.3g}"
                                                      if math.isfinite(row["runner_up_value"]) else "")
            error = f" ± {row['margin_se']:.1f}" if math.isfinite(row["margin_se"]) else ""
            part += f": {row['margin']:+.1f}{error} over {over}"
            part += ", within noise" if row["within_noise"] else ""
            tie = row["tie_broken_by"] if isinstance(row["tie_broken_by"], str) else ""  # CSV: empty reads as NaN
            part += f" (tie broken by {tie})" if tie else ""
        else:
            part += ": no runner-up (the only trial that trained on every seed)"
        parts.append(part)
    within = int(tuned["within_noise"].astype(bool).sum())
    rule = (f"the paired {100 * MARGIN_CONFIDENCE:.0f} % t interval of the per-seed differences includes 0" if seeds > 1
            else "one tuning seed gives no standard error, so no margin is beyond the noise")
    failed = choice[choice["status"] != "tuned"]
    return (f"Chosen values, as run, with the margin of each over its runner-up in mean validation accuracy (points "
            f"± the standard error of the {seeds} per-seed differences; within noise: {rule}) — "
            + "; ".join(parts) + f". {within} of {len(tuned)} choices are within noise"
            + (f"; {len(failed)} configuration(s) failed to tune: "
               + ", ".join(cell_name(row, config) for row in failed.to_dict("records")) if len(failed) else "") + ".")


def cell_name(row: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """A choice-table row's configuration as the levels it changes from the baseline."""
    return cell_label({family: str(row[family]) for family in FAMILIES}, baseline_labels(config))


def tuning_sentences(tables: Tables, config: Mapping[str, Any]) -> list[str]:
    """The tuning section's text: the protocol, each factor's two rankings, and every warning."""
    choice, trials = tables[CHOICE_TABLE], tables[TRIALS_TABLE]
    if choice.empty:
        return ["No tuning trial finished, so nothing was tuned."]
    ranking = ranking_table(tables, config)
    agreement = agreement_table(tables, config, ranking)
    lines = [protocol_sentence(config, choice, trials), choice_sentence(config, choice)]
    lines += [factor_sentence(family, ranking, agreement) for family in dict.fromkeys(ranking["factor"])]
    lines += ["⚠ " + w for w in text(choice["warning"]) if w]
    return lines


def section_notes(tables: Tables, config: Mapping[str, Any]) -> dict[str, list[str]]:
    """Text shown under a report section's title: the tuning section's findings, or — where a
    section ranks levels that were not tuned — the note saying so."""
    notes: dict[str, list[str]] = {}
    if enabled(config):
        notes[SECTION] = tuning_sentences(tables, config)
    else:
        notes[GRID_SECTION] = [UNTUNED_NOTE]
    if config.get("studies", {}).get("factor_effects", {}).get("enabled"):
        notes["Factor effects"] = [FACTOR_EFFECTS_NOTE]
    return notes


def summary_findings(tables: Tables, config: Mapping[str, Any]) -> list[str]:
    """The summary's first finding: whether the levels compared were tuned, and what tuning changed."""
    if not enabled(config):
        return [UNTUNED_NOTE]
    choice = tables[CHOICE_TABLE]
    if choice.empty:
        return []
    pairs = agreement_table(tables, config, ranking_table(tables, config))
    agreement = pairs.drop_duplicates("factor")
    changed = agreement[agreement["swaps"] > 0]
    swapped, reversed_ = int(pairs["swapped"].sum()), int(pairs["reversed"].sum())
    taus = ", ".join(f"{r['factor']} {r['kendall_tau']:.2f}" for r in agreement.to_dict("records")
                     if math.isfinite(r["kendall_tau"]))
    failed = int((choice["status"] != "tuned").sum())
    within = int(choice["within_noise"].astype(bool).sum())
    edges = int((choice["lr_at_edge"].astype(bool) | choice["value_at_edge"].astype(bool)).sum())
    return [f"Every level was tuned on validation before its seeds ran, and the findings below compare the tuned runs. "
            f"Against the fixed-rate ranking over the same seeds, tuning changed the order of "
            f"{len(changed)} of {len(agreement)} factors (Kendall τ: {taus or 'none computable'})"
            + (f"; {reversed_} of the {swapped} swapped pairs reverse beyond the noise (the change of their "
               f"per-seed difference, tuned − fixed, is detectable by a paired t Holm-corrected over each factor's pairs)"
               if swapped else "")
            + (f"; {within} of {len(choice) - failed} choices are within noise of their runner-up on validation"
               if within else "")
            + (f"; {failed} configuration(s) failed to tune" if failed else "")
            + (f"; {edges} value(s) chosen at the edge of their range" if edges else "") + " — see the Tuning section."]


def learning_rate_fact(tables: Tables, config: Mapping[str, Any]) -> dict[str, str]:
    """The summary's line on how learning rates were set."""
    if not enabled(config):
        return {"learning rates": "the config's own, not tuned"}
    runs, tuning = tables["runs"], settings(config)
    trials = int((runs["role"] == "tuning").sum()) if "role" in runs else 0
    seeds = len(tuning_seeds(config))
    return {"learning rates": f"tuned per configuration on validation ({tuning['trials']} {tuning['search']} trials each, "
                              f"each on {seeds} tuning seed{'s' if seeds > 1 else ''}, {trials} trial runs in all); the "
                              f"runs above are the tuned ones, the fixed-rate runs are compared with them under Tuning"}


def failed_to_tune(tables: Tables, config: Mapping[str, Any]) -> list[str]:
    """The configurations of a tuned design that failed to tune (the levels they change), from the
    choice table: none of them has a run at the compared seeds, so no count of runs names them."""
    if not enabled(config) or tables[CHOICE_TABLE].empty:
        return []
    choice = tables[CHOICE_TABLE]
    return [cell_name(row, config) for row in choice[choice["status"] != "tuned"].to_dict("records")]


def ran_names(tables: Tables, config: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """(factor, level) → the level as its tuned runs ran it ('l2(strength=0.0172) at lr 0.0137'),
    where one cell holds the level's tuned runs (an ablation's level, the baseline's level of each
    factor); empty without tuning. A table or sentence that names a tuned level shows these values:
    the configured ones are not what its runs used."""
    if not enabled(config) or tables[CHOICE_TABLE].empty or config["design"]["kind"] not in ONE_FACTOR_AT_A_TIME:
        return {}
    baseline, names = baseline_labels(config), {}
    for cell, spec in chosen_specs(config, tables[CHOICE_TABLE]).values():
        changed = [family for family in FAMILIES if cell.label(family) != baseline.get(family)]
        for family in changed or FAMILIES:  # the baseline cell speaks for each factor's baseline level
            names[(family, cell.label(family))] = ran_level(family, spec)
    return names


def ran_variant(tables: Tables, config: Mapping[str, Any], levels: Mapping[str, str]) -> str | None:
    """A combination of levels (e.g. the best configuration) as its tuned runs ran it, or None
    where the design was not tuned or the combination is no tuned cell."""
    if not enabled(config) or tables[CHOICE_TABLE].empty:
        return None
    for cell, spec in chosen_specs(config, tables[CHOICE_TABLE]).values():
        if all(cell.label(family) == str(level) for family, level in levels.items()):
            return ran_label(spec_labels(cell), spec, baseline_labels(config))
    return None


def compute_by_role(runs: pd.DataFrame) -> dict[str, str]:
    """The environment's line on what each role of run cost (tuning trials are real runs)."""
    if runs.empty or "role" not in runs or runs["role"].nunique() < 2:
        return {}
    parts = [f"{role} {len(group)} runs ({duration(group['wall_seconds'].sum())})"
             for role, group in runs.groupby("role", sort=False)]
    return {"compute by role": ", ".join(parts) + " of run wall time"}


# -- figures ---------------------------------------------------------------------------------------
@figure("tuning_rankings", title="Each factor's ranking at the fixed rates and tuned", section=SECTION,
        tables=("runs", CHOICE_TABLE, TRIALS_TABLE), enabled=enabled)
def rankings_figure(tables: Tables, config: Mapping[str, Any]):
    """A slope chart per factor: each level's rank at the fixed rate (left) and tuned (right); a
    crossing is a swap."""
    apply_theme()
    ranking = ranking_table(tables, config)
    if ranking.empty:
        return placeholder("No factor takes two or more levels."), ranking
    agreement = agreement_table(tables, config, ranking)
    factors = list(dict.fromkeys(ranking["factor"]))
    colors = technique_colors(tables["runs"], config)
    levels = int(ranking.groupby("factor")["level"].nunique().max())
    columns = min(3, len(factors))
    grid_rows = math.ceil(len(factors) / columns)
    fig, axes = plt.subplots(grid_rows, columns, figsize=(5.4 * columns, 1.2 + (0.55 * levels + 2.0) * grid_rows),
                             squeeze=False)
    for ax in axes.flat[len(factors):]:
        ax.set_axis_off()
    for ax, family in zip(axes.flat, factors):
        part = ranking[ranking["factor"] == family]
        for level in dict.fromkeys(part["level"]):
            rows = part[part["level"] == level].set_index("ranking")
            points = [(x, rows.loc[name]) for x, name in enumerate(RANKINGS) if name in rows.index]
            ranked = [(x, row) for x, row in points if math.isfinite(row["rank"])]
            color = colors(family, level)
            if len(ranked) == 2:
                ax.plot([0, 1], [ranked[0][1]["rank"], ranked[1][1]["rank"]], color=color, linewidth=2.2, marker="o")
            for x, row in ranked:
                ax.text(x + (-0.06 if x == 0 else 0.06), row["rank"], f"{level}  {row['mean']:.1f}" if x == 1 else
                        f"{row['mean']:.1f}  {level}", ha="right" if x == 0 else "left", va="center", fontsize=9, color=color)
                if len(ranked) == 1:
                    ax.plot([x], [row["rank"]], marker="o", color=color)
        unranked = part[text(part["failed"]) != ""]
        if len(unranked):
            ax.text(0.5, -0.2, "not ranked: " + "; ".join(f"{r['level']} ({r['ranking']}: {r['failed']})"
                                                          for r in unranked.to_dict("records")),
                    transform=ax.transAxes, ha="center", va="top", fontsize=8, color="#b00020", wrap=True)
        pairs = agreement[agreement["factor"] == family]
        tau = pairs["kendall_tau"].iloc[0] if len(pairs) else math.nan
        swaps = [f"{r['a']}/{r['b']}" for r in pairs[pairs["swapped"].astype(bool)].to_dict("records")]
        ax.set_title((f"{family}: τ = {tau:.2f}" if math.isfinite(tau) else f"{family}: τ not computable") + "\n"
                     + textwrap.fill("swapped: " + ", ".join(swaps) if swaps else "no pair swapped", 60),
                     loc="left", fontweight="bold", fontsize=11)
        top = max(2, int(part["rank"].max()) if part["rank"].notna().any() else 2)
        ax.set_ylim(top + 0.5, 0.5)
        ax.set_xlim(-1.4, 2.4)  # room for the labels beside both columns
        ax.set_xticks([0, 1], ["fixed rate", "tuned"])
        ax.set_yticks(range(1, top + 1))
        ax.set_ylabel("rank (1 = best mean test accuracy)")
        ax.grid(axis="x", visible=False)
    fig.suptitle(textwrap.fill("Ranking of each factor's levels at the fixed rates (left) and tuned (right), same "
                               "seeds; labels: mean test accuracy (%); crossing lines: swaps", 75 * columns),
                 x=0.01, ha="left")
    fig.tight_layout()
    return fig, ranking.merge(agreement.drop_duplicates("factor")[["factor", "kendall_tau", "swaps"]], on="factor", how="left")


@figure("tuning_sensitivity", title="Validation accuracy against learning rate, per level (the tuning trials)",
        section=SECTION, tables=(CHOICE_TABLE, TRIALS_TABLE, "runs"), enabled=enabled)
def sensitivity_figure(tables: Tables, config: Mapping[str, Any]):
    """Per factor, each level's validation accuracy over its trials against the learning rate:
    the chosen value starred (⚠ at an edge of its range), its configured rate dotted, failed
    trials as crosses on the chance line. With a second parameter, one more panel against it."""
    apply_theme()
    trials, choice = tables[TRIALS_TABLE], tables[CHOICE_TABLE]
    if trials.empty:
        return placeholder("No tuning trial finished."), trials
    trials = trials.assign(parameter=text(trials["parameter"]), val_pct=100 * trials["val_acc"])
    choice = choice.assign(parameter=text(choice["parameter"]))
    colors = technique_colors(tables["runs"], config)
    groups = list(dict.fromkeys(trials["varies"]))
    panels = [(g, "lr") for g in groups] + [("", "value")] * bool((trials["parameter"] != "").any())
    columns = min(3, len(panels))
    fig, axes = plt.subplots(math.ceil(len(panels) / columns), columns, figsize=(5.6 * columns, 4.3 * math.ceil(len(panels) / columns)),
                             squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_axis_off()
    chance = 100 * float(trials["chance_acc"].iloc[0])
    for ax, (group, axis) in zip(axes.flat, panels):
        cells = trials[(trials["varies"] == group) if axis == "lr" else (trials["parameter"] != "")]
        for cell, part in cells.groupby("cell", sort=False):
            family = part["varies"].iloc[0]
            level = str(part[family].iloc[0]) if family in FAMILIES else "baseline"
            color = colors(family, level) if family in FAMILIES else BASELINE_COLOR
            label = level if family in FAMILIES else ("baseline" if family == "baseline" else cell)
            seeds = part.groupby("trial")["seed"].transform("size")
            trained = part["trained"].astype(bool).groupby(part["trial"]).transform("sum")
            candidate = (trained == seeds.max()).to_numpy()  # every seed of the trial trained: it could be chosen
            means = part[candidate].groupby("trial").agg(x=(axis, "first"), y=("val_pct", "mean")).sort_values("x")
            two_d = (part["parameter"] != "").any()
            ax.scatter(part.loc[candidate, axis], part.loc[candidate, "val_pct"], s=10, color=color, alpha=0.45,
                       linewidths=0)  # each tuning seed's run
            ax.plot(means["x"], means["y"], marker="o", markersize=4, color=color, label=label,
                    linestyle="none" if two_d else "-", linewidth=1.6)  # 2-D trials: neighbours differ in the other value
            bad = part[~candidate].drop_duplicates("trial")
            ax.scatter(bad[axis], np.full(len(bad), chance), marker="x", color=color, s=36, zorder=3)
            picked = choice[choice["cell"] == cell]
            if len(picked) and picked["status"].iloc[0] == "tuned":
                row = picked.iloc[0]
                edge = bool(row["lr_at_edge" if axis == "lr" else "value_at_edge"])
                ax.scatter([row[axis]], [100 * row["val_acc"]], marker="*", s=220, color=color,
                           edgecolors="#b00020" if edge else "black", linewidths=1.4, zorder=4)
                if edge:
                    ax.annotate("⚠ edge", (row[axis], 100 * row["val_acc"]), textcoords="offset points", xytext=(6, 6),
                                fontsize=8, color="#b00020")
            fixed = part["fixed_lr" if axis == "lr" else "fixed_value"].iloc[0]
            ax.axvline(fixed, color=color, linestyle=":", linewidth=1, alpha=0.8)
        ax.axhline(chance, color="0.5", linestyle="--", linewidth=0.8)
        ax.set_xscale("log")
        name = cells["parameter"].iloc[0] if axis == "value" and len(cells) else "learning rate"
        ax.set(xlabel=name, ylabel="final validation accuracy (%), mean over tuning seeds")
        ax.set_title(group if axis == "lr" else f"second parameter: {name}", loc="left", fontweight="bold")
        ax.legend(fontsize=8, loc="best")
    fig.suptitle(textwrap.fill("Tuning trials: lines = mean over the tuning seeds, dots = each seed; star = chosen on "
                               "validation (red edge, ⚠: at an edge of its range); dotted: the configured value; dashed: "
                               "chance; x: trials that did not train on every seed", 75 * columns),
                 x=0.01, ha="left")
    fig.tight_layout()
    return fig, trials.drop(columns=["val_pct"])
