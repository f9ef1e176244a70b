"""Comparisons from one linear model over every compared cell, seeds as blocks — where the design allows it.

Why. A grid whose cells all ran the same seeds is a randomized complete block design (cells ×
seeds). A separate paired t per comparison estimates its noise from its own seeds − 1 degrees of
freedom (2 with 3 seeds; under Holm over 12 comparisons the t quantile alone is then about 15).
One model over all cells, statsmodels OLS `value ~ C(cell) + C(seed)`, estimates one residual
variance with (cells − 1)(seeds − 1) degrees of freedom (24 for 13 cells × 3 seeds), and every
comparison is a contrast of that fit: its estimate, standard error and p-value come from
`fit.t_test`, the p-values are Holm-corrected together (`compare.interval_alphas`, so every
interval excludes 0 exactly when the correction rejects), and its power, minimum detectable
effect and seeds needed come from the noncentral t at the same residual df and standard error —
so the interval, the decision and the power statement can never contradict each other.

The rule, applied to each call (one family):

1. Levels that failed (`stats.failures`) are the caller's to drop before the call; non-finite
   values are dropped here. A cell with fewer than two values has no test and stays out of the fit.
2. Seeds as blocks where every compared cell ran the same seeds, once each.
3. Where the reference cell(s) alone ran extra seeds (`design.reference_seeds`, Dunnett's
   allocation) and the other cells share one set of seeds, seed blocks would fit each extra run
   exactly and ignore it; so the model is one-way, `value ~ C(cell)` over every run, and the extra
   reference runs inform the reference mean and the residual variance.
4. Anything else (cells that ran different seeds, a cell that ran one seed twice with different
   values, no residual degrees of freedom, no residual variance): the per-comparison test of
   `compare.compare_to_reference` / `compare_contrasts`, and `why` says which case.
5. The model assumes one residual variance. It is checked on the fit's residuals, grouped by
   cell, with the Brown–Forsythe test (`scipy.stats.levene(center="median")`); where p < 0.05
   (`EQUAL_VARIANCE_ALPHA`) the family falls back to the per-comparison test, and `why` gives p.

Every row says which test it used (`test`, e.g. "pooled t (13 cells × 3 seeds OLS, df=24)" or
"paired t") and why (`why`), with the columns of `compare_to_reference` — so a caller switches by
changing the function name:

    pooled_compare_to_reference(frame, "level", "value", reference, within="factor", cell="variant")
    pooled_compare_contrasts(frame, "level", "value", [("a", "b"), ...], cell="level")

A caller that corrects over a family of its own (the claims' scorecard, one claim a test, each on
its own quantity) takes one difference at a time: `pooled_difference(runs)` over every cell of the
design (the two arms marked, the other cells informing the residual variance) returns a
`CellContrast` — the interface of `compare.TwoArmTest`: interval at any α, minimum detectable
effect, seeds needed, and a one-sided p against a stated size, all at the model's df and
standard error — or None and why, and the caller uses its two-arm test.

`cell` names the column that identifies a cell (one combination of levels): needed where one run
appears in several groups of `within` (an ablation's baseline is the reference of every factor;
a full design's run speaks to every factor). Without it each (group, level) is its own cell.
An arm that spans several cells (a main effect in a full design) is the run-weighted mean of its
cells' means, a linear contrast of the same fit. `seeds_needed` is the number of seeds per cell
at which the same design (the same cells, the reference's extra seeds scaled with them) reaches
80 % power at the observed difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Hashable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.formula.api import ols

from trickbench.stats.compare import COLUMNS, compare_contrasts, compare_to_reference, interval_alphas
from trickbench.stats.power import POWER, detectable_effect, smallest_n, t_test_power

#: Brown–Forsythe p below which the cells' residual variances count as different (no pooling)
EQUAL_VARIANCE_ALPHA = 0.05
POOLED = "pooled t"
#: the columns of the pooled calls: `compare_to_reference`'s, then why that test
POOLED_COLUMNS = [*COLUMNS, "why"]


@dataclass(frozen=True)
class CellModel:
    """The fitted model of one family, or why there is none (`fit` None, `why` says)."""

    fit: Any  # statsmodels RegressionResults, or None
    cells: list[Hashable]  # cell keys, in the order of their codes c0, c1, ...
    blocked: bool
    seeds: int  # seeds of each non-reference cell
    counts: dict[Hashable, int]  # runs per cell in the fit
    equal_variance_p: float
    why: str

    @property
    def df(self) -> float:
        return float(self.fit.df_resid) if self.fit is not None else math.nan

    @property
    def test(self) -> str:
        if self.fit is None:
            return ""
        layout = f"{len(self.cells)} cells × {self.seeds} seeds OLS" if self.blocked else \
            f"{len(self.cells)} cells OLS, no seed blocks"
        return f"{POOLED} ({layout}, df={self.df:g})"

    def df_at(self, seeds: int) -> float:
        """Residual df of the same design with `seeds` per cell (the reference's share scaled)."""
        if self.blocked:
            return (len(self.cells) - 1) * (seeds - 1)
        runs = sum(count * seeds / self.seeds for count in self.counts.values())
        return runs - len(self.cells)


def fit_cells(data: pd.DataFrame, reference_cells: set[Hashable], *, alpha: float = EQUAL_VARIANCE_ALPHA) -> CellModel:
    """The model of rule 2–5 (module docstring) on `data` with columns cell, seed, value (one row per
    run; rows repeated in several groups already dropped)."""
    cells = list(dict.fromkeys(data["cell"]))
    seeds = {cell: frozenset(part["seed"]) for cell, part in data.groupby("cell", sort=False)}
    counts = {cell: len(part) for cell, part in data.groupby("cell", sort=False)}
    if len(cells) < 2:
        return _none(cells, "fewer than two cells with two or more runs")
    if data.duplicated(["cell", "seed"]).any():
        return _none(cells, "a cell ran one seed more than once, so seeds are not blocks")
    others = {seeds[c] for c in cells if c not in reference_cells}
    shared = next(iter(others)) if len(others) == 1 else None
    if len(set(seeds.values())) == 1:
        blocked, layout = True, "every cell ran the same seeds, so seeds are blocks"
    elif shared is not None and all(seeds[c] >= shared for c in cells if c in reference_cells):
        blocked, layout = False, ("the reference ran extra seeds the other cells did not, which seed blocks would "
                                  "ignore, so the cells are not blocked")
    else:
        return _none(cells, "the cells ran different seeds")
    codes = {cell: f"c{i}" for i, cell in enumerate(cells)}
    frame = pd.DataFrame({"y": data["value"].to_numpy(dtype=float), "cell": data["cell"].map(codes).to_numpy(),
                          "seed": data["seed"].astype(str).to_numpy()})
    fit = ols("y ~ C(cell) + C(seed)" if blocked else "y ~ C(cell)", frame).fit()
    if fit.df_resid < 1:
        return _none(cells, "no residual degrees of freedom")
    if fit.ssr <= 1e-12 * max(1.0, float((frame["y"] ** 2).sum())):
        return _none(cells, "no residual variance")
    residuals = [fit.resid[frame["cell"] == code].to_numpy() for code in codes.values()]
    p = float(stats.levene(*[r for r in residuals if len(r) >= 2], center="median").pvalue)
    n_seeds = len(shared) if not blocked else len(next(iter(seeds.values())))
    if math.isfinite(p) and p < alpha:
        return CellModel(None, cells, blocked, n_seeds, counts, p,
                         f"Brown–Forsythe p={p:.3g} < {alpha:g} on the residuals: the cells' variances differ, so each "
                         "comparison uses its own")
    checked = f"Brown–Forsythe p={p:.2g} ≥ {alpha:g}" if math.isfinite(p) else "Brown–Forsythe not defined"
    return CellModel(fit, cells, blocked, n_seeds, counts, p, f"one residual variance ({checked}); {layout}")


def pooled_compare_to_reference(frame: pd.DataFrame, by: str, value: str, reference: Any, *, within: str | None = None,
                                cell: str | None = None, pair_on: str = "seed", correction: str = "holm",
                                level: float = 0.95, power: float = POWER) -> pd.DataFrame:
    """`compare.compare_to_reference` from the pooled model where the design allows it (module
    docstring), else that function's test; the same columns plus `why`."""
    arms, labels = [], [*([within] if within else []), by]
    needed = frame[list(dict.fromkeys(c for c in (within, by, cell, pair_on, value) if c and c in frame))]
    for group, part in _groups(needed, within):  # the arms' rows carry only what `_cells_of` reads
        base = reference.get(group) if isinstance(reference, Mapping) else reference
        rows = dict(list(part.groupby(by, sort=False)))  # one pass, not a filter per level (1,000 variants)
        for level_ in dict.fromkeys(part[by]):
            if level_ != base:
                arms.append(({**({within: group} if within else {}), by: level_}, rows.get(level_, part.iloc[:0]),
                             rows.get(base, part.iloc[:0])))
    fallback = lambda why: compare_to_reference(frame, by, value, reference, within=within, pair_on=pair_on,  # noqa: E731
                                                correction=correction, level=level, power=power).assign(why=why)
    return _pooled_family(frame, arms, labels, by, value, within, cell, pair_on, correction, level, power, fallback)


def pooled_compare_contrasts(frame: pd.DataFrame, by: str, value: str, contrasts: Sequence[tuple[Any, Any]], *,
                             within: str | None = None, cell: str | None = None, pair_on: str = "seed",
                             correction: str = "holm", level: float = 0.95, power: float = POWER,
                             every_cell: bool = False) -> pd.DataFrame:
    """`compare.compare_contrasts` from the pooled model where the design allows it; the same
    columns plus `why`. The model is over the cells of every contrast's arms — or, `every_cell`,
    over every cell of `frame` (a few chosen pairs of many levels that share seeds: the others
    inform the residual variance)."""
    arms, labels = [], [*([within] if within else []), by, "reference"]
    for group, part in _groups(frame, within):
        for level_, base in contrasts:
            arms.append(({**({within: group} if within else {}), by: level_, "reference": base},
                         part[part[by] == level_], part[part[by] == base]))
    fallback = lambda why: compare_contrasts(frame, by, value, contrasts, within=within, pair_on=pair_on,  # noqa: E731
                                             correction=correction, level=level, power=power).assign(why=why)
    return _pooled_family(frame, arms, labels, by, value, within, cell, pair_on, correction, level, power, fallback,
                          every_cell)


def _groups(frame: pd.DataFrame, within: str | None) -> list[tuple[Any, pd.DataFrame]]:
    return list(frame.groupby(within, sort=False)) if within else [(None, frame)]


def _pooled_family(frame, arms, labels, by, value, within, cell, pair_on, correction, level, power, fallback,
                   every_cell: bool = False) -> pd.DataFrame:
    """The rows of one family from the model of its cells (the arms', or `every_cell` of the
    frame's), or the fallback's with why."""
    if not arms:
        return pd.DataFrame(columns=[*labels, *POOLED_COLUMNS])
    if pair_on not in frame:
        return fallback(f"no {pair_on} column, so seeds cannot be blocks")
    cells: dict[int, pd.DataFrame] = {}  # an arm's cells by its rows' identity: a shared reference arm once

    def cells_of(rows: pd.DataFrame) -> pd.DataFrame:
        if id(rows) not in cells:
            cells[id(rows)] = _cells_of(rows, value, within, by, cell, pair_on)
        return cells[id(rows)]

    keyed = [(named, cells_of(rows), cells_of(base)) for named, rows, base in arms]
    usable = lambda part: part["cell"].duplicated(keep=False) & part["cell"].notna()  # noqa: E731  (2+ runs)
    parts = list({id(part): part for _, a, b in keyed for part in (a, b)}.values())
    if every_cell:
        parts.append(_cells_of(frame, value, within, by, cell, pair_on))
    runs = pd.concat([part[usable(part)] for part in parts], ignore_index=True)
    runs = runs.drop_duplicates(["cell", "seed", "value"])
    reference_cells = {c for _, _, base in keyed for c in base["cell"]}
    model = fit_cells(runs, reference_cells) if len(runs) else _none([], "no runs")
    if model.fit is None:
        return fallback(model.why)
    rows, tests = [], []
    for named, mine, base in keyed:
        described = _described(mine, base)
        test = cell_contrast(model, mine, base)
        tests.append(test)
        if test is None:
            rows.append({**named, **described, "test": "", "why": "fewer than two runs on a side"})
            continue
        rows.append({**named, **described, "diff": test.diff, "test": model.test, "df": model.df, "why": model.why})
    adjusted, alphas = interval_alphas([t.p_value if t else math.nan for t in tests], correction, 1 - level)
    family = int(np.isfinite(adjusted).sum())
    for row, test, p_adjusted, alpha_i in zip(rows, tests, adjusted, alphas):
        row.update(correction=correction, family_size=family)
        if test is None:
            continue
        low, high = test.interval(alpha_i)
        row.update(p_value=test.p_value, p_adjusted=p_adjusted, ci_level=1 - alpha_i, diff_ci_low=low,
                   diff_ci_high=high, detectable=bool(low > 0 or high < 0),
                   mde=test.minimum_detectable_effect(alpha_i, power), seeds_needed=test.seeds_needed(alpha_i, power))
    return pd.DataFrame(rows).reindex(columns=[*labels, *POOLED_COLUMNS])


@dataclass(frozen=True)
class CellContrast:
    """One contrast of a fitted model: the mean of one arm of cells − the other's (each arm the
    run-weighted mean of its cells' means), with what a caller that corrects over a family of its
    own (the claims' scorecard) needs — `compare.TwoArmTest`'s interface: the interval at any α,
    the minimum detectable effect and the seeds needed from the noncentral t at the model's
    residual df and this standard error, and the one-sided p against any boundary."""

    model: CellModel
    contrast: np.ndarray  # weights over the fit's parameters
    n: int  # runs of the first arm in the fit
    n_reference: int
    diff: float
    se: float
    p_value: float

    @property
    def test(self) -> str:
        return self.model.test

    @property
    def df(self) -> float:
        return self.model.df

    @property
    def why(self) -> str:
        return self.model.why

    def interval(self, alpha: float) -> tuple[float, float]:
        """The two-sided 1 − alpha t interval of the difference at the residual df."""
        if not math.isfinite(alpha):
            return math.nan, math.nan
        half = float(stats.t.ppf(1 - alpha / 2, self.df)) * self.se
        return self.diff - half, self.diff + half

    def minimum_detectable_effect(self, alpha: float, power: float = POWER) -> float:
        if not math.isfinite(alpha):
            return math.nan
        return detectable_effect(lambda d: t_test_power(d, self.df, alpha), power) * self.se

    def seeds_needed(self, alpha: float, power: float = POWER, boundary: float = 0.0) -> float:
        """Seeds per cell at which the same design tells the difference from `boundary` (0: from
        no difference; a stated size: the test of that null) with probability `power`."""
        if not math.isfinite(alpha):
            return math.nan
        return _seeds_needed(self.model, self.diff - boundary, self.se, alpha, power)

    def p_above(self, boundary: float) -> float:
        """One-sided p of the null "the difference is at most `boundary`" (`fit.t_test` of the
        contrast against the boundary, its t read on the upper tail at the residual df)."""
        t = float(np.squeeze(self.model.fit.t_test((self.contrast, boundary)).tvalue))
        return float(stats.t.sf(t, self.df))


def cell_contrast(model: CellModel, mine: pd.DataFrame, base: pd.DataFrame) -> CellContrast | None:
    """mean(`mine`) − mean(`base`) from the fitted `model`; each arm's rows (cell, seed) name its
    cells and weigh them by their runs. None when an arm has no cell in the fit."""
    codes = {c: i for i, c in enumerate(model.cells)}
    weights = _weights(mine, codes), _weights(base, codes)
    if weights[0] is None or weights[1] is None:
        return None
    names = list(model.fit.params.index)
    contrast = np.zeros(len(names))
    for code, w in enumerate(weights[0] - weights[1]):
        if code and w:
            contrast[names.index(f"C(cell)[T.c{code}]")] = w
    result = model.fit.t_test(contrast)
    runs = lambda arm: int(len(arm[arm["cell"].isin(list(codes))].drop_duplicates(["cell", "seed"])))  # noqa: E731
    return CellContrast(model, contrast, runs(mine), runs(base), float(np.squeeze(result.effect)),
                        float(np.squeeze(result.sd)), float(np.squeeze(result.pvalue)))


def pooled_difference(runs: pd.DataFrame, reference_cells: set[Hashable] = frozenset(),
                      *, alpha: float = EQUAL_VARIANCE_ALPHA) -> tuple[CellContrast | None, str]:
    """One difference, higher − lower, from the model of every cell in `runs` (columns cell,
    seed, value, arm: "higher", "lower", or "" for a cell that only informs the residual variance),
    for a caller that corrects it in a family of its own; or None and why the model does not apply
    (rules 1–5 of the module docstring; also where the two arms are the only two cells, whose
    model would be the two-arm paired t)."""
    runs = runs[np.isfinite(pd.to_numeric(runs["value"], errors="coerce").to_numpy(dtype=float))]
    runs = runs[runs.groupby("cell")["value"].transform("size") >= 2]
    if runs["cell"].nunique() <= 2:
        return None, "no cell but the two arms' has the quantity on these seeds: nothing to pool beyond the two arms"
    model = fit_cells(runs[["cell", "seed", "value"]].reset_index(drop=True), reference_cells, alpha=alpha)
    if model.fit is None:
        return None, model.why
    found = cell_contrast(model, runs[runs["arm"] == "higher"], runs[runs["arm"] == "lower"])
    return (found, model.why) if found is not None else (None, "fewer than two runs on a side")


def _cells_of(rows: pd.DataFrame, value: str, within: str | None, by: str, cell: str | None, pair_on: str) -> pd.DataFrame:
    """An arm's finite runs as (cell, seed, value)."""
    values = pd.to_numeric(rows[value], errors="coerce")
    keys = rows[cell] if cell else [(g, l) if within else l for g, l in
                                    zip(rows[within] if within else [None] * len(rows), rows[by])]
    part = pd.DataFrame({"cell": list(keys), "seed": rows[pair_on].to_numpy(), "value": values.to_numpy()})
    return part[np.isfinite(part["value"].to_numpy(dtype=float))]


def _weights(arm: pd.DataFrame, codes: Mapping[Hashable, int]) -> np.ndarray | None:
    """The arm's mean as a run-weighted mean of its cells' means: weight per cell code (None when
    the arm has no cell in the fit)."""
    counts = arm[arm["cell"].isin(list(codes))].drop_duplicates(["cell", "seed"])["cell"].value_counts()
    if counts.empty:
        return None
    weights = np.zeros(len(codes))
    for cell, count in counts.items():
        weights[codes[cell]] = count / counts.sum()
    return weights


def _described(mine: pd.DataFrame, base: pd.DataFrame) -> dict[str, float]:
    a, b = mine["value"].to_numpy(dtype=float), base["value"].to_numpy(dtype=float)
    return {"n": len(a), "n_reference": len(b), "mean": a.mean() if len(a) else math.nan,
            "reference_mean": b.mean() if len(b) else math.nan, "sd": a.std(ddof=1) if len(a) > 1 else math.nan,
            "reference_sd": b.std(ddof=1) if len(b) > 1 else math.nan,
            "diff": (a.mean() - b.mean()) if len(a) and len(b) else math.nan}


def _seeds_needed(model: CellModel, diff: float, se: float, alpha: float, power: float) -> float:
    """Seeds per cell at which the same design tells `diff` from 0 with probability `power`: the
    contrast's standard error scales as √(seeds now / seeds), the df as the design's."""
    if diff == 0:
        return math.inf
    return smallest_n(lambda n: t_test_power(diff / (se * math.sqrt(model.seeds / n)), model.df_at(n), alpha)
                      if model.df_at(n) >= 1 else 0.0, power)


def _none(cells: list[Hashable], why: str) -> CellModel:
    return CellModel(None, cells, False, 0, {}, math.nan, why)


def pooled_level_ranks(frame: pd.DataFrame, *, level: str = "level", value: str = "value", pair_on: str = "seed",
                       correction: str = "holm", confidence: float = 0.95) -> pd.DataFrame:
    """Where each level ranks, from the comparisons rather than a bootstrap over few seeds: per
    level its runs `n`, mean, `rank` of the mean (1 = highest; ties share the better rank) and a
    rank interval from every pairwise difference, one family (`pooled_compare_contrasts`): the
    best rank it may hold is 1 + the levels detectably above it, the worst the levels not
    detectably below it. A bootstrap over 3 seeds under-covers (a 95 % interval covers about 84 %
    of the time); these intervals inherit the corrected tests' coverage."""
    columns = ["level", "n", "mean", "rank", "rank_ci_low", "rank_ci_high", "test", "why"]
    values = frame.assign(**{value: pd.to_numeric(frame[value], errors="coerce")}).dropna(subset=[value])
    names = list(dict.fromkeys(values[level]))
    if not names:
        return pd.DataFrame(columns=columns)
    means = values.groupby(level, sort=False)[value].agg(["size", "mean"])
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    tests = pooled_compare_contrasts(values, level, value, pairs, pair_on=pair_on, correction=correction,
                                     level=confidence) if pairs else pd.DataFrame(columns=[level, "reference", "detectable", "diff"])
    above = {name: 0 for name in names}
    below = {name: 0 for name in names}
    for row in tests.to_dict("records"):
        if row["detectable"] is True or row["detectable"] == True:  # noqa: E712 (NaN: no test)
            higher, lower = (row[level], row["reference"]) if row["diff"] > 0 else (row["reference"], row[level])
            above[lower] += 1
            below[higher] += 1
    ranks = stats.rankdata(-means["mean"].to_numpy(), method="min").astype(int)
    test = " or ".join(sorted(set(tests["test"].dropna()) - {""})) if len(tests) else ""
    why = tests["why"].dropna().iloc[0] if len(tests) and tests["why"].notna().any() else ""
    table = pd.DataFrame({"level": names, "n": means["size"].to_numpy(), "mean": means["mean"].to_numpy(), "rank": ranks,
                          "rank_ci_low": [1 + above[name] for name in names],
                          "rank_ci_high": [len(names) - below[name] for name in names], "test": test, "why": why},
                         columns=columns)
    return table.sort_values(["rank", "level"], ignore_index=True)
