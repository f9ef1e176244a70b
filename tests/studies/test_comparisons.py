"""The studies' comparisons of arms that share seeds: one OLS over the compared cells with seeds as
blocks (Holm across the figure's family), the per-comparison test where the arms ran other seeds,
labelled and worded for the early-stopping and checkpoint-averaging tables. Every expectation is
fitted here with statsmodels and scipy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.multitest import multipletests

from trickbench.studies.comparisons import ACCURACY, NLL, contrast_table, family_note

#: three weights of the same three seeds: "x" is 9 points above "y" on every seed, "z" is noise around "y"
WEIGHTS = {"x": [10.0, 11.0, 12.0], "y": [1.0, 2.1, 2.9], "z": [3.0, 0.5, 3.5]}
POOLED = "pooled t (3 cells × 3 seeds OLS, df=4)"


def frame(values=WEIGHTS) -> pd.DataFrame:
    return pd.DataFrame([{"seed": seed, "weights": arm, "acc": v} for arm, column in values.items()
                         for seed, v in enumerate(column)])


def ols_contrast(data: pd.DataFrame, a: str, b: str):
    """mean(a) − mean(b) as a contrast of `acc ~ C(weights) + C(seed)`, fitted here."""
    fit = smf.ols("acc ~ C(weights) + C(seed)", data).fit()
    names = list(fit.params.index)
    vector = np.zeros(len(names))
    for arm, sign in ((a, 1), (b, -1)):
        if f"C(weights)[T.{arm}]" in names:
            vector[names.index(f"C(weights)[T.{arm}]")] += sign
    return fit, fit.t_test(vector)


def test_each_contrast_is_a_contrast_of_one_ols_over_cells_and_seeds_with_holm_over_the_table():
    table = contrast_table(frame(), "weights", "acc", [("x", "y"), ("z", "y")]).set_index("comparison")
    assert table.index.tolist() == ["x − y", "z − y"] and (table["family_size"] == 2).all()
    p = {}
    for name, (a, b) in {"x − y": ("x", "y"), "z − y": ("z", "y")}.items():
        fit, t = ols_contrast(frame(), a, b)
        assert fit.df_resid == 4
        assert table.loc[name, "test"] == POOLED and table.loc[name, "n"] == 3
        assert "seeds are blocks" in table.loc[name, "why"]
        assert table.loc[name, "diff"] == pytest.approx(float(np.squeeze(t.effect)))
        assert table.loc[name, "p_value"] == pytest.approx(float(np.squeeze(t.pvalue)))
        half = stats.t.ppf(1 - (1 - table.loc[name, "ci_level"]) / 2, 4) * float(np.squeeze(t.sd))
        assert table.loc[name, "diff_ci_high"] - table.loc[name, "diff"] == pytest.approx(half)
        p[name] = float(np.squeeze(t.pvalue))
    holm = multipletests(list(p.values()), method="holm")[1]
    assert table.loc[list(p), "p_adjusted"].tolist() == pytest.approx(list(holm))


def test_arms_that_ran_other_seeds_fall_back_to_the_per_comparison_test_and_say_why():
    data = frame()
    data.loc[data["weights"] == "z", "seed"] += 10
    table = contrast_table(data, "weights", "acc", [("x", "y"), ("z", "y")]).set_index("comparison")
    assert (table["why"] == "the cells ran different seeds").all()
    x, y, z = (np.array(WEIGHTS[arm]) for arm in "xyz")
    assert table.loc["x − y", "test"] == "paired t"
    assert table.loc["x − y", "p_value"] == pytest.approx(stats.ttest_rel(x, y).pvalue)
    assert table.loc["z − y", "test"] == "Welch t"
    assert table.loc["z − y", "p_value"] == pytest.approx(stats.ttest_ind(z, y, equal_var=False).pvalue)


def test_a_finding_names_its_test_interval_and_n_and_never_calls_noise_a_win():
    table = contrast_table(frame(), "weights", "acc", [("x", "y"), ("z", "y")]).set_index("comparison")
    clear, noise = table.loc["x − y"], table.loc["z − y"]
    assert clear["detectable"] and clear["finding"].startswith("x beats y by 9.0 points of test accuracy (11.0 vs 2.0 %; "
                                                               f"3 seeds; {POOLED}, 95 % CI")
    assert "Holm-corrected over 2 comparisons" in clear["finding"]
    assert noise["diff_ci_low"] < 0 < noise["diff_ci_high"] and not noise["detectable"]
    assert noise["finding"].startswith(f"z vs y: no detectable difference with 3 seeds (minimum detectable effect "
                                       f"{noise['mde']:.1f} points; observed +0.3")


def test_groups_in_different_units_get_one_model_each_and_bonferroni_across_them():
    loss = frame({arm: [v / 10 for v in values] for arm, values in WEIGHTS.items()})
    both = pd.concat([frame().assign(metric="test_acc"), loss.assign(metric="test_loss")])
    table = contrast_table(both, "weights", "acc", [("x", "y"), ("z", "y")], within="metric",
                           quantity={"test_acc": ACCURACY, "test_loss": NLL})
    assert table[["metric", "comparison"]].values.tolist() == [["test_acc", "x − y"], ["test_acc", "z − y"],
                                                              ["test_loss", "x − y"], ["test_loss", "z − y"]]
    assert (table["family_size"] == 2).all() and (table["test"] == POOLED).all()
    for metric, data in (("test_acc", frame()), ("test_loss", loss)):
        rows = table[table["metric"] == metric].set_index("comparison")
        p = [float(np.squeeze(ols_contrast(data, a, "y")[1].pvalue)) for a in "xz"]
        assert rows["p_value"].tolist() == pytest.approx(p)
        # Holm within the metric at α/2: Holm's steps at 0.025/2 and 0.025/1
        assert rows["p_adjusted"].tolist() == pytest.approx(list(multipletests(p, method="holm")[1]))
        assert rows["ci_level"].min() >= 1 - 0.025
    assert table["finding"].iloc[2].startswith("x is worse than y by 0.90 nats of test NLL (1.10 vs 0.20 nats;")
    assert "Bonferroni-corrected across the 2" in family_note(table, within="metric")


def test_groups_in_one_unit_share_one_model_and_one_family():
    both = pd.concat([frame().assign(level="a"), frame({k: [v + 1 for v in vs] for k, vs in WEIGHTS.items()}).assign(level="b")])
    table = contrast_table(both, "weights", "acc", [("x", "y")], within="level", name_group=True)
    assert (table["family_size"] == 2).all() and (table["test"] == "pooled t (4 cells × 3 seeds OLS, df=6)").all()
    assert table["finding"].iloc[0].startswith("a: x beats y")
    data = both.assign(cell=both["level"] + both["weights"])
    fit = smf.ols("acc ~ C(cell, Treatment('ay')) + C(seed)", data[data["weights"].isin(["x", "y"])]).fit()
    assert fit.df_resid == 6
    names = list(fit.params.index)
    ax_minus_ay = np.eye(len(names))[names.index("C(cell, Treatment('ay'))[T.ax]")]
    assert table["p_value"].iloc[0] == pytest.approx(float(np.squeeze(fit.t_test(ax_minus_ay).pvalue)))


def test_the_figure_note_names_test_correction_family_and_levels():
    table = contrast_table(frame(), "weights", "acc", [("x", "y"), ("z", "y")])
    # x − y is rejected at Holm's first step (α/2), z − y is not and gets the stopping step's α/1
    assert table["ci_level"].tolist() == pytest.approx([1 - 0.05 / 2, 0.95])
    assert family_note(table) == f"{POOLED}, 95 % intervals Holm-corrected over 2 comparisons (each at 95.00–97.50 %)"
    assert family_note(table.iloc[:0]).startswith("no comparison")
