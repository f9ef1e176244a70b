"""What the grid says, in sentences computed from the runs table — each number with its uncertainty.

Every technique level is compared with the baseline's level of the same factor: the difference
of mean final test accuracy with the 95 % confidence interval of the difference (Welch's t
interval, which does not assume equal variances — Welch 1947, via scipy's `ttest_ind`). In an
ablation the two groups are the runs that differ only in that factor; in a full or random design
they are all runs at each level, so the difference is a main effect averaged over the other
factors. Test accuracy only *reports*: the best configuration is chosen on validation accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from trickbench.report.grid import factor_rows, finished, variant_label
from trickbench.report.stats import mean_ci, welch_difference
from trickbench.techniques import FAMILIES

#: how many comparisons the summary states as sentences; the rest are in the comparisons table
TOP_FINDINGS = 5
#: how many failed variants the summary names before saying "and N more"
NAMED_FAILURES = 5


def counted(n: int, noun: str) -> str:
    """'1 run', '3 runs'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class Comparison:
    """Level minus baseline of one factor, in percentage points of test accuracy."""

    factor: str
    level: str
    baseline: str
    mean: float  # %, the level's mean
    baseline_mean: float  # %, the baseline level's mean
    diff: float  # points
    low: float  # points, 95 % CI of the difference (NaN with fewer than 2 runs on a side)
    high: float
    n: int
    n_baseline: int

    @property
    def clear(self) -> bool:
        """The interval of the difference excludes 0: a difference beyond seed-to-seed noise."""
        return self.low > 0 or self.high < 0

    @property
    def half(self) -> float:
        return (self.high - self.low) / 2


def difference_ci(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """mean(a) − mean(b) and Welch's `level` interval of it; NaN bounds with < 2 values a side
    (`stats.welch_difference`, the one implementation the noise-floor figures use too)."""
    difference = welch_difference(a, b, level)
    return difference.diff, difference.low, difference.high


def comparisons(runs: pd.DataFrame, config: Mapping[str, Any], metric: str = "final_test_acc") -> list[Comparison]:
    """Every non-baseline level of every factor against the baseline level, among finished runs."""
    from trickbench.collect import baseline_labels

    runs, baseline = finished(runs), baseline_labels(config)
    found = []
    for family in FAMILIES:
        if runs.empty or family not in runs:
            continue
        rows = factor_rows(runs, family, config["design"]["kind"])
        values = {str(level): 100 * group[metric].to_numpy(dtype=float) for level, group in rows.groupby(family, sort=False)}
        reference = values.get(baseline[family])
        if reference is None:
            continue
        for level, x in values.items():
            if level != baseline[family]:
                found.append(Comparison(family, level, baseline[family], float(x.mean()), float(reference.mean()),
                                        *difference_ci(x, reference), len(x), len(reference)))
    return found


def sentence(c: Comparison, design_kind: str) -> str:
    """E.g. 'init large_gaussian trails the baseline he_normal by 10.6 ± 3.2 points of test
    accuracy (30.3 vs 40.9 %; 2 and 2 runs).'"""
    verb = "beats" if c.diff > 0 else "trails"
    size = f"{abs(c.diff):.1f}" + (f" ± {c.half:.1f}" if math.isfinite(c.half) else "")
    where = "" if design_kind == "ablation" else ", averaged over the other factors"
    noise = "" if c.clear or not math.isfinite(c.half) else " — within the noise: the 95 % CI of the difference includes 0"
    once = " — one run a side, so no uncertainty estimate" if not math.isfinite(c.half) else ""
    return (f"{c.factor} {c.level} {verb} the baseline {c.baseline} by {size} points of test accuracy "
            f"({c.mean:.1f} vs {c.baseline_mean:.1f} %; {c.n} and {c.n_baseline} runs{where}){noise}{once}.")


def top_findings(runs: pd.DataFrame, config: Mapping[str, Any]) -> list[str]:
    """The failures first (a reader must know what did not train), then the largest differences
    beyond the noise, then one line on what remains."""
    kind = config["design"]["kind"]
    lines = failure_findings(runs, config)
    found = comparisons(runs, config)
    clear = sorted((c for c in found if c.clear), key=lambda c: -abs(c.diff))
    unclear = sorted((c for c in found if not c.clear), key=lambda c: -abs(c.diff))
    shown = clear[:TOP_FINDINGS] or unclear[:1]
    lines += [sentence(c, kind) for c in shown]
    more, within = len(clear) - len(shown), len(unclear)
    if clear and more and within:
        lines.append(f"Of the other {more + within} levels, {more} differ from their baseline beyond the noise and "
                     f"{within} do not (every comparison is in the table below).")
    elif clear and (more or within):
        n = more or within
        subject = "The other level" if n == 1 else f"The other {n} levels"
        verb = ("also differs" if n == 1 else "also differ") if more else ("does not differ" if n == 1 else "do not differ")
        lines.append(f"{subject} {verb} from the baseline beyond the noise (every comparison is in the table below).")
    elif not found and not finished(runs).empty:
        lines.append("No factor takes two levels among the finished runs, so there is nothing to compare.")
    elif not clear and found:
        lines.append(f"None of the {counted(len(found), 'level')} compared differs from its baseline beyond seed-to-seed noise "
                     f"at these seeds.")
    return lines


def failure_findings(runs: pd.DataFrame, config: Mapping[str, Any]) -> list[str]:
    """One sentence per non-`ok` status, naming the variants (what they change) and their seeds."""
    from trickbench.collect import baseline_labels

    if runs.empty or "status" not in runs:
        return []
    failed = runs[runs["status"] != "ok"]
    if failed.empty:
        return []
    baseline = baseline_labels(config)
    lines = []
    for status, group in failed.groupby("status", sort=True):
        lines.append(f"{len(group)} of {counted(len(runs), 'run')} {status}: {failed_variants(group, baseline)}. "
                     f"They are left out of every mean below.")
    return lines


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


def best_configuration(runs: pd.DataFrame, config: Mapping[str, Any]) -> dict[str, Any] | None:
    """The combination of levels with the highest mean *validation* accuracy (test never
    chooses), with its validation and test accuracy (mean ± 95 % CI over its seeds)."""
    from trickbench.collect import baseline_labels

    runs = finished(runs)
    if runs.empty:
        return None
    families = list(FAMILIES)
    scores = runs.groupby(families, sort=False)["final_val_acc"].mean()
    levels = dict(zip(families, scores.idxmax()))
    chosen = runs[(runs[families] == pd.Series(levels)).all(axis=1)]
    return {"variant": variant_label(levels, baseline_labels(config)), "levels": levels,
            "val": mean_ci(100 * chosen["final_val_acc"]), "test": mean_ci(100 * chosen["final_test_acc"]),
            "runs": len(chosen), "candidates": len(scores)}
