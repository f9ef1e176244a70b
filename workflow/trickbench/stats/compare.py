"""Differences between levels over seeds: one test, one corrected interval, one power statement.

Every comparison the report states goes through `compare_to_reference` (each level against one
reference level) or `compare_contrasts` (chosen pairs of levels, e.g. the weights a study keeps of
the same seeds compared among themselves), so no two statements can disagree: the noise floor, the
findings, the factor-effects tables, the studies' comparisons, the equal-compute summary and the
HTML summary all read their columns.

The test. Paired t (scipy `ttest_rel`) where both arms were run on the same seeds, one run per
seed: the seed's own luck (initialization, data order) cancels in the per-seed difference.
Otherwise Welch's t (`ttest_ind(equal_var=False)`, Welch 1947), which does not assume the two arms
share a variance. Fewer than two values on a side: no test, no interval, no finding.

The family. All the comparisons of one call: what one figure or one sentence draws together. In
an ablation that is every non-baseline level of every factor against the shared baseline runs
(13 comparisons in the default grid); a caller that compares several factors (or several
regularizers, metrics, budgets) passes them in one frame with `within`.

The correction and its intervals. p-values are adjusted across the family by statsmodels'
`multipletests` (Holm by default: family-wise error ≤ α without assuming independence; BH
selectable for the false discovery rate; Bonferroni). Each interval is the t interval of the
difference at a per-comparison level 1 − αᵢ chosen so that the interval excludes 0 exactly when
the correction rejects (the `detectable` flag), so an interval and a decision can never disagree:

- Bonferroni: αᵢ = α/m for every comparison — simultaneous coverage ≥ 1 − α.
- Holm (step-down): the k-th smallest p-value, if rejected, gets α/(m − k + 1), the level of its
  own step; every comparison not rejected gets the level of the step where Holm stopped, α/(m − r)
  with r rejections. The decisions keep Holm's family-wise error ≤ α; every interval lies between
  the uncorrected one and Bonferroni's (coverage of each ≥ 1 − α; choose Bonferroni when the
  magnitudes, not only the signs, must hold simultaneously).
- Benjamini–Hochberg: αᵢ = α·max(R, 1)/m with R rejections — the false-coverage-rate adjusted
  intervals of Benjamini & Yekutieli (2005, JASA 100:71), which cover the selected parameters
  with false-coverage rate ≤ α.

Power. The minimum detectable effect (80 % power at this n) and the seeds per arm the observed
difference would need come from the same test at the same αᵢ (`power`), so a difference the
interval cannot tell from 0 always needs more seeds than it has.
"""

from __future__ import annotations

import gc
import math
from dataclasses import asdict, dataclass
from typing import Any, Hashable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from trickbench.stats.power import (POWER, detectable_effect, paired_power, smallest_n, welch_df,
                                           welch_power)

PAIRED, WELCH = "paired t", "Welch t"
#: correction name → (statsmodels method, how a sentence names it)
CORRECTIONS = {"holm": ("holm", "Holm"), "bh": ("fdr_bh", "Benjamini–Hochberg"), "bonferroni": ("bonferroni", "Bonferroni")}
#: the columns of `compare_to_reference`, after the `within` and `by` columns
COLUMNS = ["n", "n_reference", "mean", "reference_mean", "sd", "reference_sd", "diff", "test", "df", "p_value",
           "p_adjusted", "correction", "family_size", "ci_level", "diff_ci_low", "diff_ci_high", "detectable", "mde",
           "seeds_needed"]


