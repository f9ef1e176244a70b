"""What the grid says, in sentences computed from the runs table — each with its test, its
corrected interval and its n.

Every technique level is compared with the baseline's level of the same factor by
`stats.pooled_compare_to_reference` (through `grid.effects_table`): one linear model over the grid's
cells with seeds as blocks where they ran the same seeds, else paired t or Welch per comparison (the
row says which and why); one family of every level of every factor, Holm-corrected. In an ablation the
two arms are the runs that differ only in that factor; in a full or random design all runs at each
level, so the difference is a main effect averaged over the other factors. A difference whose
corrected interval includes 0 is written "no detectable difference", with the smallest difference
the seeds could have detected — never as a win or a loss.

Runs that failed to train (diverged, exploded, at chance on validation: `stats.failure_reasons`)
are named first and never averaged; a level most of whose runs failed is reported as failed, not
as an effect, and no configuration with it can be the best. Test accuracy only *reports*: the
best configuration is chosen on validation accuracy.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import pandas as pd

from trickbench.collect import baseline_labels
from trickbench.design import ONE_FACTOR_AT_A_TIME
from trickbench.report.grid import FAILED_TO_TUNE, chance_test, effects_table, finished, variant_label
from trickbench.report.noise import METRICS, noise_table
from trickbench.stats import (AT_CHANCE, ChanceTest, difference_sentence, failure_reasons, level_failed, mean_ci,
                              pooled_compare_to_reference)
from trickbench.techniques import FAMILIES

#: how many comparisons the summary states as sentences; the rest are in the comparisons table
TOP_FINDINGS = 5
#: how many failed variants the summary names before saying "and N more"
NAMED_FAILURES = 5
#: the validation column that chooses (failure to train, the best configuration)
SELECT_ON = "final_val_acc"


def counted(n: int, noun: str) -> str:
    """'1 run', '3 runs'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def comparisons(runs: pd.DataFrame, config: Mapping[str, Any], metric: str = "final_test_acc") -> pd.DataFrame:
    """Every non-baseline level of every factor against the baseline level: the rows of
    `effects_table` (failed levels included, flagged `failed`), with the baseline's level name."""
    effects = effects_table(runs, config, metric)
    found = effects[~effects["is_baseline"].astype(bool)].reset_index(drop=True)
    return found.assign(reference=found["factor"].map(baseline_labels(config)))


def sentence(row: Mapping[str, Any], design_kind: str, names: Mapping[tuple[str, str], str] | None = None) -> str:
    """One comparison as a finding: a failed level as failed, else `stats.difference_sentence`.
    `names`: (factor, level) → how to name a level (a tuned level: the values its runs ran)."""
    names = names or {}
    subject = f"{row['factor']} {names.get((row['factor'], row['level']), row['level'])}"
    if row["failed"] and row["failures"] == FAILED_TO_TUNE:
        return f"{subject} failed to tune: no trial trained on every tuning seed, so it has no tuned run and no effect."
    if row["failed"]:
        return (f"{subject} failed to train: {row['n_failed']} of {counted(int(row['runs']), 'run')} ({row['failures']}); "
                f"no effect is estimated for it.")
    context = "" if design_kind in ONE_FACTOR_AT_A_TIME else ", averaged over the other factors"
    reference = names.get((row["factor"], row["reference"]), row["reference"])
    return difference_sentence(row, subject, f"the baseline {reference}", context=context)


