"""From measurements to verdicts: the scorecard of every registered claim, as a table.

First the conditions: a claim whose source's conditions the setup does not meet
(`claims.conditions`) is **outside this setup**, whatever its numbers; its effect is shown but it
is not tested, and it is not in the family of tests.

A claim measured over seeds (`Contrast` under a `Difference` rule) goes through the report's
statistics (`trickbench.stats`). Where its arms are cells of the grid (`Contrast.cells`: two levels
of one factor, with everything else equal), higher − lower is a contrast of one linear model over
every compared cell that shares the arms' seeds, seeds as blocks (`stats.pooled_difference`: OLS
`value ~ C(cell) + C(seed)` on the claim's own quantity per run), whose residual variance every
claim on that quantity shares; its interval, its size test and its seeds needed all come from that
model's standard error and residual df. Where the model does not apply — the cells did not run the
same seeds, their residual variances differ (Brown–Forsythe p < 0.05), no cell but the arms' two has the
quantity on every seed, or the arms are not cells of the grid (a study's runs, levels chosen on the
runs) — the test is `two_arm_test` of the two arms (paired t where they share their seeds, else
Welch). The row names the test (`test`) and why (`why`). The scorecard's tests of direction
(against 0) form one family: Holm's
correction keeps its family-wise error at α = 0.05, and each interval is taken at its test's Holm
level (`interval_alphas`), so that an interval excludes 0 exactly when its test is rejected. Each
claim gets two answers:

- its **direction**: the interval lies above 0, below 0, or spans it;
- its **size**, where the source states one: a one-sided t test of the effect against the deciding
  boundary (`Difference.boundary`: the stated size, or the smallest effect that still counts as it),
  whose p-value is shown; at the claim's Holm level it rejects exactly when the interval lies
  beyond the boundary.

The verdict is decided by one boundary — the stated size where there is one, else 0: **reproduced**
when the interval lies above it, **not reproduced** when it lies below it, **inconclusive** when it
spans it. A single boundary is what keeps a verdict from flipping: for a fixed true effect, more
seeds only narrow the interval around it, so it can leave the boundary on one side only (a rule
that also asks the interval "not to exclude" the size would call a true 3× a reproduced 6× at 3
seeds and not reproduced at 16). An inconclusive verdict comes with the minimum effect the test
detects at its n (80 % power) and the seeds at which it would tell the observed effect from that
boundary (`TwoArmTest.seeds_needed`).

A claim that states a lower bound (`Contrast.at_least`: the slower arm capped by the budget) can be
reproduced, but not refuted by its size. A claim about overfitting carries the components of its
gap (`Contrast.components`): when the one it guards (validation accuracy) falls beyond the noise
floor — its interval lies below 0 — the gap narrowed by underfitting, and the claim is not
reproduced whatever the gap did.

A claim read off one measured quantity (`Reading` under a `Threshold` rule: the initialization
statistics, the sanity checks, mode connectivity, batch norm's learning-rate ratio) reads it on each
of n seeds (mode connectivity: n pairs of seeds) and is judged by the t interval of its mean at
1 − α (`seed_interval`; a ratio's on the log scale, so its centre is the geometric mean) against
its band: **reproduced** when the interval lies inside the band, **not reproduced** when it lies
outside it (in the refuted region, where the band names one), **inconclusive** when it straddles
an edge. With fewer than 3 seeds (`MIN_SEEDS`) it is inconclusive, "n seeds < 3" ("n pairs < 3"),
whatever the values. It is outside the family of tests: a band
is not a test against 0.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd

from scipy import stats as scipy_stats

from trickbench.claims import (INCONCLUSIVE, MIN_SEEDS, NOT_REPRODUCED, NOT_RUN, OUTSIDE, REPRODUCED, Claim, Contrast,
                               Difference, NotRun, Reading, Results, Threshold, Undecided)
from trickbench.claims.conditions import CLAIMS_PRESET, outside_note, setup_facts, unmet_conditions
from trickbench.claims.registered import load_all
from trickbench.stats import PAIRED, CellContrast, TwoArmTest, interval_alphas, pooled_difference, two_arm_test

#: family-wise error rate of the scorecard's tests
ALPHA = 0.05

COLUMNS = ["claim", "family", "phenomenon", "statement", "source", "lecture", "conditions", "quantity", "needs",
           "verdict", "direction", "effect", "at_least", "ci_low", "ci_high", "ci_level", "unit", "asserted", "boundary",
           "p_size", "band", "test", "why", "n", "sample", "p_value", "p_holm", "minimum_detectable_effect", "seeds_to_decide",
           "arms", "components", "evidence", "preset", "note"]
EVIDENCE_COLUMNS = ["claim", "arm", "unit", "value"]


def judge(results: Results, claims: Mapping[str, Claim] | None = None,
          alpha: float = ALPHA) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scorecard, evidence): one row per claim (COLUMNS), and the values behind each verdict. The
    conditions are checked on `results.config` (unchecked without one)."""
    claims = load_all() if claims is None else claims
    facts = setup_facts(results.config, results)
    measured = {name: c.measure(results) for name, c in claims.items()}
    unmet = {name: unmet_conditions(c.conditions, facts) for name, c in claims.items()}
    tests = {}
    for name, measurement in measured.items():
        check_rule(claims[name], measurement)
        if isinstance(measurement, Contrast) and not unmet[name]:
            tests[name] = test_of(measurement)
    adjusted, alphas = interval_alphas([test.p_value for test, _ in tests.values()], "holm", alpha)
    corrections = {name: (float(p), float(a)) for name, p, a in zip(tests, adjusted, alphas)}
    rows, evidence = [], []
    for name, claim in claims.items():
        measurement = measured[name]
        if unmet[name] and not isinstance(measurement, NotRun):
            row = outside(claim, measurement, outside_note(unmet[name], facts), alpha)
        else:
            row = verdict_of(claim, measurement, tests.get(name), corrections.get(name), alpha)
        rows.append({**described(claim), **row})
        evidence += evidence_rows(claim, measurement)
    return pd.DataFrame(rows, columns=COLUMNS), pd.DataFrame(evidence, columns=EVIDENCE_COLUMNS)


