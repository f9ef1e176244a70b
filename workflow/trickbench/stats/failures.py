"""Which runs failed to train, and which levels count as failed.

A run failed when it did not end `ok` (diverged: a non-finite loss; exploded: the loss ran past
its bound) or when it ended but learned nothing: its validation accuracy is not above chance. Its
accuracy is then a number (a diverged net's NaN logits argmax to class 0) but not a result of the
technique, so it never enters a mean, an effect size, a ranking or the best configuration; the
report names it instead.

Chance is tested on validation, never on test: the validation accuracy of a run is k correct of
n validation images; under "no learning" k ~ Binomial(n, 1/classes) (at best: a constant
prediction scores at most its class's share, ≈ 1/classes on a stratified split). The one-sided
exact binomial test (scipy `binomtest`, alternative "greater") at α = 0.05 rejects chance from
a threshold k*; a run below k*/n is *at chance*. On 466 validation images of 10 classes k*/n is
12.4 %.

A level is failed when more than half of its runs failed: its surviving seeds are then a minority
whose mean would be a survivor's number. A level with fewer failures is compared on its trained
runs, and its failures are counted beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats

AT_CHANCE = "at chance"
NO_SCORE = "no score"
#: a level is failed when more than this share of its runs failed
FAILED_SHARE = 0.5


@dataclass(frozen=True)
class ChanceTest:
    """Whether a validation accuracy is above chance: one-sided exact binomial test."""

    classes: int
    n_val: int
    alpha: float = 0.05

    @property
    def chance(self) -> float:
        return 1 / self.classes

    @cached_property
    def correct_needed(self) -> int:
        """The fewest correct images k the test finds above chance: P(K ≥ k) ≤ α under chance.
        (`binom.isf(α)` is the smallest j with P(K > j) ≤ α, so k = j + 1.)"""
        return int(stats.binom.isf(self.alpha, self.n_val, self.chance)) + 1

    @property
    def threshold(self) -> float:
        """`correct_needed` as an accuracy."""
        return self.correct_needed / self.n_val

    def p_value(self, accuracy: float) -> float:
        correct = int(round(accuracy * self.n_val))
        return float(stats.binomtest(correct, self.n_val, self.chance, alternative="greater").pvalue)

    def at_chance(self, accuracy: np.ndarray | float) -> np.ndarray | bool:
        """True where the accuracy (a fraction of the n_val images) is not above chance."""
        return np.round(np.asarray(accuracy, dtype=float) * self.n_val) < self.correct_needed

    def describe(self) -> str:
        return (f"validation accuracy below {100 * self.threshold:.1f} %: not above the chance level of "
                f"{100 * self.chance:.0f} % of {self.classes} classes by a one-sided exact binomial test on {self.n_val} "
                f"validation images, α = {self.alpha:g}")


def failure_reasons(runs: pd.DataFrame, select_on: str, chance: ChanceTest | None) -> pd.Series:
    """Per run: "" when it trained, else why not — its status (diverged, exploded, …), "at chance"
    (ok, but its `select_on` validation accuracy is not above chance), or "no score" (no finite
    `select_on`). Without a chance test (no validation split) only status and scores count."""
    status = runs["status"].astype(str) if "status" in runs else pd.Series("ok", index=runs.index)
    score = pd.to_numeric(runs[select_on], errors="coerce") if select_on in runs else pd.Series(math.nan, index=runs.index)
    reasons = pd.Series("", index=runs.index, dtype=object)
    reasons[~np.isfinite(score)] = NO_SCORE
    if chance is not None:
        reasons[np.isfinite(score) & chance.at_chance(score.fillna(0).to_numpy())] = AT_CHANCE
    reasons[status != "ok"] = status[status != "ok"]
    return reasons


def count_reasons(reasons: pd.Series) -> str:
    """'2 at chance, 1 diverged' (empty when nothing failed)."""
    counts = reasons[reasons != ""].value_counts()
    return ", ".join(f"{n} {reason}" for reason, n in counts.items())


def level_failed(failed: int, runs: int) -> bool:
    return runs > 0 and failed > FAILED_SHARE * runs
