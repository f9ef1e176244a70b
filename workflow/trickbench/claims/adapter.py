"""Everything the claims take from work that is changing in parallel, in one place, so that switching
to it is a change of this module only.

- **Statistics** (issue 13: `report.stats` becomes the report's one statistics). Until its
  comparison lands, the tests are scipy's and statsmodels' directly, with the semantics it will
  have: paired t where the two arms share their units (seeds), else Welch; Holm across a family
  (`statsmodels.stats.multitest`); each interval at the level of its test's Holm step, so that an
  interval excludes 0 exactly when Holm rejects; seeds needed and minimum detectable effect from
  the power of the same t test (the noncentral t, as `statsmodels.stats.power` has it). Failed runs (diverged, exploded, at
  chance on validation) are left out of every arm.
- **Tuning** (issue 13: `design.tuning`): the trials' validation accuracy against learning rate
  per level, read from the tuning table when it exists.
- **Outcomes** (issues 13/14): training accuracy and loss measured in eval mode on a fixed training
  sample (`train_eval_*`), and the early-stopping study's run whose schedule is planned for the
  stopping epoch. Until those columns exist the claims fall back to the training-mode running
  numbers and to the restored-vs-last comparison, and say so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats
from statsmodels.stats.multitest import multipletests

#: family-wise error rate of the scorecard's tests
ALPHA = 0.05
#: the power at which "seeds to decide" and "minimum detectable effect" are stated
POWER = 0.8
#: beyond this many seeds a claim is said to need "more than" it
MAX_SEEDS = 10_000
#: a run whose final validation accuracy is below this multiple of chance did not learn (10 classes)
CHANCE_ACCURACY = 0.1
AT_CHANCE_FACTOR = 1.2


# -- runs that failed ------------------------------------------------------------------------------
def failed(runs: pd.DataFrame) -> pd.Series:
    """Runs that did not train: a status other than ok (diverged, exploded), a non-finite final
    test accuracy, or a validation accuracy at chance. They count as failed, never as an effect."""
    status = runs["status"] != "ok" if "status" in runs else pd.Series(False, index=runs.index)
    test = pd.to_numeric(runs.get("final_test_acc"), errors="coerce")
    val = pd.to_numeric(runs.get("final_val_acc"), errors="coerce")
    at_chance = val < AT_CHANCE_FACTOR * CHANCE_ACCURACY
    return status | ~np.isfinite(test) | at_chance


# -- outcomes: eval-mode training metrics, early stopping's planned schedule -----------------------
#: eval-mode training metrics per epoch (issue 13 §5), by the names they may take; the first present wins
EVAL_MODE_TRAIN = {"acc": ("train_eval_acc", "eval_train_acc"), "loss": ("train_eval_loss", "eval_train_loss")}
TRAIN_MODE_NOTE = ("training accuracy is the running training-mode number (dropout and augmentation on): "
                   "no eval-mode column in epochs.csv yet")


def train_curve_column(epochs: pd.DataFrame, metric: str) -> tuple[str, bool]:
    """(column of epochs.csv holding the training `metric` — acc or loss —, measured in eval mode?)."""
    for column in EVAL_MODE_TRAIN[metric]:
        if column in epochs and epochs[column].notna().any():
            return column, True
    return f"train_{metric}", False


#: test accuracy of the model chosen on validation (the run's validation-selected epoch)
SELECTED_TEST_ACC = "best_test_acc"

#: early-stopping study: a run whose schedule is planned for the stopping epoch (issue 13 §6), if recorded
PLANNED_SCHEDULE_TEST_ACC = ("test_acc_planned", "test_acc_planned_schedule")
RESTORED_NOTE = ("restored weights come from before the schedule annealed, so this compares stopping *and* "
                 "annealing; the study's planned-schedule round (when it has one) separates them")


def early_stopping_contrast(table: pd.DataFrame) -> tuple[str, str, str]:
    """(claimed column, reference column, note) of the early-stopping comparison: the run whose
    schedule ends at the stopping epoch where the study has one, else the restored weights."""
    for column in PLANNED_SCHEDULE_TEST_ACC:
        if column in table and table[column].notna().any():
            return column, "test_acc_last", "stopping with the schedule planned for the stopping epoch, vs training to the end"
    return "test_acc_restored", "test_acc_last", RESTORED_NOTE


# -- tuning: validation accuracy against learning rate per level ----------------------------------
#: the tuning table (design.tuning) and the columns the claims read of it
TUNING_TABLE = "tuning"
TUNING_COLUMNS = ("factor", "level", "lr", "val_acc")
TUNING_FIGURE = "tuning_sensitivity"
TUNING_SETTING = "design.tuning (each level's learning rate tuned; its trials give validation accuracy against lr)"


def learning_rate_note(table: pd.DataFrame | None) -> str:
    """How the levels of a grid comparison got their learning rates: tuned per level where the
    tuning table exists, else the one rate the config gives them all (which may suit one level more)."""
    if tuning_sensitivity(table) is not None:
        return "each level at its own tuned learning rate (design.tuning)"
    return "both levels at the config's learning rate (untuned): set design.tuning to give each its own"


def extra_tables(config) -> list[str]:
    """Tables of other steps the claims read besides the grid's and the studies': the tuning table,
    once `design.tuning` writes one (today none)."""
    return []


def tuning_sensitivity(table: pd.DataFrame | None) -> pd.DataFrame | None:
    """One row per tuning trial (factor, level, lr, val_acc), or None where no tuning ran."""
    if table is None or table.empty or not set(TUNING_COLUMNS) <= set(table):
        return None
    return table[list(TUNING_COLUMNS)]


# -- tests ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Test:
    """One comparison of two arms, uncorrected: claimed − other, oriented so the claim predicts > 0."""

    name: str  # "paired t", "Welch t"
    effect: float
    se: float
    df: float
    p: float
    sd: float  # of the paired differences, or the pooled sd of the two arms: the sd the power uses
    n: int  # pairs, or runs per arm (the smaller arm)
    paired: bool

    def interval(self, level: float) -> tuple[float, float]:
        """The two-sided `level` t interval of the effect (zero width when the noise is zero)."""
        if not math.isfinite(self.se) or self.se == 0:
            return self.effect, self.effect
        half = stats.t.ppf(0.5 + level / 2, self.df) * self.se
        return self.effect - half, self.effect + half


def compare(claimed: Sequence[float], other: Sequence[float], paired: bool) -> Test | None:
    """Paired t on the differences (`claimed`[i] pairs with `other`[i]) or Welch's t; None with
    fewer than two values on a side (one seed says nothing about the noise)."""
    a, b = np.asarray(claimed, dtype=float), np.asarray(other, dtype=float)
    if min(len(a), len(b)) < 2:
        return None
    if paired:
        d = a - b
        sd = float(d.std(ddof=1))
        if sd == 0:
            return Test("paired t", float(d.mean()), 0.0, len(d) - 1, 0.0 if d.mean() else 1.0, 0.0, len(d), True)
        result = stats.ttest_1samp(d, 0.0)
        return Test("paired t", float(d.mean()), sd / math.sqrt(len(d)), float(result.df), float(result.pvalue), sd,
                    len(d), True)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    pooled = math.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2))
    effect = float(a.mean() - b.mean())
    if va + vb == 0:
        return Test("Welch t", effect, 0.0, len(a) + len(b) - 2, 0.0 if effect else 1.0, 0.0, min(len(a), len(b)), False)
    result = stats.ttest_ind(a, b, equal_var=False)
    return Test("Welch t", effect, math.sqrt(va + vb), float(result.df), float(result.pvalue), pooled,
                min(len(a), len(b)), False)


@dataclass(frozen=True)
class Corrected:
    level: float  # confidence level of this test's interval: 1 − its Holm step's α
    p_holm: float
    rejected: bool


def holm(pvalues: Sequence[float], alpha: float = ALPHA) -> list[Corrected]:
    """Holm's step-down correction (statsmodels) and, per test, the level of its interval: a test
    Holm rejects at step j (p sorted ascending) gets 1 − α/(m − j + 1), every other test the level
    of the step where Holm stopped, 1 − α/(m − J) for J rejections. So an interval excludes 0
    exactly when its test is rejected, and no interval claims more than the family allows."""
    p = np.asarray(pvalues, dtype=float)
    if len(p) == 0:
        return []
    rejected, adjusted, _, _ = multipletests(p, alpha=alpha, method="holm")
    order = np.argsort(p, kind="stable")
    m, stopped = len(p), int(rejected.sum())
    levels = np.empty(m)
    for step, index in enumerate(order):
        levels[index] = 1 - alpha / (m - step) if rejected[index] else 1 - alpha / (m - stopped)
    return [Corrected(float(levels[i]), float(adjusted[i]), bool(rejected[i])) for i in range(m)]


def _power(effect: float, n: float, alpha: float, paired: bool) -> float:
    """Power of the two-sided t test at standardized effect d (Cohen 1988, ch. 2): one-sample on the
    differences when paired (ν = n − 1, λ = d·√n), else two-sample with n per arm (ν = 2n − 2,
    λ = d·√(n/2)); P(T > t*) + P(T < −t*) for T ~ noncentral t(ν, λ), t* = t_{1−α/2, ν}. This is
    statsmodels' TTestPower / TTestIndPower, written out because there the wrong-side term turns
    NaN once scipy's noncentral t underflows (few seeds, large λ), where it is ~0."""
    df, noncentrality = (n - 1, effect * math.sqrt(n)) if paired else (2 * n - 2, effect * math.sqrt(n / 2))
    critical = stats.t.ppf(1 - alpha / 2, df)
    wrong_side = stats.nct.cdf(-critical, df, noncentrality)
    return float(stats.nct.sf(critical, df, noncentrality) + (0.0 if math.isnan(wrong_side) else wrong_side))


