"""Power of the two t tests the comparisons use, at each test's own degrees of freedom.

The interval of a comparison and its power statement must come from the same test, or they can
contradict each other (a Welch interval on 2 degrees of freedom calling a difference "within the
noise" while a pooled-t power calculation on 4 says the seeds already suffice). So both tests'
power is the textbook two-sided power of a t test (Cohen 1988, ch. 2): with T ~ noncentral t(ν, λ)
and c = t₁₋α/₂,ν,

    power = P(T > c) + P(T < −c),

- paired t (runs that share seeds): ν = n − 1, λ = δ·√n / sd(per-seed differences);
- Welch t: ν the Welch–Satterthwaite degrees of freedom, λ = δ / se = δ / (σ_eff·√(1/n₁ + 1/n₂)),
  σ_eff = se / √(1/n₁ + 1/n₂) — statsmodels' `TTestIndPower` with `df` set to Welch's.

Both at the comparison's corrected α (see `compare.interval_alphas`), 80 % power.

Why scipy's noncentral t (`stats.nct`) and not statsmodels' `TTestPower`/`TTestIndPower`, which
compute the same sum: statsmodels evaluates both tails with `special.nctdtr`, which returns NaN
in the far tails that few seeds and a corrected α reach (n = 3 at α = 0.05/6 and an effect of 5
sd; Welch at an effect of 30 sd and ν = 8) — NaN power, then NaN minimum detectable effects. scipy's
`nct.sf` gives the right-sign tail everywhere we use it (ν ≥ 1, α ≥ 1e-4, λ up to 1e7 checked); its
`nct.cdf` returns NaN only where the wrong-sign tail underflows, and that tail is then taken as 0:
it is below Φ(−λ) (T < −c needs Z < −λ), at most 4e-5 and in fact ~1e-16 wherever it happened
(an mpmath integration of the worst case). tests/report/test_stats.py checks the power against
statsmodels where statsmodels is finite and against a simulation of the t test where it is not.
"""

from __future__ import annotations

import math
from typing import Callable

from scipy import optimize, stats

#: the power at which minimum detectable effects and seeds needed are stated
POWER = 0.8
#: beyond this many seeds per arm a difference is reported as needing "more than" it
MAX_SEEDS = 10_000


def welch_df(var_a: float, var_b: float, n_a: int, n_b: int) -> float:
    """Welch–Satterthwaite: (s_a²/n_a + s_b²/n_b)² / [(s_a²/n_a)²/(n_a−1) + (s_b²/n_b)²/(n_b−1)].
    The ratio does not change when both terms are scaled alike, so they are divided by the larger
    first: squares of variances near 1e-300 would underflow to 0/0."""
    a, b = var_a / n_a, var_b / n_b
    larger = max(a, b)
    if larger > 0:
        a, b = a / larger, b / larger
    return (a + b) ** 2 / (a ** 2 / (n_a - 1) + b ** 2 / (n_b - 1))


def t_test_power(noncentrality: float, df: float, alpha: float) -> float:
    """Two-sided power of a t test on `df` degrees of freedom at level `alpha` when its statistic
    is noncentral t with `noncentrality` λ: P(T > c) + P(T < −c), c = t₁₋α/₂,df (see above)."""
    critical, shift = float(stats.t.isf(alpha / 2, df)), abs(noncentrality)
    right = float(stats.nct.sf(critical, df, shift))
    wrong = float(stats.nct.cdf(-critical, df, shift))
    return right + (wrong if math.isfinite(wrong) else 0.0)  # NaN only where it underflows (< Φ(−λ))


def paired_power(effect: float, n: int, alpha: float) -> float:
    """Power of the two-sided paired t test with n pairs at standardized effect δ / sd(differences)."""
    return t_test_power(effect * math.sqrt(n), n - 1, alpha)


def welch_power(effect: float, n_a: int, n_b: int, alpha: float, df: float) -> float:
    """Power of the two-sided Welch t test at standardized effect δ / σ_eff with `df` degrees of freedom."""
    return t_test_power(effect / math.sqrt(1 / n_a + 1 / n_b), df, alpha)


def detectable_effect(power_at: Callable[[float], float], power: float = POWER) -> float:
    """The standardized effect d > 0 at which `power_at(d)` reaches `power` (power rises with d)."""
    upper = 1.0
    while power_at(upper) < power:
        upper *= 2
        if upper > 1e6:
            return math.inf
    return float(optimize.brentq(lambda d: power_at(d) - power, 0.0, upper, xtol=1e-10))


def smallest_n(power_at: Callable[[int], float], power: float = POWER) -> float:
    """The smallest n ≥ 2 with `power_at(n)` ≥ `power` (power rises with n): doubling, then bisection.
    inf beyond MAX_SEEDS."""
    if power_at(2) >= power:
        return 2.0
    low, high = 2, 4
    while power_at(high) < power:
        low, high = high, high * 2
        if low > MAX_SEEDS:
            return math.inf
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if power_at(middle) < power else (low, middle)
    return float(high) if high <= MAX_SEEDS else math.inf
