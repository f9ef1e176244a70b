"""The studies' comparisons of arms that share seeds: the report's statistics (scipy's paired t,
Holm across the figure's family), labelled and worded for the early-stopping and
checkpoint-averaging tables. The statistics themselves are tested against scipy and statsmodels
in tests/report/test_stats.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from trickbench.studies.comparisons import ACCURACY, NLL, contrast_table, family_note

#: two weights of the same three seeds: "x" is 9 points above "y" on every seed, "z" is noise around "y"
WEIGHTS = {"x": [10.0, 11.0, 12.0], "y": [1.0, 2.1, 2.9], "z": [3.0, 0.5, 3.5]}


def frame(values=WEIGHTS) -> pd.DataFrame:
    return pd.DataFrame([{"seed": seed, "weights": arm, "acc": v} for arm, column in values.items()
                         for seed, v in enumerate(column)])


def test_each_contrast_is_scipys_paired_t_labelled_a_minus_b_with_holm_over_the_table():
    table = contrast_table(frame(), "weights", "acc", [("x", "y"), ("z", "y")]).set_index("comparison")
    assert table.index.tolist() == ["x − y", "z − y"] and (table["family_size"] == 2).all()
    x, y, z = (np.array(WEIGHTS[arm]) for arm in "xyz")
    for name, (a, b) in {"x − y": (x, y), "z − y": (z, y)}.items():
        assert table.loc[name, "test"] == "paired t" and table.loc[name, "n"] == 3
        assert table.loc[name, "diff"] == pytest.approx((a - b).mean())
        assert table.loc[name, "p_value"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    p = sorted(table["p_value"])
    assert sorted(table["p_adjusted"]) == pytest.approx([2 * p[0], max(2 * p[0], p[1])])  # Holm, m = 2


def test_a_finding_names_its_test_interval_and_n_and_never_calls_noise_a_win():
    table = contrast_table(frame(), "weights", "acc", [("x", "y"), ("z", "y")]).set_index("comparison")
    clear, noise = table.loc["x − y"], table.loc["z − y"]
    assert clear["detectable"] and clear["finding"].startswith("x beats y by 9.0 points of test accuracy (11.0 vs 2.0 %; "
                                                               "3 seeds; paired t, 95 % CI")
    assert "Holm-corrected over 2 comparisons" in clear["finding"]
    assert noise["diff_ci_low"] < 0 < noise["diff_ci_high"] and not noise["detectable"]
    assert noise["finding"].startswith(f"z vs y: no detectable difference with 3 seeds (minimum detectable effect "
                                       f"{noise['mde']:.1f} points; observed +0.3")


def test_groups_share_one_family_and_may_be_worded_per_group():
    loss = frame({arm: [v / 10 for v in values] for arm, values in WEIGHTS.items()})
    both = pd.concat([frame().assign(metric="test_acc"), loss.assign(metric="test_loss")])
    table = contrast_table(both, "weights", "acc", [("x", "y")], within="metric",
                           quantity={"test_acc": ACCURACY, "test_loss": NLL})
    assert table[["metric", "comparison"]].values.tolist() == [["test_acc", "x − y"], ["test_loss", "x − y"]]
    assert (table["family_size"] == 2).all()
    assert table["finding"].iloc[1].startswith("x is worse than y by 0.90 nats of test NLL (1.10 vs 0.20 nats;")
    named = contrast_table(both, "weights", "acc", [("x", "y")], within="metric", name_group=True)
    assert named["finding"].iloc[0].startswith("test_acc: x beats y")


def test_the_figure_note_names_test_correction_family_and_levels():
    table = contrast_table(frame(), "weights", "acc", [("x", "y"), ("z", "y")])
    # x − y is rejected at Holm's first step (α/2), z − y is not and gets the stopping step's α/1
    assert table["ci_level"].tolist() == pytest.approx([1 - 0.05 / 2, 0.95])
    assert family_note(table) == "paired t, 95 % intervals Holm-corrected over 2 comparisons (each at 95.00–97.50 %)"
    assert family_note(table.iloc[:0]).startswith("no comparison")
