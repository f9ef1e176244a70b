"""The interaction of two factors: a two-way ANOVA with seeds as blocks, and what it could detect.

`value ~ C(a) * C(b) + C(seed)` fitted by least squares (statsmodels `ols`) and tested with a
type-II ANOVA (`anova_lm(typ=2)`; Montgomery, "Design and Analysis of Experiments", ch. 5). Every
cell of the pair's full sub-design runs the same seeds, so a seed is a block: its luck is shared by
all cells and is taken out of the error instead of inflating it.

With few seeds the error has few degrees of freedom ((ab − 1)(s − 1): 5 for a 2×3 design with 2
seeds), and "not significant" mostly means "could not have told". So each test carries its
minimum detectable interaction: the root-mean-square interaction effect (over cells, in the
value's units) that the F test would detect with 80 % power at α. Its noncentrality is
λ = N·f², f = rms interaction / σ (Cohen 1988, ch. 8), σ estimated by the residual standard
deviation; power from statsmodels' `ftest_power`, solved for f.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from statsmodels.formula.api import ols
from statsmodels.stats.anova import anova_lm
from statsmodels.stats.power import ftest_power

from trickbench.stats.power import POWER, detectable_effect

INTERACTION = "C(first):C(second)"


def interaction_anova(frame: pd.DataFrame, first: str, second: str, value: str = "value", block: str | None = "seed",
                      alpha: float = 0.05, power: float = POWER) -> dict[str, Any]:
    """F, its degrees of freedom, p-value, the residual sd and `mde_rms` (the minimum detectable
    rms interaction) of the `first` × `second` interaction; NaN with a `note` saying why when the
    design cannot test it (an empty cell, a factor with one level, no error degrees of freedom)."""
    data = pd.DataFrame({"first": frame[first].astype(str), "second": frame[second].astype(str),
                         "y": pd.to_numeric(frame[value], errors="coerce")})
    blocked = bool(block and block in frame and frame[block].nunique() > 1)
    if blocked:
        data["block"] = frame[block].astype(str)
    data = data.dropna()
    levels_a, levels_b = data["first"].nunique(), data["second"].nunique()
    cells = data.groupby(["first", "second"]).size()
    if levels_a < 2 or levels_b < 2 or len(cells) < levels_a * levels_b:
        return _untested("needs every combination of two or more levels of each factor to have a finished run")
    fit = ols("y ~ C(first) * C(second)" + (" + C(block)" if blocked else ""), data).fit()
    if fit.df_resid < 1:
        return _untested("needs replicates: no degrees of freedom left for the error")
    if fit.ssr <= 1e-12 * max(1.0, float((data["y"] ** 2).sum())):
        return _untested("no variation left within cells and blocks: no error to test against")
    row = anova_lm(fit, typ=2).loc[INTERACTION]
    df_num, df_den, n = float(row["df"]), float(fit.df_resid), len(data)
    sigma = math.sqrt(fit.mse_resid)
    f = detectable_effect(lambda f: float(ftest_power(f, df_den, df_num, alpha, ncc=n - df_num - df_den)), power)
    return {"F": float(row["F"]), "df_interaction": df_num, "df_error": df_den, "p_value": float(row["PR(>F)"]),
            "blocks": block if blocked else "", "residual_sd": sigma, "mde_rms": f * sigma, "note": ""}


def _untested(note: str) -> dict[str, Any]:
    return {"F": math.nan, "df_interaction": math.nan, "df_error": math.nan, "p_value": math.nan, "blocks": "",
            "residual_sd": math.nan, "mde_rms": math.nan, "note": note}
