"""Whether two levels change order between two conditions, tested directly.

Two levels a and b "swap" between conditions (fixed rates vs tuned, equal epochs vs an equal
budget) when a − b changes sign. Two separate intervals — a − b detectably positive under one
condition, detectably negative under the other — are the wrong test: each has its own noise and
neither says whether the *change* exceeds it. The direct test is of the difference of differences
per seed, [(a − b) under the condition] − [(a − b) under the reference condition], over the seeds
on which all four runs exist: a paired t of the two per-seed differences (`compare_to_reference`,
which is scipy's `ttest_rel`), every pair of the call one family, Holm-corrected, with intervals
consistent with the correction (`compare.interval_alphas`). A rank change is stated only where
the order of the means flips *and* this interval excludes 0.
"""

from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from trickbench.stats.compare import COLUMNS, compare_to_reference


def order_change_tests(frame: pd.DataFrame, by: str, value: str, pairs: Sequence[tuple[Any, Any]], condition: str,
                       reference_condition: Any, *, pair_on: str = "seed", correction: str = "holm",
                       level: float = 0.95) -> pd.DataFrame:
    """Per pair (a, b) of levels of `by` and per other value of `condition`: `diff` = mean over
    seeds of (a − b) under that condition minus (a − b) under `reference_condition`, with the
    paired t's columns of `compare_to_reference` (n = seeds with all four runs); columns `a`,
    `b`, `condition`, then those. One family: every pair × condition of the call."""
    values = frame.assign(**{value: pd.to_numeric(frame[value], errors="coerce")}).dropna(subset=[value])
    cells = values.groupby([condition, by, pair_on])[value].mean().sort_index()
    rows = []
    for a, b in pairs:
        for name in dict.fromkeys(values[condition]):
            try:
                gap = (cells.loc[name, a] - cells.loc[name, b]).dropna()
            except KeyError:
                continue
            rows += [{"pair": (a, b), "a": a, "b": b, condition: name, pair_on: seed, "gap": float(g)} for seed, g in gap.items()]
    columns = ["a", "b", condition, *COLUMNS]
    if not rows:
        return pd.DataFrame(columns=columns)
    long = pd.DataFrame(rows)
    shared = long.groupby(["pair", pair_on])[condition].transform("nunique") == long[condition].nunique()
    long = long[shared]
    if long.empty:
        return pd.DataFrame(columns=columns)
    long["key"] = long["pair"].map(str)
    table = compare_to_reference(long, condition, "gap", reference_condition, within="key", pair_on=pair_on,
                                 correction=correction, level=level)
    first = long.drop_duplicates("key").set_index("key")[["a", "b"]]
    table = table.join(first, on="key").drop(columns=["key"])
    return table[columns].reset_index(drop=True)