def seeds_to_detect(distance: float, sd: float, alpha: float, paired: bool) -> float:
    """Seeds (pairs, or runs per arm) at which the same two-sided t test at level `alpha` tells a
    true effect `distance` away from a boundary with probability POWER; inf beyond MAX_SEEDS."""
    if not (math.isfinite(distance) and math.isfinite(sd)) or distance == 0:
        return math.inf
    if sd == 0:
        return 2.0
    effect = abs(distance) / sd
    if _power(effect, MAX_SEEDS, alpha, paired) < POWER:
        return math.inf
    if _power(effect, 2, alpha, paired) >= POWER:
        return 2.0
    n = math.ceil(optimize.brentq(lambda n: _power(effect, n, alpha, paired) - POWER, 2, MAX_SEEDS))
    while n > 2 and _power(effect, n - 1, alpha, paired) >= POWER:
        n -= 1
    while _power(effect, n, alpha, paired) < POWER:
        n += 1
    return float(n)


def minimum_detectable(n: int, sd: float, alpha: float, paired: bool) -> float:
    """The effect (in the values' units) the same test detects with probability POWER at n."""
    if n < 2 or not math.isfinite(sd):
        return math.nan
    if sd == 0:
        return 0.0
    d = optimize.brentq(lambda d: _power(d, n, alpha, paired) - POWER, 1e-9, 1e6)
    return float(d) * sd
