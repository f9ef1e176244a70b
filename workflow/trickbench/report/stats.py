"""Uncertainty for repeated runs: means with t-based 95 % confidence intervals, and the noise floor —
whether a difference between techniques exceeds seed-to-seed noise (Welch's interval of the
difference) and how many seeds a difference would need (the power of the two-sample t test)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import pandas as pd
from scipy import stats


def mean_ci(values: Iterable[float], level: float = 0.95) -> tuple[float, float]:
    """(mean, half-width of the `level` CI of the mean, Student t). Half-width is NaN for n < 2,
    because one seed says nothing about seed-to-seed noise."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if len(x) == 0:
        return math.nan, math.nan
    if len(x) < 2:
        return float(x.mean()), math.nan
    half = stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean()), float(half)


def grouped_ci(frame: pd.DataFrame, by: str | list[str], value: str, level: float = 0.95) -> pd.DataFrame:
    """One row per group: n, mean, sd, ci_low, ci_high of `value` (non-finite values dropped)."""
    rows = []
    for key, group in frame.groupby(by, sort=False, dropna=False):
        values = pd.to_numeric(group[value], errors="coerce").dropna()
        mean, half = mean_ci(values, level)
        keys = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip([by] if isinstance(by, str) else by, keys)), "n": len(values), "mean": mean,
                     "sd": float(values.std(ddof=1)) if len(values) > 1 else math.nan,
                     "ci_low": mean - half, "ci_high": mean + half})
    return pd.DataFrame(rows)


# -- the noise floor: is a difference bigger than seed-to-seed noise, and how many seeds to tell ----

@dataclass(frozen=True)
class Difference:
    """mean(a) − mean(b) with the Welch 95 % CI; CI bounds NaN when either side has < 2 values."""

    diff: float
    low: float
    high: float
    df: float

    @property
    def within_noise(self) -> bool:
        """True unless the CI excludes 0: a difference the seeds cannot tell from noise, including
        one whose CI cannot be computed (one seed per side says nothing about the noise)."""
        return not (self.low > 0 or self.high < 0)


def _finite(values: Iterable[float]) -> np.ndarray:
    return np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)


def welch_difference(a: Iterable[float], b: Iterable[float], level: float = 0.95) -> Difference:
    """Difference of means with Welch's t interval (Welch 1947): no equal-variance assumption.

    se² = s_a²/n_a + s_b²/n_b; ν = se⁴ / [(s_a²/n_a)²/(n_a−1) + (s_b²/n_b)²/(n_b−1)]
    (Welch–Satterthwaite); CI = diff ± t_{(1+level)/2, ν} · se. Two identical constant samples
    give se = 0 and a zero-width interval."""
    x, y = _finite(a), _finite(b)
    if len(x) == 0 or len(y) == 0:
        return Difference(math.nan, math.nan, math.nan, math.nan)
    diff = float(x.mean() - y.mean())
    if len(x) < 2 or len(y) < 2:
        return Difference(diff, math.nan, math.nan, math.nan)
    va, vb = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    se = math.sqrt(va + vb)
    if se == 0:
        return Difference(diff, diff, diff, math.inf)
    df = (va + vb) ** 2 / (va ** 2 / (len(x) - 1) + vb ** 2 / (len(y) - 1))
    half = stats.t.ppf(0.5 + level / 2, df) * se
    return Difference(diff, float(diff - half), float(diff + half), float(df))


def t_test_power(n: int, effect: float, alpha: float = 0.05) -> float:
    """Power of the two-sided two-sample t test with n per group at standardized effect d = δ/σ:
    1 − F(t*; ν, λ) + F(−t*; ν, λ), F the noncentral t CDF, ν = 2n − 2, λ = d·√(n/2),
    t* = t_{1−α/2, ν} (Cohen 1988, ch. 2)."""
    df = 2 * n - 2
    noncentrality = abs(effect) * math.sqrt(n / 2)
    critical = stats.t.ppf(1 - alpha / 2, df)
    return float(stats.nct.sf(critical, df, noncentrality) + stats.nct.cdf(-critical, df, noncentrality))


#: beyond this many seeds per arm a difference is reported as needing "more than" it
MAX_SEEDS = 10_000


def seeds_needed(sd: float, difference: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Seeds per arm for a two-sided two-sample t test at level `alpha` to detect `difference`
    with probability `power`, when seed-to-seed standard deviation is `sd`.

    The smallest n ≥ 2 with t_test_power(n, difference / sd) ≥ power, searched upward from the
    normal approximation n ≈ 2·(z_{1−α/2} + z_{power})²·sd²/difference² (Lehr 1992: 16·sd²/δ² at
    α = 0.05, 80 % power), which the exact t power exceeds by a seed or two when n is small.
    inf for a zero difference (or more than MAX_SEEDS); NaN when sd or difference is unknown."""
    if not (math.isfinite(sd) and math.isfinite(difference)):
        return math.nan
    if difference == 0:
        return math.inf
    if sd == 0:
        return 2.0
    effect = abs(difference) / sd
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    n = max(2, math.floor(2 * (z / effect) ** 2) - 1)
    if n > MAX_SEEDS:
        return math.inf
    while t_test_power(n, effect, alpha) < power:
        n += 1
    return float(n)


def pooled_sd(groups: Iterable[Iterable[float]]) -> float:
    """√(Σ (n_i − 1)·s_i² / Σ (n_i − 1)) over groups with ≥ 2 values: the seed-to-seed standard
    deviation shared by cells that differ in their mean."""
    squares, dof = 0.0, 0
    for group in groups:
        x = _finite(group)
        if len(x) >= 2:
            squares += (len(x) - 1) * x.var(ddof=1)
            dof += len(x) - 1
    return math.sqrt(squares / dof) if dof else math.nan


def versus_reference(frame: pd.DataFrame, by: str, value: str, reference: Any, level: float = 0.95) -> pd.DataFrame:
    """Per level of `by`: the difference of its mean `value` to the `reference` level's, its Welch
    CI, whether it is within the noise, and the seeds per arm that the observed difference would
    need (pooled sd of the two arms). The reference's own row has difference 0, no CI and no flag.
    Without the reference level among the rows every comparison is NaN."""
    values = {key: pd.to_numeric(group[value], errors="coerce").dropna().to_numpy()
              for key, group in frame.groupby(by, sort=False, dropna=False)}
    base = values.get(reference, np.array([]))
    rows = []
    for key, x in values.items():
        is_reference = key == reference
        difference = Difference(0.0, math.nan, math.nan, math.nan) if is_reference else welch_difference(x, base, level)
        rows.append({by: key, "diff": difference.diff, "diff_ci_low": difference.low, "diff_ci_high": difference.high,
                     "within_noise": math.nan if is_reference or not len(base) else difference.within_noise,
                     "seeds_needed": math.nan if is_reference else seeds_needed(pooled_sd([x, base]), difference.diff)})
    return pd.DataFrame(rows)
