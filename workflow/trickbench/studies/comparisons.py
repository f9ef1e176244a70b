"""Paired comparisons of weights that share their seeds, corrected across the family a figure shows.

Two kinds of weights of one study trained from the same seed share the initialization and the
data order, so each comparison is a paired t test on the per-seed differences
(`scipy.stats.ttest_rel`). A family is every comparison one figure draws together: its p values
are Holm-adjusted (`statsmodels.stats.multitest.multipletests`, method "holm") and its intervals
are simultaneous Bonferroni intervals — the Student t interval of the mean difference
(`report.stats.mean_ci`) at level 1 − α/m for m comparisons — so an interval that excludes 0 is a
difference that Holm's procedure detects as well. Where the interval includes 0 the verdict says
"no detectable difference", with n and the minimum detectable effect: the difference a paired t
test at the same level would find with 80 % power given the seeds' standard deviation of the
differences (`paired_t_power`).

This is the one place the early-stopping and checkpoint-averaging studies do statistics.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import integrate, optimize, special, stats
from statsmodels.stats.multitest import multipletests

from trickbench.report.stats import mean_ci

COLUMNS = ["comparison", "n", "mean", "sd", "ci_low", "ci_high", "confidence", "p", "p_holm", "family_size",
           "min_detectable", "verdict"]


def paired_t_power(effect: float, n: int, alpha: float) -> float:
    """Power of the two-sided paired (one-sample) t test with n pairs at level `alpha` when the mean
    difference is `effect` standard deviations: P(|Z + δ√n| > t*·S), Z standard normal, S² a χ²
    with n − 1 degrees of freedom over n − 1, t* = t_{1−α/2, n−1} (Cohen 1988, ch. 2).

    Integrated over S numerically: what `statsmodels`' TTestPower and `scipy.stats.nct` compute,
    but those return NaN at some of the small n and α a Bonferroni family of few seeds needs."""
    df = n - 1
    critical, shift = stats.t.ppf(1 - alpha / 2, df), effect * math.sqrt(n)
    log_norm = -(df / 2) * math.log(2) - special.gammaln(df / 2)  # of the χ² density (scalar math: fast)

    def rejected(v: float) -> float:
        bound = critical * math.sqrt(v / df)
        density = math.exp(log_norm + (df / 2 - 1) * math.log(v) - v / 2) if v > 0 else 0.0
        return (special.ndtr(shift - bound) + special.ndtr(-bound - shift)) * density

    return float(integrate.quad(rejected, 0, math.inf, limit=200)[0])


def min_detectable_difference(n: int, sd: float, alpha: float, power: float = 0.8) -> float:
    """The smallest mean difference a two-sided paired t test with n pairs at level `alpha` detects
    with probability `power`, when the differences have standard deviation `sd` (NaN for n < 2)."""
    if n < 2 or not math.isfinite(sd):
        return math.nan
    if sd == 0:
        return 0.0
    reach = lambda effect: paired_t_power(effect, n, alpha) - power
    if reach(1e3) < 0:
        return math.inf
    return float(optimize.brentq(reach, 0.0, 1e3)) * sd


def paired_comparisons(values: pd.DataFrame, arm: str, value: str, contrasts: Sequence[tuple[str, str]],
                       by: Sequence[str] = (), alpha: float = 0.05) -> pd.DataFrame:
    """Per group of `by` and per (a, b) in `contrasts`: the difference a − b of `value` between
    the rows whose `arm` is a and b, paired on `seed` (seeds missing either side are left out).

    One family: every group × contrast with at least two pairs. Columns: `by`, COLUMNS."""
    by = list(by)
    rows = []
    for key, group in (values.groupby(by, sort=False) if by else [((), values)]):
        wide = group.pivot_table(index="seed", columns=arm, values=value, aggfunc="first")
        for a, b in contrasts:
            pairs = wide[[a, b]].dropna() if {a, b} <= set(wide.columns) else pd.DataFrame(columns=[a, b])
            keys = dict(zip(by, key if isinstance(key, tuple) else (key,)))
            rows.append({**keys, "comparison": f"{a} − {b}", "a": pairs[a].to_numpy(float), "b": pairs[b].to_numpy(float)})
    testable = [row for row in rows if len(row["a"]) >= 2]
    family, level = len(testable), 1 - alpha / max(len(testable), 1)
    p_values = [_paired_p(row["a"], row["b"]) for row in testable]
    finite = [i for i, p in enumerate(p_values) if math.isfinite(p)]
    adjusted = dict(zip(finite, multipletests([p_values[i] for i in finite], method="holm")[1])) if finite else {}
    for i, row in enumerate(testable):
        row["p"], row["p_holm"] = p_values[i], float(adjusted.get(i, math.nan))
    out = []
    for row in rows:
        differences = row.pop("a") - row.pop("b")
        n = len(differences)
        mean, half = mean_ci(differences, level) if n else (math.nan, math.nan)
        sd = float(np.std(differences, ddof=1)) if n >= 2 else math.nan
        mde = min_detectable_difference(n, sd, alpha / max(family, 1))
        out.append({**row, "n": n, "mean": mean, "sd": sd, "ci_low": mean - half, "ci_high": mean + half,
                    "confidence": level, "p": row.get("p", math.nan), "p_holm": row.get("p_holm", math.nan),
                    "family_size": family, "min_detectable": mde, "verdict": verdict(mean, mean - half, mean + half, n, mde)})
    return pd.DataFrame(out, columns=[*by, *COLUMNS])


def _paired_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p of the paired t test; NaN when the differences do not vary (t undefined)."""
    if np.ptp(a - b) == 0:
        return math.nan
    return float(stats.ttest_rel(a, b).pvalue)


def verdict(mean: float, low: float, high: float, n: int, min_detectable: float) -> str:
    """What a reader may conclude: higher, lower, or no detectable difference (with n and the
    minimum detectable effect), never a win where the corrected interval includes 0."""
    if n < 2 or not (math.isfinite(low) and math.isfinite(high)):
        return f"not tested (n = {n})"
    if low > 0:
        return "higher"
    if high < 0:
        return "lower"
    return f"no detectable difference with n = {n} seeds (minimum detectable effect {min_detectable:.3g})"