@dataclass(frozen=True)
class TwoArmTest:
    """mean(level) − mean(reference) with what any corrected level needs: its standard error,
    degrees of freedom and p-value, and the standard deviation its power is computed on."""

    test: str  # PAIRED, WELCH, or "" when a side has fewer than 2 values
    n: int
    n_reference: int
    mean: float
    reference_mean: float
    sd: float
    reference_sd: float
    diff: float
    se: float
    df: float
    p_value: float
    spread: float  # sd of the per-seed differences (paired) or σ_eff = se / √(1/n + 1/n_ref) (Welch)

    def interval(self, alpha: float) -> tuple[float, float]:
        """The two-sided 1 − alpha t interval of the difference (a point when se = 0)."""
        if not self.test or not math.isfinite(alpha):
            return math.nan, math.nan
        half = stats.t.ppf(1 - alpha / 2, self.df) * self.se if self.se > 0 else 0.0
        return self.diff - half, self.diff + half

    def power(self, effect: float, alpha: float) -> float:
        """Power of this test, at these n, to detect a true difference `effect` (in the value's units)."""
        d = abs(effect) / self.spread
        return paired_power(d, self.n, alpha) if self.test == PAIRED else welch_power(d, self.n, self.n_reference, alpha, self.df)

    def minimum_detectable_effect(self, alpha: float, power: float = POWER) -> float:
        """The smallest true difference this test detects with probability `power` at these n."""
        if not self.test or not math.isfinite(alpha):
            return math.nan
        if self.se == 0:
            return 0.0
        return detectable_effect(lambda d: self.power(d * self.spread, alpha), power) * self.spread

    def seeds_needed(self, alpha: float, power: float = POWER, boundary: float = 0.0) -> float:
        """Seeds per arm for this test to tell the observed difference from `boundary` with
        probability `power` (the same sds, equal arms): inf when they are equal or beyond MAX_SEEDS.
        `boundary` 0 asks for a difference at all; another value is the same t test of the null
        "the difference is `boundary`" (a size a claim's source states), whose statistic is
        (diff − boundary) / se — so its power is this test's at the distance diff − boundary."""
        if not self.test or not math.isfinite(alpha):
            return math.nan
        distance = self.diff - boundary
        if distance == 0:
            return math.inf
        if self.se == 0:
            return 2.0
        if self.test == PAIRED:
            return smallest_n(lambda n: paired_power(distance / self.spread, n, alpha), power)
        variances = self.sd ** 2 + self.reference_sd ** 2
        sigma = math.sqrt(variances / 2)  # σ_eff of two equal arms
        return smallest_n(lambda n: welch_power(distance / sigma, n, n, alpha,
                                                welch_df(self.sd ** 2, self.reference_sd ** 2, n, n)), power)


def two_arm_test(values: Sequence[float], reference: Sequence[float], keys: Sequence[Hashable] | None = None,
                 reference_keys: Sequence[Hashable] | None = None) -> TwoArmTest:
    """The paired t test when both arms carry the same keys (seeds), once each, and ≥ 2 of them;
    otherwise Welch's. Non-finite values are dropped with their keys."""
    x, y = _finite_pairs(values, keys), _finite_pairs(reference, reference_keys)
    a, b = np.array([v for v, _ in x]), np.array([v for v, _ in y])
    described = {"n": len(a), "n_reference": len(b), "mean": _mean(a), "reference_mean": _mean(b),
                 "sd": _sd(a), "reference_sd": _sd(b)}
    diff = described["mean"] - described["reference_mean"]
    if len(a) < 2 or len(b) < 2:
        return TwoArmTest("", **described, diff=diff, se=math.nan, df=math.nan, p_value=math.nan, spread=math.nan)
    paired = _paired(x, y)
    if paired is not None:
        differences = paired[0] - paired[1]
        se = float(differences.std(ddof=1) / math.sqrt(len(differences)))
        p = float(stats.ttest_rel(*paired).pvalue) if se > 0 else _exact(diff)
        return TwoArmTest(PAIRED, **described, diff=diff, se=se, df=len(differences) - 1, p_value=p,
                          spread=float(differences.std(ddof=1)))
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return TwoArmTest(WELCH, **described, diff=diff, se=0.0, df=math.inf, p_value=_exact(diff), spread=0.0)
    p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    return TwoArmTest(WELCH, **described, diff=diff, se=se, df=welch_df(a.var(ddof=1), b.var(ddof=1), len(a), len(b)),
                      p_value=p, spread=se / math.sqrt(1 / len(a) + 1 / len(b)))