def top_findings(runs: pd.DataFrame, config: Mapping[str, Any],
                 names: Mapping[tuple[str, str], str] | None = None) -> list[str]:
    """The failures first (a reader must know what did not train), then the largest detectable
    differences, then one line on what remains. `names`: as `sentence` takes them."""
    kind = config["design"]["kind"]
    found = comparisons(runs, config)
    lines = failure_findings(runs, config) + failed_level_findings(found, runs)
    tested = found[~found["failed"].astype(bool)]
    detectable = tested["detectable"] == True  # noqa: E712 (NaN: no test)
    clear = tested[detectable].assign(size=lambda t: t["diff"].abs()).sort_values("size", ascending=False)
    unclear = tested[~detectable].assign(size=lambda t: t["diff"].abs()).sort_values("size", ascending=False)
    shown = clear.head(TOP_FINDINGS) if len(clear) else unclear.head(1)
    lines += [sentence(row, kind, names) for row in shown.to_dict("records")]
    more, within = len(clear) - min(len(clear), TOP_FINDINGS), len(unclear)
    if len(clear) and more and within:
        lines.append(f"Of the other {more + within} levels, {more} differ detectably from their baseline and {within} do "
                     f"not (every comparison, with its minimum detectable effect, is in the table below).")
    elif len(clear) and (more or within):
        n = more or within
        subject = "The other level" if n == 1 else f"The other {n} levels"
        verb = ("also differs" if n == 1 else "also differ") if more else ("does not differ" if n == 1 else "do not differ")
        lines.append(f"{subject} {verb} detectably from the baseline (every comparison is in the table below).")
    elif tested.empty and not finished(runs).empty and found.empty:
        lines.append("No factor takes two levels among the finished runs, so there is nothing to compare.")
    elif not len(clear) and len(tested) > 1:
        family = int(tested["family_size"].max()) if tested["family_size"].notna().any() else 0
        lines.append(f"None of the {counted(len(tested), 'level')} compared differs detectably from its baseline at these "
                     f"seeds (Holm-corrected over {family} comparisons; each one's minimum detectable effect is in the "
                     f"table below).")
    return lines


def failure_findings(runs: pd.DataFrame, config: Mapping[str, Any]) -> list[str]:
    """One sentence per way of failing (a status, or at chance on validation), naming the
    variants (what they change) and their seeds."""
    if runs.empty or "status" not in runs:
        return []
    chance = chance_test(config)
    reasons = failure_reasons(runs, SELECT_ON, chance)
    baseline = baseline_labels(config)
    lines = []
    for reason, group in runs[reasons != ""].groupby(reasons[reasons != ""], sort=True):
        what = _reason_text(reason, chance)
        lines.append(f"{len(group)} of {counted(len(runs), 'run')} {what}: {failed_variants(group, baseline)}. "
                     f"They are left out of every mean below.")
    return lines


def failed_level_findings(found: pd.DataFrame, runs: pd.DataFrame) -> list[str]:
    """The levels most of whose runs failed: out of every comparison, ranking and the best
    configuration (said once there is anything left to compare them with)."""
    failed = found[found["failed"].astype(bool)]
    if failed.empty or finished(runs).empty:
        return []
    untuned = failed[failed["failures"] == FAILED_TO_TUNE]
    failed = failed[failed["failures"] != FAILED_TO_TUNE]
    lines = []
    if len(untuned):
        lines.append("Failed to tune (no trial trained on every tuning seed), so never run at the compared seeds and left "
                     "out of every comparison and ranking: "
                     + "; ".join(f"{r['factor']}={r['level']}" for r in untuned.to_dict("records")) + ".")
    if len(failed):
        named = "; ".join(f"{r['factor']}={r['level']} ({r['n_failed']} of {r['runs']} runs: {r['failures']})"
                          for r in failed.to_dict("records"))
        lines.append(f"Failed to train, so left out of every comparison and ranking and of the best configuration: {named}.")
    return lines


def _reason_text(reason: str, chance: ChanceTest | None) -> str:
    if reason == AT_CHANCE and chance is not None:
        return f"ended at chance ({chance.describe()})"
    return {"no score": "have no validation score"}.get(reason, reason)


def failed_variants(group: pd.DataFrame, baseline: Mapping[str, str]) -> str:
    """The failed variants with their seeds; when there are many, the levels they all share."""
    variants = group.assign(variant=[variant_label(row, baseline) for row in group.to_dict("records")])
    named = [f"{variant} (seed{'s' if len(part) > 1 else ''} {', '.join(map(str, sorted(part['seed'])))})"
             for variant, part in variants.groupby("variant", sort=False)]
    if len(named) <= NAMED_FAILURES:
        return "; ".join(named)
    shared = [f"{family}={group[family].iloc[0]}" for family in FAMILIES if group[family].nunique() == 1
              and str(group[family].iloc[0]) != baseline.get(family)]
    if shared:
        return f"{len(named)} variants, all with {', '.join(shared)}"
    return f"{'; '.join(named[:NAMED_FAILURES])} and {len(named) - NAMED_FAILURES} more"


