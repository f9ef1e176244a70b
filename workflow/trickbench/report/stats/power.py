"""Power of the two t tests the comparisons use (statsmodels), at each test's own degrees of freedom.

The interval of a comparison and its power statement must come from the same test, or they can
contradict each other (a Welch interval on 2 degrees of freedom calling a difference "within the
noise" while a pooled-t power calculation on 4 says the seeds already suffice). So:

- paired t (runs that share seeds): `TTestPower` on the standard deviation of the per-seed
  differences, df = n − 1;
- Welch t: `TTestIndPower` with the effect standardized by σ_eff = se / √(1/n₁ + 1/n₂), which
  makes its noncentrality δ / se exactly Welch's, and with Welch–Satterthwaite degrees of freedom
  passed as `df` (statsmodels' default would be the pooled n₁ + n₂ − 2).

Both at the comparison's corrected α (see `compare.interval_alphas`), two-sided, 80 % power.
"""

from __future__ import annotations

import math
from typing import Callable

from scipy import optimize
from statsmodels.stats.power import TTestIndPower, TTestPower

#: the power at which minimum detectable effects and seeds needed are stated
POWER = 0.8
#: beyond this many seeds per arm a difference is reported as needing "more than" it
MAX_SEEDS = 10_000


def welch_df(var_a: float, var_b: float, n_a: int, n_b: int) -> float:
    """Welch–Satterthwaite: (s_a²/n_a + s_b²/n_b)² / [(s_a²/n_a)²/(n_a−1) + (s_b²/n_b)²/(n_b−1)]."""
    a, b = var_a / n_a, var_b / n_b
    return (a + b) ** 2 / (a ** 2 / (n_a - 1) + b ** 2 / (n_b - 1))


def paired_power(effect: float, n: int, alpha: float) -> float:
    """Power of the two-sided paired t test with n pairs at standardized effect δ / sd(differences)."""
    return _two_sided(lambda tail, a: TTestPower().power(effect_size=abs(effect), nobs=n, alpha=a, alternative=tail), alpha)


def welch_power(effect: float, n_a: int, n_b: int, alpha: float, df: float) -> float:
    """Power of the two-sided Welch t test at standardized effect δ / σ_eff with `df` degrees of freedom."""
    return _two_sided(lambda tail, a: TTestIndPower().power(effect_size=abs(effect), nobs1=n_a, alpha=a, ratio=n_b / n_a,
                                                            df=df, alternative=tail), alpha)


def _two_sided(power_of_tail: Callable[[str, float], float], alpha: float) -> float:
    """Two-sided power as statsmodels sums it, one tail at α/2 each. scipy's noncentral t returns
    NaN where the wrong-sign tail underflows (around 1e-17 for a large effect on few degrees of
    freedom), which would make the whole power NaN; that tail, never above α/2, is then 0."""
    right, wrong = float(power_of_tail("larger", alpha / 2)), float(power_of_tail("smaller", alpha / 2))
    return right + (wrong if math.isfinite(wrong) else 0.0)


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
