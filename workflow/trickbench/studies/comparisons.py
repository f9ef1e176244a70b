"""The comparisons of studies whose arms share seeds, through the report's one statistics.

The early-stopping study keeps several weights of each seed's run (the last epoch, the restored
weights, a run planned for the stop epoch); the checkpoint-averaging study scores a plain run, its
EMA and an SWA run of the same seed. Such arms are compared among themselves, not with one
reference level, so their differences go through `trickbench.stats.pooled_compare_contrasts`: where
the arms ran the same seeds, one linear model over every compared cell (an arm within a group) with
seeds as blocks, each difference a contrast of that fit on its residual df; where they did not, or the
cells' residual variances differ (Brown–Forsythe), the per-comparison test (paired t on the per-seed
differences, Welch where the arms' seeds differ), and `test` and `why` say which and why. Holm-adjusted
p-values across the family — every comparison one figure draws — intervals at Holm's per-comparison
level (they exclude 0 exactly when Holm rejects), and the minimum detectable effect and seeds needed
of the same test at the same level. Groups measured in different units (a `quantity` per group, e.g.
accuracy and NLL) cannot share one residual variance: each group gets its own model and its own
Holm family at α / groups (Bonferroni across the groups), so the figure's comparisons together still
hold their 5 % error rate. Each row adds the label its figure prints ("a − b") and its finding,
worded by `trickbench.stats.difference_sentence`: "no detectable difference with n seeds (minimum
detectable effect X)" wherever the corrected interval includes 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pandas as pd

from trickbench.stats import CORRECTIONS, difference_sentence, pooled_compare_contrasts


@dataclass(frozen=True)
class Quantity:
    """How a finding names the compared value: what it is, the unit of a difference and of a mean,
    the verbs for a higher and a lower value, and the digits shown."""

    name: str
    unit: str
    value_unit: str
    verbs: tuple[str, str]
    digits: int


ACCURACY = Quantity("test accuracy", "points", " %", ("beats", "trails"), 1)
NLL = Quantity("test NLL", "nats", " nats", ("is worse than", "is better than"), 2)
#: the figure's error rate: 95 % intervals, split across groups measured in different units
LEVEL_MISS = 0.05


def contrast_table(frame: pd.DataFrame, arm: str, value: str, contrasts: Sequence[tuple[str, str]], *,
                   within: str | None = None, quantity: Quantity | Mapping[Any, Quantity] = ACCURACY,
                   name_group: bool = False) -> pd.DataFrame:
    """Each (a, b) of `contrasts` — mean(a) − mean(b) of `value` between two `arm`s, blocked or
    paired on `seed` — inside each group of `within`, as one family (`stats.pooled_compare_contrasts`'
    columns), with `comparison` ("a − b") and `finding`.
    `quantity` may differ per group (e.g. per metric: then one model and one Holm family per group at
    α / groups, module docstring); `name_group` puts the group in the finding's subject
    ("dropout(p=0.2): restored …")."""
    if within and isinstance(quantity, Mapping):
        groups = list(frame.groupby(within, sort=False))
        level = 1 - LEVEL_MISS / max(1, len(groups))
        parts = [pooled_compare_contrasts(part, arm, value, contrasts, within=within, level=level) for _, part in groups]
        table = pd.concat(parts, ignore_index=True) if parts else pooled_compare_contrasts(frame, arm, value, contrasts,
                                                                                           within=within)
    else:
        table = pooled_compare_contrasts(frame, arm, value, contrasts, within=within)
    table.insert(1 if within else 0, "comparison", [f"{a} − {b}" for a, b in zip(table[arm], table["reference"])])
    table["finding"] = [_finding(row, arm, within, quantity, name_group) for row in table.to_dict("records")]
    return table


def _finding(row: Mapping[str, Any], arm: str, within: str | None, quantity: Quantity | Mapping[Any, Quantity],
             name_group: bool) -> str:
    words = quantity[row[within]] if isinstance(quantity, Mapping) else quantity
    subject = f"{row[within]}: {row[arm]}" if within and name_group else str(row[arm])
    return difference_sentence(row, subject, str(row["reference"]), quantity=words.name, unit=words.unit,
                               value_unit=words.value_unit, verbs=words.verbs, digits=words.digits)


def family_note(table: pd.DataFrame, within: str | None = None) -> str:
    """What a figure's title says of its comparisons: 'paired t, 95 % intervals Holm-corrected over
    12 comparisons (each at 99.6 %)' — the test(s), the correction, the family and the levels.
    `within`: the groups that were separate families (groups in different units, `contrast_table`)."""
    tested = table[table["test"].fillna("").astype(bool)] if len(table) else table
    if tested.empty:
        return "no comparison with two or more seeds a side: nothing tested"
    tests = " or ".join(sorted(set(tested["test"])))
    low, high = 100 * tested["ci_level"].min(), 100 * tested["ci_level"].max()
    levels = f"{low:.2f} %" if round(low, 2) == round(high, 2) else f"{low:.2f}–{high:.2f} %"
    correction = CORRECTIONS[tested["correction"].iloc[0]][1]
    family = int(tested["family_size"].max())
    if within and tested[within].nunique() > 1:
        groups = tested[within].nunique()
        return (f"{tests}, 95 % intervals {correction}-corrected over the {family} comparisons of each {within} and "
                f"Bonferroni-corrected across the {groups} (each at {levels})")
    return f"{tests}, 95 % intervals {correction}-corrected over {family} comparisons (each at {levels})"