def _multipletests(p: np.ndarray, alpha: float, method: str) -> tuple[np.ndarray, np.ndarray]:
    """statsmodels' (reject, adjusted p). Its Holm ends in gc.collect(), a full pass over every object
    the process holds (0.2 CPU-s per family once torch and pandas are loaded): with them frozen
    (`gc.freeze`, unless the process froze its own already) it passes over only the new ones."""
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    try:
        reject, corrected, _, _ = multipletests(p, alpha=alpha, method=method)
    finally:
        if freeze:
            gc.unfreeze()
    return reject, corrected


def interval_alphas(p_values: Sequence[float], correction: str = "holm", alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """(adjusted p-values, per-comparison α of each interval) for a family; NaN p-values (no test)
    stay out of the family and get NaN. See the module docstring for why each αᵢ."""
    if correction not in CORRECTIONS:
        raise ValueError(f"correction {correction!r}: use one of {', '.join(CORRECTIONS)}")
    p = np.asarray(p_values, dtype=float)
    adjusted, alphas = np.full(len(p), math.nan), np.full(len(p), math.nan)
    tested = np.flatnonzero(np.isfinite(p))
    m = len(tested)
    if not m:
        return adjusted, alphas
    reject, corrected = _multipletests(p[tested], alpha, CORRECTIONS[correction][0])
    adjusted[tested] = corrected
    rejected = int(reject.sum())
    if correction == "bonferroni":
        alphas[tested] = alpha / m
    elif correction == "bh":
        alphas[tested] = alpha * max(rejected, 1) / m
    else:  # Holm: a rejection's own step, the stopping step for the rest
        for rank, index in enumerate(np.argsort(p[tested], kind="stable")):
            alphas[tested[index]] = alpha / (m - rank) if reject[index] else alpha / (m - rejected)
    return adjusted, alphas


def compare_to_reference(frame: pd.DataFrame, by: str, value: str, reference: Any, *, within: str | None = None,
                         pair_on: str | None = "seed", correction: str = "holm", level: float = 0.95,
                         power: float = POWER) -> pd.DataFrame:
    """Every level of `by` against the `reference` level, as one family.

    With `within`, levels are compared inside each group of that column, and `reference` may map
    each group to its own reference level; the family is still every comparison of the call.
    Rows pair on `pair_on` (seeds) when both arms have the same keys once each. One row per
    non-reference level, in order of appearance: n, n_reference, means, sds, the difference, the
    test, its df, raw and adjusted p, the correction and family size, the per-comparison level
    `ci_level` and interval `diff_ci_low/high`, `detectable` (the interval excludes 0), the
    minimum detectable effect `mde` and the `seeds_needed` per arm at the observed difference."""
    found: list[tuple[dict[str, Any], TwoArmTest]] = []
    for group, arms in _groups(frame, by, within, value, pair_on):
        base = reference.get(group) if isinstance(reference, Mapping) else reference
        for level_ in arms:
            if level_ != base:
                found.append(({**({within: group} if within else {}), by: level_},
                              _arm_test(arms, level_, base, value, pair_on, frame)))
    return _family(found, [*([within] if within else []), by], correction, level, power)


def compare_contrasts(frame: pd.DataFrame, by: str, value: str, contrasts: Sequence[tuple[Any, Any]], *,
                      within: str | None = None, pair_on: str | None = "seed", correction: str = "holm",
                      level: float = 0.95, power: float = POWER) -> pd.DataFrame:
    """Chosen differences among levels of `by`, as one family: each (level, reference) of
    `contrasts` is mean(level) − mean(reference), inside each group of `within` when given.

    For arms that are not all compared with one reference level — pairwise contrasts, or several
    treatments of the same seeds against each other (the weights a study keeps of one run). The
    test, correction, intervals and power are `compare_to_reference`'s; rows carry `by` (the
    level), `reference` (the level it is compared with) and the same columns. A contrast whose arm
    is missing from a group has n = 0, no test, and stays out of the family."""
    found = [({**({within: group} if within else {}), by: level_, "reference": base},
              _arm_test(arms, level_, base, value, pair_on, frame))
             for group, arms in _groups(frame, by, within, value, pair_on) for level_, base in contrasts]
    return _family(found, [*([within] if within else []), by, "reference"], correction, level, power)


def _groups(frame: pd.DataFrame, by: str, within: str | None, value: str,
            pair_on: str | None) -> list[tuple[Any, dict[Any, pd.DataFrame]]]:
    """(group of `within`, {level of `by`: its rows}) in order of appearance; the rows carry only
    the columns a test reads (splitting a wide runs table a thousand ways costs seconds)."""
    frame = frame[list(dict.fromkeys(c for c in (within, by, value, pair_on) if c and c in frame))]
    groups = frame.groupby(within, sort=False) if within else [(None, frame)]
    return [(group, {level_: rows for level_, rows in part.groupby(by, sort=False)}) for group, part in groups]


def _arm_test(arms: Mapping[Any, pd.DataFrame], level_: Any, base: Any, value: str, pair_on: str | None,
              frame: pd.DataFrame) -> TwoArmTest:
    rows, base_rows = arms.get(level_, frame.iloc[:0]), arms.get(base, frame.iloc[:0])
    return two_arm_test(pd.to_numeric(rows[value], errors="coerce"), pd.to_numeric(base_rows[value], errors="coerce"),
                        _keys(rows, pair_on), _keys(base_rows, pair_on))


def _family(found: list[tuple[dict[str, Any], TwoArmTest]], labels: list[str], correction: str, level: float,
            power: float) -> pd.DataFrame:
    """The rows of one family: p-values adjusted together, each interval at its own corrected level."""
    alpha = 1 - level
    adjusted, alphas = interval_alphas([test.p_value for _, test in found], correction, alpha)
    family = int(np.isfinite(adjusted).sum())
    rows = []
    for (named, test), p_adjusted, alpha_i in zip(found, adjusted, alphas):
        low, high = test.interval(alpha_i)
        facts = asdict(test)
        rows.append({**named, **{c: facts[c] for c in COLUMNS if c in facts}, "p_adjusted": p_adjusted,
                     "correction": correction, "family_size": family, "ci_level": 1 - alpha_i,
                     "diff_ci_low": low, "diff_ci_high": high, "detectable": bool(low > 0 or high < 0),
                     "mde": test.minimum_detectable_effect(alpha_i, power),
                     "seeds_needed": test.seeds_needed(alpha_i, power)})
    return pd.DataFrame(rows, columns=[*labels, *COLUMNS])


def _keys(rows: pd.DataFrame, pair_on: str | None) -> list[Hashable] | None:
    return rows[pair_on].tolist() if pair_on and pair_on in rows else None


def _finite_pairs(values: Sequence[float], keys: Sequence[Hashable] | None) -> list[tuple[float, Hashable]]:
    values = list(values)
    keys = list(keys) if keys is not None else [None] * len(values)
    return [(float(v), k) for v, k in zip(values, keys) if v is not None and math.isfinite(v)]


def _paired(x: list[tuple[float, Hashable]], y: list[tuple[float, Hashable]]) -> tuple[np.ndarray, np.ndarray] | None:
    """The two arms aligned by key, when each has the same keys once each (and keys at all)."""
    kx, ky = [k for _, k in x], [k for _, k in y]
    if None in kx or None in ky or len(set(kx)) != len(kx) or set(kx) != set(ky):
        return None
    by_key = dict((k, v) for v, k in y)
    return np.array([v for v, _ in x]), np.array([by_key[k] for _, k in x])


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if len(x) else math.nan


def _sd(x: np.ndarray) -> float:
    return float(x.std(ddof=1)) if len(x) > 1 else math.nan


def _exact(diff: float) -> float:
    """p-value of a difference measured without spread: 0 if it is not zero, else 1."""
    return 0.0 if diff != 0 else 1.0

