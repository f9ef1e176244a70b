"""From measurements to verdicts: the scorecard of every registered claim, as a table.

A claim measured over seeds (`Contrast` under a `Difference` rule) goes through the report's
statistics (`trickbench.stats`): `two_arm_test` of higher − lower (paired t where the arms share their
seeds, else Welch). The scorecard's tests form one family: Holm's correction keeps its family-wise
error at α = 0.05, and each interval is taken at its test's Holm level (`interval_alphas`), so that
an interval excludes 0 exactly when its test is rejected. Then, with the source's asserted size s
where it states one:

- **reproduced**: the interval lies above 0, and does not lie below s;
- **not reproduced**: the interval lies below 0 (the opposite holds), or below s (the stated size is
  excluded);
- **inconclusive**: anything else. It comes with the minimum effect the test detects at its n
  (80 % power) and the seeds at which the same test would decide it: the fewest seeds at which it
  has 80 % power to tell the observed effect from 0 or from s, whichever comes first (the farther
  one; `TwoArmTest.seeds_needed` at the test's Holm level).

A claim read off one measurement (`Reading` under a `Threshold` rule) is judged by its thresholds
and carries no interval: there is no seed-to-seed noise to estimate. It is outside the family.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd

from trickbench.claims import (INCONCLUSIVE, NOT_REPRODUCED, NOT_RUN, REPRODUCED, Claim, Contrast, Difference,
                               NotRun, Reading, Results, Threshold, Undecided)
from trickbench.claims.registered import load_all
from trickbench.stats import PAIRED, TwoArmTest, interval_alphas, two_arm_test

#: family-wise error rate of the scorecard's tests
ALPHA = 0.05

COLUMNS = ["claim", "family", "phenomenon", "statement", "source", "quantity", "needs", "verdict", "effect", "ci_low",
           "ci_high", "ci_level", "unit", "asserted", "test", "n", "sample", "p_value", "p_holm",
           "minimum_detectable_effect", "seeds_to_decide", "arms", "evidence", "note"]
EVIDENCE_COLUMNS = ["claim", "arm", "unit", "value"]


def judge(results: Results, claims: Mapping[str, Claim] | None = None,
          alpha: float = ALPHA) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scorecard, evidence): one row per claim (COLUMNS), and the values behind each verdict."""
    claims = load_all() if claims is None else claims
    measured = {name: c.measure(results) for name, c in claims.items()}
    tests = {}
    for name, measurement in measured.items():
        check_rule(claims[name], measurement)
        if isinstance(measurement, Contrast):
            keys = (measurement.units or tuple(range(len(measurement.higher)))) if measurement.paired else None
            tests[name] = two_arm_test(measurement.higher, measurement.lower, keys, keys)
    adjusted, alphas = interval_alphas([test.p_value for test in tests.values()], "holm", alpha)
    corrections = {name: (float(p), float(a)) for name, p, a in zip(tests, adjusted, alphas)}
    rows, evidence = [], []
    for name, claim in claims.items():
        measurement = measured[name]
        rows.append({**described(claim), **verdict_of(claim, measurement, tests.get(name), corrections.get(name))})
        evidence += evidence_rows(claim, measurement)
    return pd.DataFrame(rows, columns=COLUMNS), pd.DataFrame(evidence, columns=EVIDENCE_COLUMNS)


def check_rule(claim: Claim, measurement: Any) -> None:
    """A claim's measurement must suit its rule: a contrast needs a test, a reading thresholds."""
    if isinstance(measurement, Contrast) and not isinstance(claim.rule, Difference) or \
            isinstance(measurement, Reading) and not isinstance(claim.rule, Threshold):
        raise TypeError(f"claim '{claim.name}': a {type(measurement).__name__} cannot be judged by a "
                        f"{type(claim.rule).__name__} rule")


def described(claim: Claim) -> dict[str, Any]:
    rule = claim.rule
    return {"claim": claim.name, "family": claim.family or "", "phenomenon": claim.phenomenon or "",
            "statement": claim.statement, "source": claim.source, "quantity": claim.quantity, "needs": claim.needs,
            "unit": rule.unit, "asserted": getattr(rule, "asserted", None), "evidence": ";".join(claim.evidence)}


