"""The comparisons of studies whose arms share seeds, through the report's one statistics.

The early-stopping study keeps several weights of each seed's run (the last epoch, the restored
weights, a run planned for the stop epoch); the checkpoint-averaging study scores a plain run, its
EMA and an SWA run of the same seed. Such arms are compared among themselves, not with one
reference level, so their differences go through `trickbench.stats.compare_contrasts`: paired t on the
per-seed differences (Welch where the arms' seeds differ), Holm-adjusted p-values across the
family — every comparison one figure draws — intervals at Holm's per-comparison level (they
exclude 0 exactly when Holm rejects), and the minimum detectable effect and seeds needed of the
same test at the same level. Each row adds the label its figure prints ("a − b") and its finding,
worded by `trickbench.stats.difference_sentence`: "no detectable difference with n seeds (minimum
detectable effect X)" wherever the corrected interval includes 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pandas as pd

from trickbench.stats import CORRECTIONS, compare_contrasts, difference_sentence


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


def contrast_table(frame: pd.DataFrame, arm: str, value: str, contrasts: Sequence[tuple[str, str]], *,
                   within: str | None = None, quantity: Quantity | Mapping[Any, Quantity] = ACCURACY,
                   name_group: bool = False) -> pd.DataFrame:
    """Each (a, b) of `contrasts` — mean(a) − mean(b) of `value` between two `arm`s, paired on
    `seed` — inside each group of `within`, as one family (`stats.compare_contrasts`' columns),
    with `comparison` ("a − b") and `finding`. `quantity` may differ per group (e.g. per metric);
    `name_group` puts the group in the finding's subject ("dropout(p=0.2): restored …")."""
    table = compare_contrasts(frame, arm, value, contrasts, within=within)
    table.insert(1 if within else 0, "comparison", [f"{a} − {b}" for a, b in zip(table[arm], table["reference"])])
    table["finding"] = [_finding(row, arm, within, quantity, name_group) for row in table.to_dict("records")]
    return table


def _finding(row: Mapping[str, Any], arm: str, within: str | None, quantity: Quantity | Mapping[Any, Quantity],
             name_group: bool) -> str:
    words = quantity[row[within]] if isinstance(quantity, Mapping) else quantity
    subject = f"{row[within]}: {row[arm]}" if within and name_group else str(row[arm])
    return difference_sentence(row, subject, str(row["reference"]), quantity=words.name, unit=words.unit,
                               value_unit=words.value_unit, verbs=words.verbs, digits=words.digits)


def family_note(table: pd.DataFrame) -> str:
    """What a figure's title says of its comparisons: 'paired t, 95 % intervals Holm-corrected over
    12 comparisons (each at 99.6 %)' — the test(s), the correction, the family and the levels."""
    tested = table[table["test"].fillna("").astype(bool)] if len(table) else table
    if tested.empty:
        return "no comparison with two or more seeds a side: nothing tested"
    tests = " or ".join(sorted(set(tested["test"])))
    low, high = 100 * tested["ci_level"].min(), 100 * tested["ci_level"].max()
    levels = f"{low:.2f} %" if round(low, 2) == round(high, 2) else f"{low:.2f}–{high:.2f} %"
    correction = CORRECTIONS[tested["correction"].iloc[0]][1]
    return (f"{tests}, 95 % intervals {correction}-corrected over {int(tested['family_size'].max())} comparisons "
            f"(each at {levels})")
