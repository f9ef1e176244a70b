"""How sure a ranking is: a stratified bootstrap of the spread of each factor's level means
(`bootstrap_ranking`), and of the rank of each level among the levels of one factor
(`bootstrap_level_ranks`).

A factor's spread is best − worst of its level means: how much the choice of that factor moves the
metric. With three seeds per cell it is itself noisy, so the ranking carries, per factor, a
percentile interval of the spread and the share of bootstrap resamples in which that factor ranks
first.

Resampling is stratified by cell (a cell is one combination of levels: one variant of an
ablation, one combination of a full design): each resample draws, within every cell, as many runs
as it has, with replacement (the stratified bootstrap rliable uses for few runs — Agarwal et al.
2021). A run shared by several factors (the baseline of an ablation) is drawn once per resample
and enters every factor it belongs to, so the factors' spreads keep their correlation. scipy's
`bootstrap` resamples each sample independently too, but needs two or more runs per sample, which
a one-seed cell does not have; this is the same resampling, written for cells of any size.

With few seeds such a bootstrap under-covers, and "P(ranks first)" is not the probability a level
is best. In simulation (normal values, 2,000 data sets, 1,000 resamples each) a 95 % percentile
interval of a mean covers 73 % of the time at 3 runs a cell, 82 % at 5, 91 % at 10 and 93 % at
20; among three identical levels one shows P(first) ≥ 0.8 in 29 % of data sets at 3 runs and still
20 % at 20. So `p_first` is withheld (NaN) below `MIN_BOOTSTRAP_SEEDS` runs in the smallest cell,
and the report ranks levels from their corrected pairwise differences
(`stats.pooled.pooled_level_ranks`) instead.

The spread of noisy means is biased upward (a max minus a min), and a percentile interval does not
correct that: read the interval as the spread's uncertainty, not as a bias-corrected estimate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

RESAMPLES = 2000
#: runs in the smallest cell below which `p_first` is withheld (module docstring: where the
#: percentile bootstrap of a mean comes within 2.5 points of its nominal 95 % coverage)
MIN_BOOTSTRAP_SEEDS = 20


def bootstrap_ranking(long: pd.DataFrame, *, factor: str = "factor", level: str = "level", cell: str = "cell",
                      run: str = "run_id", value: str = "value", resamples: int = RESAMPLES, confidence: float = 0.95,
                      seed: int = 0, min_runs: int = MIN_BOOTSTRAP_SEEDS) -> pd.DataFrame:
    """Per factor with ≥ 2 levels: levels, the observed spread of level means, its percentile
    interval and `p_first`, the share of resamples in which its spread is the largest (NaN below
    `min_runs` runs in the smallest cell, by default `MIN_BOOTSTRAP_SEEDS`).

    `long` has one row per (factor, run that speaks to it): the factor, the run's level of it, its
    cell (the combination of all its levels), its id and its value. Ordered by observed spread."""
    columns = ["factor", "levels", "spread", "spread_ci_low", "spread_ci_high", "p_first"]
    runs = long.drop_duplicates(run)
    cells = {name: part[value].to_numpy(dtype=float) for name, part in runs.groupby(cell, sort=False)}
    names = list(cells)
    index = {name: i for i, name in enumerate(names)}
    rng = np.random.default_rng(seed)
    observed = np.array([[cells[c].mean() for c in names]])
    resampled = np.column_stack([rng.choice(cells[c], size=(resamples, len(cells[c]))).mean(axis=1) for c in names]) \
        if names else np.empty((resamples, 0))
    sizes = np.array([len(cells[c]) for c in names], dtype=float)
    factors, observed_spreads, spreads = [], [], []
    for name, part in long.groupby(factor, sort=False):
        levels = [sorted({index[c] for c in rows[cell]}) for _, rows in part.groupby(level, sort=False)]
        if len(levels) < 2:
            continue
        weights = np.zeros((len(names), len(levels)))
        for j, members in enumerate(levels):
            weights[members, j] = sizes[members] / sizes[members].sum()
        factors.append((name, len(levels)))
        observed_spreads.append(_spread(observed @ weights)[0])
        spreads.append(_spread(resampled @ weights))
    if not factors:
        return pd.DataFrame(columns=columns)
    spreads_ = np.column_stack(spreads)
    first = np.bincount(spreads_.argmax(axis=1), minlength=len(factors)) / resamples
    if sizes.min() < min_runs:
        first = np.full(len(factors), np.nan)
    tail = (1 - confidence) / 2
    low, high = np.quantile(spreads_, [tail, 1 - tail], axis=0)
    table = pd.DataFrame({"factor": [f for f, _ in factors], "levels": [n for _, n in factors], "spread": observed_spreads,
                          "spread_ci_low": low, "spread_ci_high": high, "p_first": first}, columns=columns)
    return table.sort_values("spread", ascending=False, ignore_index=True)


def _spread(level_means: np.ndarray) -> np.ndarray:
    return level_means.max(axis=1) - level_means.min(axis=1)


def bootstrap_level_ranks(frame: pd.DataFrame, *, level: str = "level", value: str = "value",
                          resamples: int = RESAMPLES, confidence: float = 0.95, seed: int = 0,
                          min_runs: int = MIN_BOOTSTRAP_SEEDS) -> pd.DataFrame:
    """Where each level ranks among the others, and how sure that is: per level its runs `n`, the
    rank of its mean (1 = highest; tied means share the better rank), a percentile interval of
    that rank and `p_first`, the share of resamples in which it ranks first (ties count for each;
    NaN below `min_runs` runs in the smallest level, by default `MIN_BOOTSTRAP_SEEDS`).

    The resampling is `bootstrap_ranking`'s: within each level, as many runs as it has, with
    replacement, levels independently (stratified; Agarwal et al. 2021). Runs of different levels
    on the same seed are not resampled together, which widens the rank intervals where seeds
    correlate positively: the intervals err on the side of less certainty. With 3 runs a level
    has only 10 distinct resampled means, so read the interval as coarse."""
    columns = ["level", "n", "mean", "rank", "rank_ci_low", "rank_ci_high", "p_first"]
    groups = {name: pd.to_numeric(part[value], errors="coerce").dropna().to_numpy(dtype=float)
              for name, part in frame.groupby(level, sort=False)}
    groups = {name: values for name, values in groups.items() if len(values)}
    if not groups:
        return pd.DataFrame(columns=columns)
    names = list(groups)
    rng = np.random.default_rng(seed)
    observed = np.array([groups[name].mean() for name in names])
    resampled = np.column_stack([rng.choice(groups[name], size=(resamples, len(groups[name]))).mean(axis=1)
                                 for name in names])
    ranks = rankdata(-resampled, method="min", axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(ranks, [tail, 1 - tail], axis=0, method="inverted_cdf")
    table = pd.DataFrame({"level": names, "n": [len(groups[name]) for name in names], "mean": observed,
                          "rank": rankdata(-observed, method="min").astype(int), "rank_ci_low": low.astype(int),
                          "rank_ci_high": high.astype(int),
                          "p_first": (ranks == 1).mean(axis=0) if min(map(len, groups.values())) >= min_runs
                          else np.nan}, columns=columns)
    return table.sort_values(["rank", "level"], ignore_index=True)