EMPTY = {"effect": math.nan, "ci_low": math.nan, "ci_high": math.nan, "ci_level": math.nan, "test": "", "n": math.nan,
         "sample": "", "p_value": math.nan, "p_holm": math.nan, "minimum_detectable_effect": math.nan,
         "seeds_to_decide": math.nan, "arms": "", "note": ""}


def verdict_of(claim: Claim, measurement: Any, test: TwoArmTest | None,
               correction: tuple[float, float] | None) -> dict[str, Any]:
    """The row of one claim; `correction` is (Holm-adjusted p, the α of its interval)."""
    if isinstance(measurement, NotRun):
        return {**EMPTY, "verdict": NOT_RUN, "note": measurement.missing}
    if isinstance(measurement, Undecided):
        return {**EMPTY, "verdict": INCONCLUSIVE, "note": measurement.reason}
    if isinstance(measurement, Reading):
        return {**EMPTY, "verdict": claim.rule.verdict(measurement.value), "effect": measurement.value,
                "test": "threshold on one measurement", "sample": measurement.sample, "note": "; ".join(measurement.notes)}
    arms = f"{measurement.arms[0]} vs {measurement.arms[1]}"
    sample = (f"{len(measurement.higher)} seeds, paired" if measurement.paired
              else f"{len(measurement.higher)} + {len(measurement.lower)} runs")
    notes = "; ".join(measurement.notes)
    if not test.test:
        return {**EMPTY, "verdict": INCONCLUSIVE, "sample": sample, "arms": arms,
                "note": "; ".join(filter(None, ["fewer than 2 seeds on a side: no interval; set design.seeds to 2 or "
                                                "more", notes]))}
    row = tested(claim.rule, test, *correction)
    return {**EMPTY, **row, "sample": sample, "arms": arms, "note": "; ".join(filter(None, [row.get("note"), notes]))}


def tested(rule: Difference, test: TwoArmTest, p_holm: float, alpha: float) -> dict[str, Any]:
    """The verdict of one test with its interval at the corrected `alpha` (module docstring), in
    the rule's units."""
    low, high = test.interval(alpha)
    boundary = rule.boundary()
    if low > 0 and (boundary is None or high >= boundary):
        verdict = REPRODUCED
    elif high < 0 or (boundary is not None and high < boundary):
        verdict = NOT_REPRODUCED
    else:
        verdict = INCONCLUSIVE
    shown = np.exp if rule.ratio else (lambda x: x)
    n = test.n if test.test == PAIRED else min(test.n, test.n_reference)
    row = {"verdict": verdict, "effect": float(shown(test.diff)), "ci_low": float(shown(low)),
           "ci_high": float(shown(high)), "ci_level": 1 - alpha, "test": test.test, "n": n,
           "p_value": test.p_value, "p_holm": p_holm}
    if verdict == NOT_REPRODUCED and low > 0:
        row["note"] = (f"in the claimed direction, but the interval excludes the size the source states "
                       f"({rule.asserted:g}{'×' if rule.ratio else ' ' + rule.unit})")
    if verdict == INCONCLUSIVE:
        detectable = test.minimum_detectable_effect(alpha)
        row["minimum_detectable_effect"] = float(shown(detectable)) if math.isfinite(detectable) else math.nan
        boundaries = [0.0] + ([boundary] if boundary is not None else [])
        row["seeds_to_decide"] = min(test.seeds_needed(alpha, boundary=b) for b in boundaries)
    return row


def evidence_rows(claim: Claim, measurement: Any) -> list[dict[str, Any]]:
    """The values a verdict rests on: per arm and seed (epochs to reach, for a speed-up), or the
    numbers behind a reading."""
    if isinstance(measurement, Reading):
        return [{"claim": claim.name, "arm": "", "unit": key, "value": value} for key, value in measurement.values.items()] \
            + [{"claim": claim.name, "arm": "", "unit": "measured", "value": measurement.value}]
    if not isinstance(measurement, Contrast):
        return []
    shown = np.exp if getattr(claim.rule, "ratio", False) else (lambda x: x)
    rows = []
    for arm, values in zip(measurement.arms, (measurement.higher, measurement.lower)):
        units = measurement.units if measurement.paired else tuple(f"run {i + 1}" for i in range(len(values)))
        rows += [{"claim": claim.name, "arm": arm, "unit": unit, "value": float(shown(v))} for unit, v in zip(units, values)]
    return rows