#: why a contrast without `cells` is tested on its two arms
NOT_CELLS = "the arms are not two cells of the grid (a study's runs, or levels chosen on these runs): no model over cells"


def test_of(measurement: Contrast) -> tuple[TwoArmTest | CellContrast, str]:
    """(the test of higher − lower, why that test): the pooled model's contrast where it applies,
    else the two-arm test (module docstring)."""
    why = NOT_CELLS
    if measurement.cells is not None:
        pooled, why = pooled_difference(measurement.cells)
        if pooled is not None:
            return pooled, why
    keys = (measurement.units or tuple(range(len(measurement.higher)))) if measurement.paired else None
    return two_arm_test(measurement.higher, measurement.lower, keys, keys), why


def outside(claim: Claim, measurement: Any, note: str, alpha: float) -> dict[str, Any]:
    """The row of a claim whose conditions are unmet: what was measured, shown (a contrast with its
    plain 1 − alpha interval), but no verdict on the claim."""
    row = {**EMPTY, "verdict": OUTSIDE, "note": note}
    if isinstance(measurement, Reading):
        return {**row, "effect": measurement.value, "at_least": measurement.at_least, "sample": measurement.sample,
                "n": len(measurement.seeds), "test": READING_TEST}
    if isinstance(measurement, Contrast):
        test, why = test_of(measurement)
        if test.test:
            shown = np.exp if claim.rule.ratio else (lambda x: x)
            low, high = test.interval(alpha)
            row.update(effect=float(shown(test.diff)), ci_low=float(shown(low)), ci_high=float(shown(high)),
                       ci_level=1 - alpha, test=test.test, why=why, p_value=test.p_value, at_least=measurement.at_least,
                       n=test.n if test.test == PAIRED else min(test.n, test.n_reference))
        row["sample"] = sample_of(measurement)
        row["arms"] = f"{measurement.arms[0]} vs {measurement.arms[1]}"
    return row


