"""Descriptive uncertainty of repeated runs: a mean with its Student-t confidence interval.

These intervals describe one level on its own (how precisely its mean is known); they are not
comparisons. Whether two levels differ is `compare.compare_to_reference`'s job, with a test, a
correction for the family of comparisons and a power statement."""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np
import pandas as pd
from scipy import stats


def finite(values: Iterable[float]) -> np.ndarray:
    """The finite numbers of `values` as a float array (None, NaN and ±inf dropped)."""
    return np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)


def mean_ci(values: Iterable[float], level: float = 0.95) -> tuple[float, float]:
    """(mean, half-width of the `level` CI of the mean, Student t). Half-width is NaN for n < 2,
    because one seed says nothing about seed-to-seed noise."""
    x = finite(values)
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