def best_configuration(runs: pd.DataFrame, config: Mapping[str, Any],
                       named: Callable[[Mapping[str, str]], str | None] | None = None) -> dict[str, Any] | None:
    """The combination of levels with the highest mean *validation* accuracy over its trained runs
    (test never chooses; a combination most of whose runs failed is no candidate), with its
    validation and test accuracy (mean ± 95 % CI over seeds), and whether its test accuracy differs
    detectably from the runner-up's and the baseline's (`versus`). `named`: levels → how to name the
    combination where it is not its variant label (a tuned one: the values its runs ran), or None."""
    if runs.empty:
        return None
    families = [family for family in FAMILIES if family in runs]
    all_runs, runs = runs, runs.assign(failure=failure_reasons(runs, SELECT_ON, chance_test(config)))
    combinations = runs.groupby(families, sort=False)
    viable = {_as_tuple(key) for key, part in combinations if (part["failure"] == "").any()
              and not level_failed(int((part["failure"] != "").sum()), len(part))}
    if not viable:
        return None
    trained = runs[runs["failure"] == ""]
    scores = trained.groupby(families, sort=False)[SELECT_ON].mean()
    scores = scores[[_as_tuple(key) in viable for key in scores.index]].sort_values(ascending=False, kind="stable")
    baseline = baseline_labels(config)
    arms = {name: dict(zip(families, _as_tuple(key))) for name, key in zip(("chosen", "runner-up"), scores.index)}
    arms["baseline"] = {family: baseline[family] for family in families}
    member = lambda levels: trained[(trained[families].astype(str) == pd.Series(levels)).all(axis=1)]
    chosen = member(arms["chosen"])
    shown = {name: (named and named(levels)) or variant_label(levels, baseline) for name, levels in arms.items()}
    return {"variant": shown["chosen"], "levels": arms["chosen"],
            "val": mean_ci(100 * chosen[SELECT_ON]), "test": mean_ci(100 * chosen["final_test_acc"]),
            "runs": len(chosen), "candidates": len(scores),
            "versus": versus(all_runs, config, arms, member, baseline, shown)}


def _as_tuple(key: Any) -> tuple:
    return key if isinstance(key, tuple) else (key,)


def versus(runs: pd.DataFrame, config: Mapping[str, Any], arms: Mapping[str, Mapping[str, str]], member,
           baseline: Mapping[str, str], shown: Mapping[str, str]) -> list[str]:
    """The chosen configuration's test accuracy against the runner-up on validation — a question of
    its own, a family of one, from the model of the two cells with seeds as blocks where they ran the
    same seeds (`stats.pooled_compare_to_reference`; else the per-comparison test, and the row says
    why) — and against the baseline: the noise floor's comparison of that
    variant, so the same family and the same verdict as the findings and the noise-floor figure
    (a runner-up that is the baseline is stated once, that way)."""
    labels = {name: variant_label(levels, baseline) for name, levels in arms.items()}
    lines = []
    if "runner-up" in arms and labels["runner-up"] != "baseline":
        frame = pd.concat([member(arms[arm]).assign(arm=arm) for arm in ("chosen", "runner-up")])
        table = pooled_compare_to_reference(frame.assign(value=100 * frame["final_test_acc"]), "arm", "value", "runner-up")
        lines += [difference_sentence(row, shown["chosen"], f"the runner-up on validation, {shown['runner-up']}")
                  for row in table.to_dict("records")]
    if labels["chosen"] != "baseline":
        floor = noise_table(runs, config)
        chosen = floor[(floor["metric"] == METRICS["final_test_acc"]) & (floor["variant"] == labels["chosen"])]
        lines += [difference_sentence(row, shown["chosen"], f"the {shown['baseline']}" if shown["baseline"] != "baseline"
                                      else "the baseline") for row in chosen.to_dict("records")]
    return lines