def sample_of(measurement: Contrast) -> str:
    return (f"{len(measurement.higher)} seeds, paired" if measurement.paired
            else f"{len(measurement.higher)} + {len(measurement.lower)} runs")


def check_rule(claim: Claim, measurement: Any) -> None:
    """A claim's measurement must suit its rule: a contrast needs a test, a reading thresholds."""
    if isinstance(measurement, Contrast) and not isinstance(claim.rule, Difference) or \
            isinstance(measurement, Reading) and not isinstance(claim.rule, Threshold):
        raise TypeError(f"claim '{claim.name}': a {type(measurement).__name__} cannot be judged by a "
                        f"{type(claim.rule).__name__} rule")


def described(claim: Claim) -> dict[str, Any]:
    rule = claim.rule
    asserted = getattr(rule, "asserted", None)
    at_least = getattr(rule, "at_least", None)
    return {"claim": claim.name, "family": claim.family or "", "phenomenon": claim.phenomenon or "",
            "statement": claim.statement, "source": claim.source, "lecture": claim.lecture,
            "conditions": "; ".join(c.stated for c in claim.conditions), "quantity": claim.quantity,
            "needs": claim.needs, "unit": rule.unit, "asserted": math.nan if asserted is None else asserted,
            "boundary": at_least if at_least is not None else math.nan if asserted is None else asserted,
            "band": rule.band() if isinstance(rule, Threshold) else "", "evidence": ";".join(claim.evidence),
            "preset": preset_of(claim)}


def preset_of(claim: Claim) -> str:
    """The preset that runs the claim where its conditions hold: the one its conditions name, else
    the claims preset."""
    return claim.conditions[0].preset if claim.conditions else CLAIMS_PRESET


EMPTY = {"direction": "", "effect": math.nan, "at_least": False, "ci_low": math.nan, "ci_high": math.nan,
         "ci_level": math.nan, "p_size": math.nan, "test": "", "why": "", "n": math.nan, "sample": "", "p_value": math.nan,
         "p_holm": math.nan, "minimum_detectable_effect": math.nan, "seeds_to_decide": math.nan, "arms": "",
         "components": "", "note": ""}


def verdict_of(claim: Claim, measurement: Any, tested_as: tuple[TwoArmTest | CellContrast, str] | None,
               correction: tuple[float, float] | None, alpha: float = ALPHA) -> dict[str, Any]:
    """The row of one claim; `tested_as` is `test_of`'s (test, why), `correction` (Holm-adjusted p,
    the α of its interval); `alpha`: the level of a reading's interval."""
    if isinstance(measurement, NotRun):
        return {**EMPTY, "verdict": NOT_RUN, "note": measurement.missing}
    if isinstance(measurement, Undecided):
        return {**EMPTY, "verdict": INCONCLUSIVE, "note": measurement.reason}
    if isinstance(measurement, Reading):
        return {**EMPTY, **banded(claim.rule, measurement, alpha)}
    test, why = tested_as
    arms = f"{measurement.arms[0]} vs {measurement.arms[1]}"
    sample = sample_of(measurement)
    notes = "; ".join(measurement.notes)
    if not test.test:
        return {**EMPTY, "verdict": INCONCLUSIVE, "sample": sample, "arms": arms,
                "note": "; ".join(filter(None, ["fewer than 2 seeds on a side: no interval; set design.seeds to 2 or "
                                                "more", notes]))}
    row = tested(claim.rule, test, *correction, at_least=measurement.at_least)
    if claim.rule.boundary() is not None:
        row["p_size"] = size_p_value(measurement, claim.rule.boundary(), test)
    if measurement.components:
        row.update(guarded(measurement, row, correction[1]))
    return {**EMPTY, **row, "why": why, "sample": sample, "arms": arms,
            "note": "; ".join(filter(None, [row.get("note"), notes]))}


READING_TEST = "t interval of the mean over seeds, against the band"


def seed_interval(values, ratio: bool, alpha: float = ALPHA) -> tuple[float, float]:
    """(low, high): the two-sided t interval at 1 − alpha (n − 1 degrees of freedom) of the mean of
    the per-seed values; for a ratio taken on the log scale and shown as ratios, so it is centred on
    the geometric mean. Values that do not vary give the interval [mean, mean]."""
    values = np.asarray(values, float)
    values = np.log(values) if ratio else values
    mean, sem = float(values.mean()), float(scipy_stats.sem(values))
    low, high = (mean, mean) if sem == 0 else scipy_stats.t.interval(1 - alpha, len(values) - 1, loc=mean, scale=sem)
    shown = np.exp if ratio else float
    return float(shown(low)), float(shown(high))


def banded(rule: Threshold, reading: Reading, alpha: float) -> dict[str, Any]:
    """The verdict of a reading (module docstring): its seeds' t interval against the rule's band;
    inconclusive with fewer than MIN_SEEDS seeds."""
    n = len(reading.seeds)
    row = {"effect": reading.value, "at_least": reading.at_least, "test": READING_TEST, "n": n,
           "sample": reading.sample, "note": "; ".join(reading.notes)}
    if n < MIN_SEEDS:
        return {**row, "verdict": INCONCLUSIVE, "note": "; ".join(filter(None, [
            f"n {reading.unit}s < {MIN_SEEDS} (n = {n}): no interval to judge against the band", reading.more_seeds,
            row["note"]]))}
    values = np.asarray(list(reading.seeds.values()), float)
    if not np.isfinite(values).all() or rule.ratio and (values <= 0).any():
        return {**row, "verdict": INCONCLUSIVE, "note": "; ".join(filter(None, [
            f"a {reading.unit}'s value is not a finite" + (" positive ratio" if rule.ratio else " number"), row["note"]]))}
    low, high = np.clip(seed_interval(values, rule.ratio, alpha), *rule.limits)
    return {**row, "verdict": rule.verdict(low, high, reading.at_least), "ci_low": float(low),
            "ci_high": float(high), "ci_level": 1 - alpha}


def tested(rule: Difference, test: TwoArmTest | CellContrast, p_holm: float, alpha: float, at_least: bool = False) -> dict[str, Any]:
    """The verdict of one test with its interval at the corrected `alpha` (module docstring), in
    the rule's units: decided by one boundary, the stated size's (`rule.boundary()`) or 0."""
    low, high = test.interval(alpha)
    boundary = rule.boundary()
    decide = 0.0 if boundary is None else boundary
    if low > decide:
        verdict = REPRODUCED
    elif high < decide and not at_least:  # a lower bound refutes nothing: the true effect may be larger
        verdict = NOT_REPRODUCED
    else:
        verdict = INCONCLUSIVE
    shown = np.exp if rule.ratio else (lambda x: x)
    n = test.n if test.test == PAIRED else min(test.n, test.n_reference)
    direction = "above 0" if low > 0 else "below 0" if high < 0 else "spans 0"
    row = {"verdict": verdict, "direction": direction, "effect": float(shown(test.diff)), "at_least": at_least,
           "ci_low": float(shown(low)), "ci_high": float(shown(high)), "ci_level": 1 - alpha, "test": test.test,
           "n": n, "p_value": test.p_value, "p_holm": p_holm}
    size = f"{rule.asserted:g}{'×' if rule.ratio else ' ' + rule.unit}" if boundary is not None else ""
    if verdict == NOT_REPRODUCED and high >= 0:
        smaller = f"smaller than the size the source states ({size}; the interval lies below {float(shown(boundary)):g})"
        row["note"] = (f"in the claimed direction ({direction}), but {smaller}" if low > 0
                       else f"{smaller}; its direction is not established (the interval spans 0)")
    if verdict == INCONCLUSIVE:
        detectable = test.minimum_detectable_effect(alpha)
        row["minimum_detectable_effect"] = float(shown(detectable)) if math.isfinite(detectable) else math.nan
        row["seeds_to_decide"] = test.seeds_needed(alpha, boundary=decide)
        if at_least and high < decide:
            row["note"] = (f"the slower arm is capped by the budget, so the effect is a lower bound: it cannot "
                           f"refute {'the stated ' + size if size else 'the claim'}")
    return row


def size_p_value(measurement: Contrast, boundary: float, test: TwoArmTest | CellContrast | None = None) -> float:
    """One-sided t test that the effect exceeds `boundary`: the pooled model's contrast against it
    where the claim was tested on the model (`test`), so the size, the direction and the seeds
    needed share one standard error and df; else on the two arms (paired: on the differences; else
    Welch with the boundary added to the lower arm)."""
    if isinstance(test, CellContrast):
        return test.p_above(boundary)
    higher, lower = np.asarray(measurement.higher, float), np.asarray(measurement.lower, float)
    if measurement.paired:
        return float(scipy_stats.ttest_1samp(higher - lower, boundary, alternative="greater").pvalue)
    return float(scipy_stats.ttest_ind(higher, lower + boundary, equal_var=False, alternative="greater").pvalue)


def guarded(measurement: Contrast, row: dict[str, Any], alpha: float) -> dict[str, Any]:
    """The components of the effect with their intervals at the claim's level; the verdict turns to
    not reproduced when the guarded one (validation accuracy) falls beyond the noise floor."""
    parts, fell = [], False
    for name, part in measurement.components:
        test, _ = test_of(part)
        low, high = test.interval(alpha)
        parts.append(f"{name} {part.arms[0]} − {part.arms[1]}: {test.diff:+.1f} [{low:.1f}, {high:.1f}] points")
        fell |= name == measurement.guard and high < 0
    update = {"components": "; ".join(parts)}
    if fell and row["verdict"] == REPRODUCED:
        update["verdict"] = NOT_REPRODUCED
        update["note"] = (f"the gap narrowed by underfitting: {measurement.guard} fell beyond the noise floor (its "
                          "interval lies below 0), so the regularizer cost validation accuracy instead of saving it")
    return update


def evidence_rows(claim: Claim, measurement: Any) -> list[dict[str, Any]]:
    """The values a verdict rests on: per arm and seed (epochs to reach, for a speed-up), or the
    numbers behind a reading."""
    if isinstance(measurement, Reading):
        return [{"claim": claim.name, "arm": "", "unit": key, "value": value} for key, value in measurement.values.items()] \
            + [{"claim": claim.name, "arm": "", "unit": f"{measurement.unit} {seed}", "value": value}
               for seed, value in measurement.seeds.items()] \
            + [{"claim": claim.name, "arm": "", "unit": "measured", "value": measurement.value}]
    if not isinstance(measurement, Contrast):
        return []
    shown = np.exp if getattr(claim.rule, "ratio", False) else (lambda x: x)
    rows = []
    for prefix, contrast in (("", measurement), *((f"{name}: ", part) for name, part in measurement.components)):
        for arm, values in zip(contrast.arms, (contrast.higher, contrast.lower)):
            units = contrast.units if contrast.paired else tuple(f"run {i + 1}" for i in range(len(values)))
            rows += [{"claim": claim.name, "arm": prefix + arm, "unit": unit, "value": float(shown(v) if not prefix else v)}
                     for unit, v in zip(units, values)]
    return rows
